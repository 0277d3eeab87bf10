package admin_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/admin"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/broker"
)

// fakeRetained is a broker's retained store reduced to what the API asks.
type fakeRetained struct{ topics map[string]string } // topic -> owner

func (f *fakeRetained) Retained(filter string, limit int) ([]broker.RetainedInfo, int) {
	var out []broker.RetainedInfo
	for t, by := range f.topics {
		if strings.HasPrefix(t, strings.TrimSuffix(filter, "#")) {
			out = append(out, broker.RetainedInfo{Topic: t, SetBy: by})
		}
	}
	total := len(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, total
}

func (f *fakeRetained) PurgeRetained(filter string) (int, error) {
	n := 0
	for t := range f.topics {
		if strings.HasPrefix(t, strings.TrimSuffix(filter, "#")) {
			delete(f.topics, t)
			n++
		}
	}
	return n, nil
}

type sink struct{ events chan audit.Event }

func (s sink) Record(e audit.Event) { s.events <- e }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func listen(t *testing.T, b admin.Broker, rec audit.Sink) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.sock")
	s, err := admin.Listen(path, admin.NewHandler(b, rec, quiet()), quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return path
}

// The socket is 0600; requests are answered, bad ones refused with a
// reason; purges are audited with who made them.
func TestSocketAPI(t *testing.T) {
	b := &fakeRetained{topics: map[string]string{"a/1": "alice", "a/2": "bob", "b/1": "bob"}}
	rec := sink{events: make(chan audit.Event, 4)}
	path := listen(t, b, rec)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	c := admin.NewClient(path)
	ctx := t.Context()
	list, err := c.Retained(ctx, "a/#", 1)
	if err != nil || list.Total != 2 || len(list.Messages) != 1 {
		t.Fatalf("list: %+v, %v", list, err)
	}
	n, err := c.PurgeRetained(ctx, "a/#")
	if err != nil || n != 2 || len(b.topics) != 1 {
		t.Fatalf("purge: %d, %v; left %v", n, err, b.topics)
	}
	ev := <-rec.events
	if ev.Kind != "admin.action" || !strings.Contains(ev.Detail, `"a/#": 2 deleted`) ||
		!strings.HasPrefix(ev.Identity, fmt.Sprintf("local uid %d pid ", os.Getuid())) {
		t.Errorf("audit event: %+v", ev)
	}
	for _, tc := range []struct{ filter, want string }{
		{"", `missing "filter"`},
		{"a/#/b", `filter "a/#/b"`},
		{"$share/g/a/#", "shared-subscription"},
	} {
		if _, err := c.Retained(ctx, tc.filter, 10); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("filter %q: %v, want %q", tc.filter, err, tc.want)
		}
	}
	if _, err := c.Retained(ctx, "#", admin.MaxListed+1); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("limit too high: %v", err)
	}
	// Unknown paths and methods.
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	for _, req := range []struct{ method, path string }{{"GET", "/v1/nothing"}, {"POST", "/v1/retained?filter=a"}} {
		r, _ := http.NewRequestWithContext(ctx, req.method, "http://moat"+req.path, nil)
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 4 {
			t.Errorf("%s %s: %s, want 4xx", req.method, req.path, resp.Status)
		}
	}
}

// A second broker on the same socket is refused; a stale socket file is
// replaced.
func TestSocketConflicts(t *testing.T) {
	path := listen(t, &fakeRetained{}, nil)
	if _, err := admin.Listen(path, http.NotFoundHandler(), quiet()); err == nil || !strings.Contains(err.Error(), "another broker") {
		t.Fatalf("second listener: %v", err)
	}
	stale := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s, err := admin.Listen(stale, http.NotFoundHandler(), quiet())
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	_ = s.Close(context.Background())
	if _, err := admin.Listen(filepath.Join(t.TempDir(), strings.Repeat("x", 120)), http.NotFoundHandler(), quiet()); err == nil {
		t.Fatal("a path too long for a socket was accepted")
	}
}

// childEnv makes the test binary act as a client of the socket it names.
const childEnv = "MOAT_ADMIN_TEST_CLIENT"

// TestSocketRefusesOtherUsers: even with the socket file opened to
// everyone, a process of another user is cut off before its request is
// read (SO_PEERCRED). The other user is a child process of this test
// running as nobody, which needs root.
func TestSocketRefusesOtherUsers(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		_, err := admin.NewClient(path).Retained(context.Background(), "#", 1)
		fmt.Println("child result:", err)
		return
	}
	if os.Getuid() != 0 {
		t.Skip("running a client as another user needs root")
	}
	b := &fakeRetained{topics: map[string]string{"a": "alice"}}
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	s, err := admin.Listen(path, admin.NewHandler(b, nil, quiet()), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a directory only root may enter: run a
	// copy that nobody can execute.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "client.test")
	if err := os.WriteFile(exe, body, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestSocketRefusesOtherUsers$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "child result: ") || strings.Contains(string(out), "child result: <nil>") {
		t.Fatalf("a client of another user was answered:\n%s", out)
	}
}
