package tlsconf_test

import (
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestClientAuthRequiredIdentity(t *testing.T) {
	f := newFixture(t)
	good := f.clientCA.issue(t, leafOpts{
		cn:     "client-1",
		dns:    []string{"client1.devices.example", "second.devices.example"},
		uris:   []string{"spiffe://example.org/client1"},
		emails: []string{"c1@example.com"},
		client: true,
	})
	sum := sha256.Sum256(good.cert.Raw)
	for _, tc := range []struct {
		identity string
		want     string
	}{
		{"", "client-1"},
		{"cn", "client-1"},
		{"san-dns", "client1.devices.example"},
		{"san-uri", "spiffe://example.org/client1"},
		{"san-email", "c1@example.com"},
		{"fingerprint", hex.EncodeToString(sum[:])},
	} {
		t.Run("identity="+tc.identity, func(t *testing.T) {
			f.withClientAuth(t, "required", tc.identity)
			src, srv := f.start(t, nil)
			_, h, err := srv.connect(t, f.clientWith(good))
			if err != nil || h.err != nil {
				t.Fatalf("client error %v, server error %v", err, h.err)
			}
			got, ok := src.Identity(h.state)
			if !ok || got != tc.want {
				t.Errorf("Identity = %q, %v; want %q, true", got, ok, tc.want)
			}
		})
	}
}

func TestClientAuthRequiredRefusals(t *testing.T) {
	f := newFixture(t)
	f.withClientAuth(t, "required", "san-dns")
	opts := leafOpts{cn: "c", dns: []string{"c.devices.example"}, client: true}

	revoked := f.clientCA.issue(t, opts)
	f.cfg.CRLs = []string{writeFile(t, f.dir, "clients.crl", crlPEM(f.clientCA.crlDER(t, revoked.cert.SerialNumber)))}

	expiredOpts := opts
	expiredOpts.notBefore, expiredOpts.notAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	futureOpts := opts
	futureOpts.notBefore = time.Now().Add(time.Hour)
	noDNS := opts
	noDNS.dns = nil
	stranger := newCA(t, "other CA")

	src, srv := f.start(t, nil)

	if _, h, err := srv.connect(t, f.clientWith(f.clientCA.issue(t, opts))); err != nil || h.err != nil {
		t.Fatalf("good certificate refused: client %v, server %v", err, h.err)
	} else if id, ok := src.Identity(h.state); !ok || id != "c.devices.example" {
		t.Errorf("Identity = %q, %v", id, ok)
	}

	for _, tc := range []struct {
		name    string
		cert    *issued // nil: no certificate
		wantErr string  // in the server's handshake error
	}{
		{"no certificate", nil, "client didn't provide a certificate"},
		{"expired", f.clientCA.issue(t, expiredOpts), "expired or is not yet valid: current time"},
		{"not yet valid", f.clientCA.issue(t, futureOpts), "expired or is not yet valid: current time"},
		{"other CA", stranger.issue(t, opts), "unknown authority"},
		{"revoked", revoked, "certificate revoked: serial 0x" + revoked.cert.SerialNumber.Text(16)},
		{"no identity field", f.clientCA.issue(t, noDNS), "certificate has no DNS SAN for the identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.client()
			if tc.cert != nil {
				cfg = f.clientWith(tc.cert)
			}
			_, h, err := srv.connect(t, cfg)
			if err == nil {
				t.Error("the client saw no error")
			}
			if h.err == nil {
				t.Fatal("the server accepted the handshake")
			}
			t.Logf("server: %v; client: %v", h.err, err)
			if !strings.Contains(h.err.Error(), tc.wantErr) {
				t.Errorf("server error %q does not contain %q", h.err, tc.wantErr)
			}
		})
	}
}

func TestCRLDER(t *testing.T) {
	f := newFixture(t)
	f.withClientAuth(t, "required", "cn")
	c := f.clientCA.issue(t, leafOpts{cn: "c", client: true})
	f.cfg.CRLs = []string{writeFile(t, f.dir, "clients.crl.der", f.clientCA.crlDER(t, big.NewInt(1), c.cert.SerialNumber))}
	_, srv := f.start(t, nil)
	_, h, _ := srv.connect(t, f.clientWith(c))
	if h.err == nil || !strings.Contains(h.err.Error(), "revoked") {
		t.Fatalf("server error = %v, want revoked", h.err)
	}
}

func TestCRLAppliesToRenewedCA(t *testing.T) {
	f := newFixture(t)
	f.withClientAuth(t, "required", "cn")
	renewed := f.clientCA.renewed(t)
	bundle := append(renewed.certPEM(), f.clientCA.certPEM()...)
	f.cfg.ClientCA = writeFile(t, f.dir, "bundle.pem", bundle)
	c := f.clientCA.issue(t, leafOpts{cn: "c", client: true})
	// The CRL carries the renewed certificate's name and key; the client
	// chain may be built through either copy of the CA.
	f.cfg.CRLs = []string{writeFile(t, f.dir, "clients.crl", crlPEM(renewed.crlDER(t, c.cert.SerialNumber)))}
	_, srv := f.start(t, nil)
	_, h, _ := srv.connect(t, f.clientWith(c))
	if h.err == nil || !strings.Contains(h.err.Error(), "revoked") {
		t.Fatalf("server error = %v, want revoked", h.err)
	}
}

func TestClientAuthOptional(t *testing.T) {
	f := newFixture(t)
	f.withClientAuth(t, "optional", "cn")
	src, srv := f.start(t, nil)

	_, h, err := srv.connect(t, f.client())
	if err != nil || h.err != nil {
		t.Fatalf("no certificate refused: client %v, server %v", err, h.err)
	}
	if id, ok := src.Identity(h.state); ok {
		t.Errorf("Identity without a certificate = %q, true", id)
	}

	good := f.clientCA.issue(t, leafOpts{cn: "opt", client: true})
	if _, h, err = srv.connect(t, f.clientWith(good)); err != nil || h.err != nil {
		t.Fatalf("good certificate refused: client %v, server %v", err, h.err)
	}
	if id, ok := src.Identity(h.state); !ok || id != "opt" {
		t.Errorf("Identity = %q, %v; want opt, true", id, ok)
	}

	bad := newCA(t, "other CA").issue(t, leafOpts{cn: "x", client: true})
	if _, h, _ = srv.connect(t, f.clientWith(bad)); h.err == nil {
		t.Error("optional client auth accepted a certificate from an unknown CA")
	}
}

func TestClientAuthNone(t *testing.T) {
	f := newFixture(t)
	src, srv := f.start(t, nil)
	c := f.clientCA.issue(t, leafOpts{cn: "ignored", client: true})
	_, h, err := srv.connect(t, f.clientWith(c))
	if err != nil || h.err != nil {
		t.Fatalf("client %v, server %v", err, h.err)
	}
	if id, ok := src.Identity(h.state); ok {
		t.Errorf("Identity with client_auth none = %q, true", id)
	}
}
