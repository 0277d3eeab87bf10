package tlsconf_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/tlsconf"
)

func TestNewRefuses(t *testing.T) {
	f := newFixture(t)
	other := f.serverCA.issue(t, leafOpts{cn: "other", dns: []string{"localhost"}})
	otherKey := writeFile(t, f.dir, "other.key", other.keyPEM)
	expired := f.serverCA.issue(t, leafOpts{cn: "old", dns: []string{"localhost"},
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
	expiredPair := certKey(t, f.dir, "expired", expired)
	future := f.serverCA.issue(t, leafOpts{cn: "future", dns: []string{"localhost"}, notBefore: time.Now().Add(time.Hour)})
	futurePair := certKey(t, f.dir, "future", future)
	clientCA := writeFile(t, f.dir, "client-ca.pem", f.clientCA.certPEM())
	foreignCRL := writeFile(t, f.dir, "foreign.crl", crlPEM(newCA(t, "stranger").crlDER(t)))
	// A CRL naming the client CA as issuer but signed by another key.
	impostor := newCA(t, "client CA")
	forgedCRL := writeFile(t, f.dir, "forged.crl", crlPEM(impostor.crlDER(t)))
	missing := filepath.Join(f.dir, "missing.pem")
	junk := writeFile(t, f.dir, "junk.crl", []byte("junk"))

	for _, tc := range []struct {
		name   string
		mutate func(c *config.TLS)
		want   []string // each in the error
	}{
		{"missing cert file", func(c *config.TLS) { c.Cert = missing }, []string{missing, "no such file"}},
		{"key of another certificate", func(c *config.TLS) { c.Key = otherKey },
			[]string{f.cfg.Cert, otherKey, "private key does not match public key"}},
		{"expired certificate", func(c *config.TLS) { c.Cert, c.Key = expiredPair.Cert, expiredPair.Key },
			[]string{expiredPair.Cert, "expired"}},
		{"not yet valid certificate", func(c *config.TLS) { c.Cert, c.Key = futurePair.Cert, futurePair.Key },
			[]string{futurePair.Cert, "not valid before"}},
		{"expired SNI certificate", func(c *config.TLS) { c.Certificates = []config.CertKey{expiredPair} },
			[]string{expiredPair.Cert, "expired"}},
		{"insecure suite", func(c *config.TLS) { c.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_RC4_128_SHA"} },
			[]string{"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "insecure"}},
		{"CBC suite", func(c *config.TLS) { c.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"} },
			[]string{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "only ECDHE"}},
		{"RSA key exchange", func(c *config.TLS) { c.CipherSuites = []string{"TLS_RSA_WITH_AES_128_GCM_SHA256"} },
			[]string{"TLS_RSA_WITH_AES_128_GCM_SHA256"}},
		{"TLS 1.3 suite", func(c *config.TLS) { c.CipherSuites = []string{"TLS_AES_128_GCM_SHA256"} },
			[]string{"TLS 1.3 suites are not configurable"}},
		{"unknown suite", func(c *config.TLS) { c.CipherSuites = []string{"TLS_NOPE"} }, []string{"unknown suite"}},
		{"unknown curve", func(c *config.TLS) { c.Curves = []string{"P224"} }, []string{"P224"}},
		{"old min version", func(c *config.TLS) { c.MinVersion = "1.1" }, []string{"min_version"}},
		{"bad client auth", func(c *config.TLS) { c.ClientAuth = "maybe" }, []string{"client_auth"}},
		{"client auth without CA", func(c *config.TLS) { c.ClientAuth = "required" }, []string{"needs client_ca"}},
		{"bad identity", func(c *config.TLS) { c.Identity = "serial" }, []string{"identity"}},
		{"CRL of a foreign CA", func(c *config.TLS) { c.ClientCA, c.CRLs = clientCA, []string{foreignCRL} },
			[]string{foreignCRL, "not signed by a CA in client_ca"}},
		{"CRL with a forged signature", func(c *config.TLS) { c.ClientCA, c.CRLs = clientCA, []string{forgedCRL} },
			[]string{forgedCRL, "not signed"}},
		{"CRL file of junk", func(c *config.TLS) { c.ClientCA, c.CRLs = clientCA, []string{junk} }, []string{junk}},
		{"client CA without certificates", func(c *config.TLS) { c.ClientAuth, c.ClientCA = "required", junk },
			[]string{junk, "no PEM certificates"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.cfg
			tc.mutate(&c)
			_, err := tlsconf.New(c, slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	f := newFixture(t)
	c := f.cfg
	c.MinVersion = "1.0"
	c.Curves = []string{"P224"}
	_, err := tlsconf.New(c, nil)
	if err == nil || !strings.Contains(err.Error(), "min_version") || !strings.Contains(err.Error(), "P224") {
		t.Fatalf("error %v does not report both problems", err)
	}
}

func TestExpiryWarning(t *testing.T) {
	f := newFixture(t)
	soon := f.serverCA.issue(t, leafOpts{cn: "soon", dns: []string{"localhost"}, notAfter: time.Now().Add(10 * 24 * time.Hour)})
	pair := certKey(t, f.dir, "soon", soon)
	f.cfg.Cert, f.cfg.Key = pair.Cert, pair.Key
	var logs logBuffer
	if _, err := tlsconf.New(f.cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "expires soon") || !strings.Contains(out, pair.Cert) {
		t.Errorf("no expiry warning:\n%s", out)
	}
}
