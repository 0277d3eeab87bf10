package httpauth

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/testutil/syncbuf"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
)

// fakeBackend is a real HTTP server that counts requests and records the
// last decoded body and headers before calling its handler.
type fakeBackend struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	body   map[string]any
	header http.Header
}

type handler func(w http.ResponseWriter, r *http.Request, body map[string]any)

func newFakeBackend(t testing.TB, h handler) *fakeBackend {
	t.Helper()
	f := &fakeBackend{}
	f.srv = httptest.NewServer(f.wrap(t, h))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBackend) wrap(t testing.TB, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("backend: request body: %v", err)
		}
		f.mu.Lock()
		f.body, f.header = body, r.Header.Clone()
		f.mu.Unlock()
		h(w, r, body)
	})
}

func (f *fakeBackend) last() (map[string]any, http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.body, f.header
}

func answer(v any) handler {
	return func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// raw answers status and body as given.
func raw(status int, body string) handler {
	return func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// blockUntilCanceled never answers: it returns when the client gives up
// or the test ends.
func blockUntilCanceled(t *testing.T) handler {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	return func(_ http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
}

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer is a buffer safe for concurrent writers, with helpers for
// these tests.
type logBuffer struct{ syncbuf.Buffer }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newBackend(t *testing.T, o Options) *Backend {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func userReq(user, pass string) *auth.Request {
	return &auth.Request{
		Listener: "tcp", Remote: netip.MustParseAddrPort("192.0.2.7:40000"), Version: packet.V5,
		ClientID: "c1", Username: user, HasUsername: true, Password: []byte(pass), HasPassword: true,
	}
}

func authenticate(t *testing.T, b *Backend, r *auth.Request) auth.Result {
	t.Helper()
	res, err := b.Authenticate(t.Context(), r)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return res
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
