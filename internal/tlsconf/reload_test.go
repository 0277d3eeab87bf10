package tlsconf_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/testutil"
	"github.com/moatmq/moat/internal/tlsconf"
)

// serverSerial connects and returns the serial of the server certificate.
func serverSerial(t testing.TB, srv *testServer, f *fixture) *big.Int {
	t.Helper()
	conn, h, err := srv.connect(t, f.client())
	if err != nil || h.err != nil {
		t.Fatalf("client error %v, server error %v", err, h.err)
	}
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestReloadSwapsCertificate(t *testing.T) {
	f := newFixture(t)
	src, srv := f.start(t, nil)

	old, _, err := srv.connect(t, f.client())
	if err != nil {
		t.Fatal(err)
	}

	next := f.serverCA.issue(t, leafOpts{cn: "next", dns: []string{"localhost"}})
	replaceFile(t, f.cfg.Key, next.keyPEM)
	replaceFile(t, f.cfg.Cert, next.certPEM)
	if err := src.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}

	if got := serverSerial(t, srv, f); got.Cmp(next.cert.SerialNumber) != 0 {
		t.Errorf("after reload the server presents serial %v, want %v", got, next.cert.SerialNumber)
	}
	if err := roundTrip(old); err != nil {
		t.Errorf("the connection established before the reload broke: %v", err)
	}
	if got := old.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(f.server.cert.SerialNumber) != 0 {
		t.Errorf("established connection's certificate changed to %v", got)
	}
}

func TestReloadFailureKeepsOld(t *testing.T) {
	f := newFixture(t)
	src, srv := f.start(t, nil)

	if err := os.WriteFile(f.cfg.Cert, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := src.Reload()
	if err == nil {
		t.Fatal("Reload of a corrupt certificate succeeded")
	}
	if !strings.Contains(err.Error(), f.cfg.Cert) {
		t.Errorf("error %q does not name the file", err)
	}
	if got := serverSerial(t, srv, f); got.Cmp(f.server.cert.SerialNumber) != 0 {
		t.Errorf("after a failed reload the server presents serial %v, want the old %v", got, f.server.cert.SerialNumber)
	}
}

func TestReloadSwapsCRL(t *testing.T) {
	f := newFixture(t)
	f.withClientAuth(t, "required", "cn")
	c := f.clientCA.issue(t, leafOpts{cn: "c", client: true})
	f.cfg.CRLs = []string{writeFile(t, f.dir, "clients.crl", crlPEM(f.clientCA.crlDER(t)))}
	src, srv := f.start(t, nil)
	// The client keeps a session: a revocation must hold on resumption.
	cfg := f.clientWith(c)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	if _, h, _ := srv.connect(t, cfg); h.err != nil {
		t.Fatalf("refused before revocation: %v", h.err)
	}

	replaceFile(t, f.cfg.CRLs[0], crlPEM(f.clientCA.crlDER(t, c.cert.SerialNumber)))
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	_, h, _ := srv.connect(t, cfg)
	if h.err == nil || !strings.Contains(h.err.Error(), "revoked") {
		t.Fatalf("after the CRL reload: server error %v, want revoked", h.err)
	}
	if !h.state.DidResume {
		t.Error("the refused handshake was not a resumption; the test no longer covers that path")
	}
}

func TestWatch(t *testing.T) {
	f := newFixture(t)
	var logs logBuffer
	src, srv := f.start(t, slog.New(slog.NewTextHandler(&logs, nil)))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Watch(ctx, 10*time.Millisecond)
	}()
	t.Cleanup(func() { cancel(); <-done })

	next := f.serverCA.issue(t, leafOpts{cn: "watched", dns: []string{"localhost"}})
	replaceFile(t, f.cfg.Key, next.keyPEM)
	replaceFile(t, f.cfg.Cert, next.certPEM)
	testutil.Eventually(t, 5*time.Second, "Watch did not load the new certificate", func() bool {
		return serverSerial(t, srv, f).Cmp(next.cert.SerialNumber) == 0
	})
	testutil.Eventually(t, time.Second, "no reload logged", func() bool {
		return strings.Contains(logs.String(), "TLS certificates reloaded")
	})

	// A broken file is logged and the current certificate stays.
	failed := strings.Count(logs.String(), "TLS reload failed")
	replaceFile(t, f.cfg.Key, []byte("not a key"))
	testutil.Eventually(t, 5*time.Second, "no failed reload logged", func() bool {
		return strings.Count(logs.String(), "TLS reload failed") > failed
	})
	if got := serverSerial(t, srv, f); got.Cmp(next.cert.SerialNumber) != 0 {
		t.Errorf("after a failed watched reload: serial %v, want %v", got, next.cert.SerialNumber)
	}
}

func TestKeyModeWarning(t *testing.T) {
	f := newFixture(t)
	if err := os.Chmod(f.cfg.Key, 0o640); err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	src, err := tlsconf.New(f.cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := "file=" + f.cfg.Key
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "chmod 600") || !strings.Contains(out, want) {
		t.Fatalf("no warning for a group-readable key; log:\n%s", out)
	}
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "chmod 600"); n != 2 {
		t.Errorf("warned %d times after New and Reload, want 2", n)
	}

	f2 := newFixture(t)
	var quiet logBuffer
	if _, err := tlsconf.New(f2.cfg, slog.New(slog.NewTextHandler(&quiet, nil))); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(quiet.String(), "chmod") {
		t.Errorf("warning for a 0600 key:\n%s", quiet.String())
	}
}
