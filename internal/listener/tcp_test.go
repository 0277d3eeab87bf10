package listener_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/listener"
)

const waitLimit = 5 * time.Second

// call is one invocation of Admit or Handle.
type call struct {
	listener string
	remote   netip.AddrPort
}

func (c call) String() string { return c.listener + "<-" + c.remote.String() }

// recorder collects Admit and Handle invocations.
type recorder struct {
	mu      sync.Mutex
	admits  []call
	handles []call
}

func (r *recorder) admitted() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.admits...)
}

func (r *recorder) handled() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.handles...)
}

// start binds l on 127.0.0.1:0, runs Serve, and returns a channel closed
// when Serve returns. The listener is closed when the test ends.
func start(t *testing.T, l *listener.TCP) <-chan struct{} {
	t.Helper()
	l.Address = "127.0.0.1:0"
	if l.Log == nil {
		l.Log = slog.New(slog.DiscardHandler)
	}
	if err := l.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		l.Serve()
	}()
	t.Cleanup(func() {
		l.Close()
		<-served
		l.Wait()
	})
	return served
}

func dial(t *testing.T, l *listener.TCP) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", l.Addr().String(), waitLimit)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func localAddrPort(t *testing.T, c net.Conn) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// stop closes l and waits for Serve to return and every handler to end.
func stop(t *testing.T, l *listener.TCP, served <-chan struct{}) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-served:
	case <-time.After(waitLimit):
		t.Fatal("Serve did not return after Close")
	}
	l.Wait()
}

func TestTCPAddr(t *testing.T) {
	l := &listener.TCP{Name: "n"}
	if a := l.Addr(); a != nil {
		t.Errorf("Addr before Listen = %v, want nil", a)
	}
	start(t, l)
	a, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("Addr = %T %v, want *net.TCPAddr", l.Addr(), l.Addr())
	}
	if !a.IP.IsLoopback() || a.Port == 0 {
		t.Errorf("Addr = %v, want 127.0.0.1 with the port picked", a)
	}
}

func TestTCPListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct{ name, addr string }{
		{"port in use", busy.Addr().String()},
		{"malformed address", "127.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &listener.TCP{Name: "n", Address: tc.addr}
			if err := l.Listen(); err == nil {
				l.Close()
				t.Fatalf("Listen(%q) succeeded", tc.addr)
			}
			if l.Addr() != nil {
				t.Errorf("Addr after a failed Listen = %v", l.Addr())
			}
		})
	}
}

func TestTCPHandleAndAdmit(t *testing.T) {
	tests := []struct {
		name string
		// admit answers Admit's nth call (0-based); nil leaves Admit unset.
		admit         func(n int) bool
		admittedFirst bool // whether the first of two connections passes
	}{
		{name: "nil Admit admits everything", admittedFirst: true},
		{name: "Admit true", admit: func(int) bool { return true }, admittedFirst: true},
		{name: "Admit false closes at once", admit: func(n int) bool { return n > 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			l := &listener.TCP{Name: "edge-1"}
			l.Handle = func(a listener.Accepted) {
				nc := a.Conn
				defer nc.Close()
				rec.mu.Lock()
				rec.handles = append(rec.handles, call{a.Listener, a.Remote})
				rec.mu.Unlock()
				// Prove nc is the accepted connection: echo a byte.
				var b [1]byte
				if _, err := io.ReadFull(nc, b[:]); err == nil {
					nc.Write(b[:])
				}
			}
			if tc.admit != nil {
				l.Admit = func(name string, remote netip.AddrPort) bool {
					rec.mu.Lock()
					defer rec.mu.Unlock()
					n := len(rec.admits)
					rec.admits = append(rec.admits, call{name, remote})
					return tc.admit(n)
				}
			}
			served := start(t, l)

			// Serve accepts one connection at a time, so the first dialled
			// is the first Admit sees.
			c1 := dial(t, l)
			if tc.admittedFirst {
				echo(t, c1)
			} else {
				c1.SetReadDeadline(time.Now().Add(waitLimit))
				var b [1]byte
				if n, err := c1.Read(b[:]); !errors.Is(err, io.EOF) {
					t.Fatalf("refused connection read = %d, %v; want EOF", n, err)
				}
			}
			// A second connection is admitted and handled.
			c2 := dial(t, l)
			echo(t, c2)

			// After Close, Serve's return and Wait, every Handle call
			// has happened: none can still be on its way.
			stop(t, l, served)

			want1 := call{"edge-1", localAddrPort(t, c1)}
			want2 := call{"edge-1", localAddrPort(t, c2)}
			wantHandles := []call{want2}
			if tc.admittedFirst {
				wantHandles = []call{want1, want2}
			}
			if got := rec.handled(); !sameCalls(got, wantHandles) {
				t.Errorf("Handle calls = %v, want %v", got, wantHandles)
			}
			if tc.admit != nil {
				if got := rec.admitted(); !slices.Equal(got, []call{want1, want2}) {
					t.Errorf("Admit calls = %v, want %v", got, []call{want1, want2})
				}
			}
		})
	}
}

// echo writes one byte and expects the handler to send it back.
func echo(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := c.Write([]byte{0x5a}); err != nil {
		t.Fatalf("write: %v", err)
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 0x5a {
		t.Fatalf("echo read = %x, %v; want 5a", b, err)
	}
}

// sameCalls compares regardless of order: handlers run concurrently.
func sameCalls(got, want []call) bool {
	if len(got) != len(want) {
		return false
	}
	left := append([]call(nil), want...)
	for _, g := range got {
		found := false
		for i, w := range left {
			if g == w {
				left = append(left[:i], left[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestTCPCloseStopsServe(t *testing.T) {
	tests := []struct {
		name  string
		conns int // connections handled before Close
	}{
		{"idle listener", 0},
		{"after serving connections", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &listener.TCP{Name: "n", Handle: func(a listener.Accepted) {
				nc := a.Conn
				defer nc.Close()
				var b [1]byte
				if _, err := io.ReadFull(nc, b[:]); err == nil {
					nc.Write(b[:])
				}
			}}
			served := start(t, l)
			for range tc.conns {
				echo(t, dial(t, l))
			}
			addr := l.Addr().String()
			stop(t, l, served)
			// Nothing accepts on the address any more.
			if c, err := net.DialTimeout("tcp", addr, waitLimit); err == nil {
				c.Close()
				t.Errorf("dial %s succeeded after Close", addr)
			}
		})
	}
}

func TestTCPCloseBeforeListen(t *testing.T) {
	l := &listener.TCP{Name: "n"}
	if err := l.Close(); err != nil {
		t.Errorf("Close before Listen = %v, want nil", err)
	}
}

func TestTCPWaitWaitsForHandlers(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	var mu sync.Mutex
	finished := 0
	l := &listener.TCP{Name: "n", Handle: func(a listener.Accepted) {
		nc := a.Conn
		defer nc.Close()
		entered <- struct{}{}
		<-release
		mu.Lock()
		finished++
		mu.Unlock()
	}}
	served := start(t, l)
	dial(t, l)
	dial(t, l)
	for range 2 {
		select {
		case <-entered:
		case <-time.After(waitLimit):
			t.Fatal("handler not called")
		}
	}
	// Close stops accepting but does not end established connections.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	<-served
	waited := make(chan struct{})
	go func() {
		l.Wait()
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("Wait returned while handlers were still running")
	default:
	}
	close(release)
	select {
	case <-waited:
	case <-time.After(waitLimit):
		t.Fatal("Wait did not return after the handlers ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if finished != 2 {
		t.Errorf("Wait returned with %d of 2 handlers finished", finished)
	}
}

// Release runs once for every admitted connection when it is over: after
// Handle returns, after a failed TLS handshake, and when an HTTP
// (WebSocket) connection is closed; never for a refused one.
func TestTCPReleaseOncePerAdmitted(t *testing.T) {
	released := make(chan netip.AddrPort, 8)
	admit := func(_ string, r netip.AddrPort) bool { return r.Addr() == netip.MustParseAddr("127.0.0.1") }
	release := func(_ string, r netip.AddrPort) { released <- r }
	wait := func(what string) {
		t.Helper()
		select {
		case <-released:
		case <-time.After(waitLimit):
			t.Fatalf("%s: no release", what)
		}
	}
	none := func(what string) {
		t.Helper()
		select {
		case r := <-released:
			t.Fatalf("%s: unexpected release of %v", what, r)
		case <-time.After(100 * time.Millisecond): // a release would come at once
		}
	}
	dialFrom := func(t *testing.T, src, addr string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: waitLimit}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("plain", func(t *testing.T) {
		handled := make(chan struct{})
		l := &listener.TCP{Admit: admit, Release: release, Handle: func(a listener.Accepted) {
			io.Copy(io.Discard, a.Conn) // until the client closes
			a.Conn.Close()
			close(handled)
		}}
		start(t, l)
		c := dialFrom(t, "127.0.0.1", l.Addr().String())
		none("while the connection is open")
		c.Close()
		<-handled
		wait("after Handle returned")
		r := dialFrom(t, "127.0.0.2", l.Addr().String())
		defer r.Close()
		none("refused connection")
	})
	t.Run("tls handshake fails", func(t *testing.T) {
		l := &listener.TCP{Admit: admit, Release: release, TLS: &tls.Config{}, HandshakeTimeout: time.Second,
			Handle: func(listener.Accepted) { t.Error("handled a failed handshake") }}
		start(t, l)
		c := dialFrom(t, "127.0.0.1", l.Addr().String())
		c.Write([]byte("not a TLS client hello\r\n\r\n"))
		wait("after the handshake failed")
		c.Close()
	})
	t.Run("http", func(t *testing.T) {
		l := &listener.TCP{Admit: admit, Release: release,
			HTTP: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })}
		start(t, l)
		c := dialFrom(t, "127.0.0.1", l.Addr().String())
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
		io.Copy(io.Discard, c) // the server closes after its answer
		wait("after the HTTP server closed the connection")
		c.Close()
		none("a second release")
	})
}
