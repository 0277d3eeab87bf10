package tlsconf_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/tlsconf"
)

// handshake is the server side of one connection.
type handshake struct {
	state tls.ConnectionState
	err   error
}

// testServer accepts TLS over loopback TCP with the source's config,
// reports each server-side handshake and then echoes.
type testServer struct {
	addr    string
	results chan handshake
}

func serve(t testing.TB, cfg *tls.Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &testServer{addr: ln.Addr().String(), results: make(chan handshake, 16)}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after ln.Close and after the clients close
	t.Cleanup(func() { ln.Close() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv.handle(tls.Server(nc, cfg))
			}()
		}
	}()
	return srv
}

func (s *testServer) handle(tc *tls.Conn) {
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	err := tc.Handshake()
	s.results <- handshake{state: tc.ConnectionState(), err: err}
	if err == nil {
		_, _ = io.Copy(tc, tc)
	}
}

// connect runs a client handshake and one echo round trip (which is where
// a TLS 1.3 client learns that the server refused its certificate). It
// returns the connection, the server's view and the client's error.
func (s *testServer) connect(t testing.TB, cfg *tls.Config) (*tls.Conn, handshake, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(nc, cfg)
	t.Cleanup(func() { tc.Close() })
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	cerr := tc.Handshake()
	if cerr == nil {
		cerr = roundTrip(tc)
	}
	if cerr != nil {
		tc.Close()
	}
	select {
	case h := <-s.results:
		return tc, h, cerr
	case <-time.After(10 * time.Second):
		t.Fatal("no server-side handshake result")
		return nil, handshake{}, nil
	}
}

func roundTrip(c *tls.Conn) error {
	msg := []byte("ping")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// fixture is a server CA, a client CA and a default server certificate
// for "localhost" written to a temporary directory.
type fixture struct {
	dir      string
	serverCA *testCA
	clientCA *testCA
	server   *issued
	cfg      config.TLS
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), serverCA: newCA(t, "server CA"), clientCA: newCA(t, "client CA")}
	f.server = f.serverCA.issue(t, leafOpts{cn: "default", dns: []string{"localhost", "default.example.com"}})
	f.cfg.Cert = writeFile(t, f.dir, "server.pem", f.server.certPEM)
	f.cfg.Key = writeFile(t, f.dir, "server.key", f.server.keyPEM)
	return f
}

// withClientAuth sets client_auth to mode with the client CA bundle.
func (f *fixture) withClientAuth(t testing.TB, mode, identity string) {
	t.Helper()
	f.cfg.ClientAuth = mode
	f.cfg.Identity = identity
	f.cfg.ClientCA = writeFile(t, f.dir, "clients-ca.pem", f.clientCA.certPEM())
}

// client is a client config trusting the server CA.
func (f *fixture) client() *tls.Config {
	return &tls.Config{RootCAs: pool(f.serverCA), ServerName: "localhost"}
}

// clientWith is client() presenting c whatever CAs the server names (Go
// would otherwise send no certificate to a server that does not name its
// issuer).
func (f *fixture) clientWith(c *issued) *tls.Config {
	cfg := f.client()
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &c.tls, nil
	}
	return cfg
}

// start builds the source (logging to log, or nowhere when nil) and a
// server using it.
func (f *fixture) start(t testing.TB, log *slog.Logger) (*tlsconf.Source, *testServer) {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	src, err := tlsconf.New(f.cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return src, serve(t, src.Config())
}

// certKey writes c to dir as name.pem and name.key.
func certKey(t testing.TB, dir, name string, c *issued) config.CertKey {
	t.Helper()
	return config.CertKey{
		Cert: writeFile(t, dir, name+".pem", c.certPEM),
		Key:  writeFile(t, dir, name+".key", c.keyPEM),
	}
}
