package wsconn_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/moatmq/moat/internal/testutil"
	"github.com/moatmq/moat/internal/wsconn"
)

// serveFunc is the callback shape Handler and NewServer take.
type serveFunc = func(net.Conn, netip.AddrPort)

// start runs a Server on 127.0.0.1:0 and returns its ws:// base URL. The
// server is closed, and Serve's return awaited, when the test ends.
func start(t *testing.T, o wsconn.Options, serve serveFunc) (string, *wsconn.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := wsconn.NewServer(o, serve)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "ws://" + ln.Addr().String(), s
}

// dial connects with the given subprotocols and extra headers.
func dial(t *testing.T, url string, subprotocols []string, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: subprotocols, HTTPHeader: h})
}

// mustDial dials url+"/mqtt" offering "mqtt" and fails the test on error.
func mustDial(t *testing.T, base string) *websocket.Conn {
	t.Helper()
	c, _, err := dial(t, base+"/mqtt", []string{"mqtt"}, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readPacket reads one MQTT control packet (fixed header, variable-length
// remaining length, body) from a byte stream.
func readPacket(r *bufio.Reader) ([]byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	pkt := []byte{first}
	n, mul := 0, 1
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		pkt = append(pkt, b)
		n += int(b&0x7f) * mul
		mul <<= 7
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return nil, errors.New("malformed remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(pkt, body...), nil
}

// packetEcho writes back every MQTT packet it reads, each as one Write.
func packetEcho(nc net.Conn, _ netip.AddrPort) {
	r := bufio.NewReader(nc)
	for {
		p, err := readPacket(r)
		if err != nil {
			return
		}
		if _, err := nc.Write(p); err != nil {
			return
		}
	}
}

var (
	publish = []byte{0x30, 0x0b, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'l', 'l', 'o', '!'}
	pingreq = []byte{0xc0, 0x00}
	connect = []byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00}
)

// [MQTT-6.0.0-2] A packet may span messages and a message may hold several
// packets: the server reads a byte stream.
func TestStreamAcrossMessages(t *testing.T) {
	base, _ := start(t, wsconn.Options{}, packetEcho)
	c := mustDial(t, base)
	ctx := ctxT(t)

	// One packet split over two messages.
	if err := c.Write(ctx, websocket.MessageBinary, publish[:5]); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageBinary, publish[5:]); err != nil {
		t.Fatal(err)
	}
	// Two packets in one message.
	if err := c.Write(ctx, websocket.MessageBinary, append(append([]byte{}, connect...), pingreq...)); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{publish, connect, pingreq} {
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if typ != websocket.MessageBinary { // [MQTT-6.0.0-1]
			t.Errorf("read %d: type %v, want binary", i, typ)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("read %d: % x, want % x", i, got, want)
		}
	}
}

func TestWrongPath404(t *testing.T) {
	served := make(chan struct{}, 1)
	base, _ := start(t, wsconn.Options{Path: "/mqtt"}, func(net.Conn, netip.AddrPort) { served <- struct{}{} })
	for _, p := range []string{"/", "/other", "/mqtt/", "/MQTT"} {
		_, resp, err := dial(t, base+p, []string{"mqtt"}, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: err %v, resp %v; want 404", p, err, resp)
		}
	}
	select {
	case <-served:
		t.Error("serve called for a wrong path")
	default:
	}
}

// [MQTT-6.0.0-3] Without the "mqtt" subprotocol the upgrade is refused
// with 400 and serve is never called.
func TestNoSubprotocolRefused(t *testing.T) {
	served := make(chan struct{}, 1)
	base, _ := start(t, wsconn.Options{}, func(net.Conn, netip.AddrPort) { served <- struct{}{} })
	for _, protos := range [][]string{nil, {"chat"}, {"mqtt5", "mqttv3"}} {
		_, resp, err := dial(t, base+"/mqtt", protos, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: err %v, resp %v; want 400", protos, err, resp)
		}
	}
	select {
	case <-served:
		t.Error("serve called without the mqtt subprotocol")
	default:
	}
}

func TestSubprotocolNegotiated(t *testing.T) {
	base, _ := start(t, wsconn.Options{}, packetEcho)
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{[]string{"mqtt"}, "mqtt"},
		{[]string{"mqttv3.1"}, "mqttv3.1"},
		{[]string{"mqttv3.1", "mqtt"}, "mqtt"}, // "mqtt" preferred whatever the order
		{[]string{"chat", "mqtt"}, "mqtt"},
	} {
		c, resp, err := dial(t, base+"/mqtt", tc.offer, nil)
		if err != nil {
			t.Errorf("%q: %v", tc.offer, err)
			continue
		}
		if got := c.Subprotocol(); got != tc.want {
			t.Errorf("%q: negotiated %q, want %q", tc.offer, got, tc.want)
		}
		if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
			t.Errorf("%q: extensions %q negotiated", tc.offer, ext)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
}

func TestCompressionNeverNegotiated(t *testing.T) {
	base, _ := start(t, wsconn.Options{}, packetEcho)
	ctx := ctxT(t)
	c, resp, err := websocket.Dial(ctx, base+"/mqtt", &websocket.DialOptions{
		Subprotocols:    []string{"mqtt"},
		CompressionMode: websocket.CompressionContextTakeover,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Errorf("extensions %q negotiated", ext)
	}
}

func TestOriginPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		origins []string // Origin header values sent; nil: none
		ok      bool
	}{
		{"none sent, empty policy", nil, nil, true},
		{"sent, empty policy", nil, []string{"http://127.0.0.1"}, false},
		{"same origin, empty policy", nil, []string{"same"}, false},
		{"star", []string{"*"}, []string{"https://anything.example"}, true},
		{"star, null", []string{"*"}, []string{"null"}, true},
		{"exact origin", []string{"https://app.example.com"}, []string{"https://app.example.com"}, true},
		{"exact origin, case", []string{"https://App.Example.com/"}, []string{"HTTPS://APP.EXAMPLE.COM"}, true},
		{"exact origin, other scheme", []string{"https://app.example.com"}, []string{"http://app.example.com"}, false},
		{"exact origin, other port", []string{"https://app.example.com"}, []string{"https://app.example.com:8443"}, false},
		{"exact origin, subdomain", []string{"https://example.com"}, []string{"https://evil.example.com"}, false},
		{"exact origin, suffix", []string{"https://example.com"}, []string{"https://example.com.evil.net"}, false},
		{"exact origin, none sent", []string{"https://app.example.com"}, nil, true},
		{"host entry, any scheme", []string{"app.example.com"}, []string{"http://app.example.com"}, true},
		{"host entry, other port", []string{"app.example.com"}, []string{"https://app.example.com:8443"}, false},
		{"host entry with port", []string{"app.example.com:8443"}, []string{"https://app.example.com:8443"}, true},
		{"null refused", []string{"https://app.example.com"}, []string{"null"}, false},
		{"garbage refused", []string{"app.example.com"}, []string{"app.example.com"}, false},
		{"wildcard pattern is not a pattern", []string{"*.example.com"}, []string{"https://a.example.com"}, false},
		{"two Origin headers", []string{"https://a.example", "https://b.example"}, []string{"https://a.example", "https://b.example"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, _ := start(t, wsconn.Options{AllowedOrigins: tc.allowed}, packetEcho)
			h := http.Header{}
			for _, o := range tc.origins {
				if o == "same" {
					o = "http" + strings.TrimPrefix(base, "ws")
				}
				h.Add("Origin", o)
			}
			c, resp, err := dial(t, base+"/mqtt", []string{"mqtt"}, h)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				c.CloseNow()
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("err %v, resp %v; want 403", err, resp)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := wsconn.Options{Path: "/mqtt", AllowedOrigins: []string{"*", "https://a.example", "b.example:8080", "http://[::1]:9001"}}
	if err := good.Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
	bad := wsconn.Options{
		Path:             "mqtt",
		AllowedOrigins:   []string{"*.example.com", "https://a.example/path", "", "https://"},
		MaxMessageSize:   -1,
		HandshakeTimeout: -time.Second,
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"path:", "allowed_origins[0]", "allowed_origins[1]", "allowed_origins[2]", "allowed_origins[3]", "max_message_size", "handshake_timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// A message over MaxMessageSize closes the connection with 1009; one of
// exactly MaxMessageSize passes.
func TestMessageTooBig(t *testing.T) {
	const limit = 1024
	got := make(chan []byte, 1)
	serveErr := make(chan error, 1)
	base, _ := start(t, wsconn.Options{MaxMessageSize: limit}, func(nc net.Conn, _ netip.AddrPort) {
		buf := make([]byte, limit)
		if _, err := io.ReadFull(nc, buf); err != nil {
			serveErr <- err
			return
		}
		got <- buf
		_, err := io.Copy(io.Discard, nc)
		serveErr <- err
	})
	c := mustDial(t, base)
	ctx := ctxT(t)
	if err := c.Write(ctx, websocket.MessageBinary, bytes.Repeat([]byte{1}, limit)); err != nil {
		t.Fatal(err)
	}
	if b := <-got; len(b) != limit {
		t.Fatalf("read %d bytes", len(b))
	}
	if err := c.Write(ctx, websocket.MessageBinary, bytes.Repeat([]byte{2}, limit+1)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusMessageTooBig {
		t.Errorf("client read: %v (status %v), want 1009", err, code)
	}
	if err := <-serveErr; err == nil {
		t.Error("server read ended without error")
	}
}

// [MQTT-6.0.0-1] A text message closes the connection (1003).
func TestTextMessageCloses(t *testing.T) {
	serveErr := make(chan error, 1)
	base, _ := start(t, wsconn.Options{}, func(nc net.Conn, _ netip.AddrPort) {
		_, err := io.Copy(io.Discard, nc)
		serveErr <- err
	})
	c := mustDial(t, base)
	ctx := ctxT(t)
	if err := c.Write(ctx, websocket.MessageText, pingreq); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusUnsupportedData {
		t.Errorf("client read: %v (status %v), want 1003", err, code)
	}
	if err := <-serveErr; err == nil {
		t.Error("server read of a text message succeeded")
	}
}

// Closing the conn handed to serve sends a 1000 close frame; the peer's
// close reads as io.EOF on the server side.
func TestCloseIsNormal(t *testing.T) {
	base, _ := start(t, wsconn.Options{}, func(nc net.Conn, _ netip.AddrPort) {
		if err := nc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	c := mustDial(t, base)
	_, _, err := c.Read(ctxT(t))
	if code := websocket.CloseStatus(err); code != websocket.StatusNormalClosure {
		t.Errorf("client read: %v, want close 1000", err)
	}

	eof := make(chan error, 1)
	base, _ = start(t, wsconn.Options{}, func(nc net.Conn, _ netip.AddrPort) {
		_, err := nc.Read(make([]byte, 1))
		eof <- err
	})
	c = mustDial(t, base)
	c.Close(websocket.StatusNormalClosure, "")
	if err := <-eof; err != io.EOF {
		t.Errorf("server read after client close: %v, want io.EOF", err)
	}
}

// A TCP client that never sends its upgrade request is dropped after the
// handshake timeout; so is one that stops halfway through its headers.
func TestHandshakeTimeout(t *testing.T) {
	base, _ := start(t, wsconn.Options{HandshakeTimeout: 200 * time.Millisecond}, packetEcho)
	addr := strings.TrimPrefix(base, "ws://")
	for _, sent := range []string{"", "GET /mqtt HTTP/1.1\r\nHost: x\r\n"} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if _, err := io.WriteString(nc, sent); err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		began := time.Now()
		_, err = io.Copy(io.Discard, nc)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("sent %q: not closed by the server", sent)
		}
		if d := time.Since(began); d > 2*time.Second {
			t.Errorf("sent %q: closed after %v", sent, d)
		}
	}
}

func TestRemoteAddress(t *testing.T) {
	remotes := make(chan netip.AddrPort, 1)
	base, _ := start(t, wsconn.Options{}, func(nc net.Conn, remote netip.AddrPort) {
		remotes <- remote
		io.Copy(io.Discard, nc)
	})
	local := make(chan net.Addr, 1)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			local <- nc.LocalAddr()
		}
		return nc, err
	}}
	c, _, err := websocket.Dial(ctxT(t), base+"/mqtt", &websocket.DialOptions{
		Subprotocols: []string{"mqtt"},
		HTTPClient:   &http.Client{Transport: tr},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	want := (<-local).(*net.TCPAddr).AddrPort()
	if got := <-remotes; got != want {
		t.Errorf("remote %v, want %v", got, want)
	}
}

// Handler clears the deadlines an embedding http.Server left on the
// hijacked connection: the WebSocket outlives ReadTimeout and WriteTimeout.
func TestHandlerOutlivesServerTimeouts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler:           wsconn.Handler(wsconn.Options{}, packetEcho),
		ReadHeaderTimeout: 100 * time.Millisecond,
		ReadTimeout:       100 * time.Millisecond,
		WriteTimeout:      100 * time.Millisecond,
	}
	go hs.Serve(ln)
	defer hs.Close()
	c := mustDial(t, "ws://"+ln.Addr().String())
	time.Sleep(300 * time.Millisecond) // past every server timeout
	ctx := ctxT(t)
	if err := c.Write(ctx, websocket.MessageBinary, pingreq); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, pingreq) {
		t.Fatalf("echo after the server timeouts: % x, %v", got, err)
	}
}

// Close drops upgraded connections (which http.Server forgets) and serve
// returns; no goroutine is left behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := countGoroutines()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	returned := make(chan struct{}, 8)
	s := wsconn.NewServer(wsconn.Options{}, func(nc net.Conn, r netip.AddrPort) {
		packetEcho(nc, r)
		returned <- struct{}{}
	})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	base := "ws://" + ln.Addr().String()

	ctx := ctxT(t)
	// One closed by the client, three left open for Close to end.
	var open []*websocket.Conn
	for i := range 4 {
		c, _, err := dial(t, base+"/mqtt", []string{"mqtt"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageBinary, pingreq); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			c.Close(websocket.StatusNormalClosure, "")
			<-returned
			continue
		}
		open = append(open, c)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range open {
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			t.Fatal("serve still running after Close")
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	for _, c := range open {
		if _, _, err := c.Read(ctx); err == nil {
			t.Error("client still connected after Close")
		}
		c.CloseNow()
	}
	testutil.Eventually(t, 5*time.Second, "goroutines left behind", func() bool {
		return countGoroutines() <= before
	})
}

// Shutdown waits for serve to return; when its context ends first it drops
// the rest.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	served := make(chan struct{}, 2)
	base, s := start(t, wsconn.Options{}, func(nc net.Conn, _ netip.AddrPort) {
		served <- struct{}{}
		select {
		case <-release: // a polite broker disconnects its client
		case <-readErr(nc):
		}
	})
	mustDial(t, base)
	<-served

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a busy connection: %v, want deadline exceeded", err)
	}
	if _, _, err := dial(t, base+"/mqtt", []string{"mqtt"}, nil); err == nil {
		t.Error("dial after Shutdown succeeded")
	}
	close(release)
}

func TestShutdownWaits(t *testing.T) {
	release := make(chan struct{})
	served := make(chan struct{}, 1)
	base, s := start(t, wsconn.Options{}, func(nc net.Conn, _ netip.AddrPort) {
		served <- struct{}{}
		<-release
	})
	mustDial(t, base)
	<-served
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	if err := s.Shutdown(ctxT(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-release:
	default:
		t.Fatal("Shutdown returned before serve did")
	}
}

// readErr reports when a read on nc fails.
func readErr(nc net.Conn) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		io.Copy(io.Discard, nc)
		close(ch)
	}()
	return ch
}

func countGoroutines() int { return runtime.NumGoroutine() }

// Over TLS, TLSState exposes the connection state to serve.
func TestTLSState(t *testing.T) {
	states := make(chan *tls.ConnectionState, 1)
	srv := httptest.NewUnstartedServer(wsconn.Handler(wsconn.Options{}, func(nc net.Conn, _ netip.AddrPort) {
		states <- wsconn.TLSState(nc)
	}))
	srv.StartTLS()
	defer srv.Close()
	c, _, err := websocket.Dial(ctxT(t), "wss"+strings.TrimPrefix(srv.URL, "https")+"/mqtt", &websocket.DialOptions{
		Subprotocols: []string{"mqtt"},
		HTTPClient:   srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if st := <-states; st == nil || !st.HandshakeComplete {
		t.Errorf("TLS state %v", st)
	}
	if wsconn.TLSState(&net.TCPConn{}) != nil {
		t.Error("TLS state for a foreign conn")
	}
}

// Close does not wait on a peer that never answers the close frame for
// longer than the grace period; a serve that returns without closing
// leaves a closed connection.
func TestCloseBounded(t *testing.T) {
	took := make(chan time.Duration, 1)
	base, _ := start(t, wsconn.Options{}, func(nc net.Conn, _ netip.AddrPort) {
		began := time.Now()
		nc.Close()
		took <- time.Since(began)
	})
	mustDial(t, base) // never reads, so never answers the close frame
	if d := <-took; d > 4*time.Second {
		t.Errorf("Close took %v", d)
	}

	base, _ = start(t, wsconn.Options{}, func(net.Conn, netip.AddrPort) {})
	c := mustDial(t, base)
	if _, _, err := c.Read(ctxT(t)); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after serve returned: %v, want close 1000", err)
	}
}

// The broker's pattern: one goroutine reads while another closes. Against
// a client that answers the close frame, Close is prompt and the read
// ends with an error.
func TestCloseWhileReading(t *testing.T) {
	result := make(chan time.Duration, 1)
	base, _ := start(t, wsconn.Options{}, func(nc net.Conn, _ netip.AddrPort) {
		ended := readErr(nc)
		time.Sleep(20 * time.Millisecond) // let the read block
		began := time.Now()
		nc.Close()
		<-ended
		result <- time.Since(began)
	})
	c := mustDial(t, base)
	_, _, err := c.Read(ctxT(t)) // answers the close frame
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("client read: %v, want close 1000", err)
	}
	if d := <-result; d > time.Second {
		t.Errorf("Close with a concurrent read took %v", d)
	}
}
