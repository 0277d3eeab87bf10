package httpauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth"
)

func TestNewRefuses(t *testing.T) {
	secret := writeFile(t, "secret", "Bearer s3cr3t-value\n")
	empty := writeFile(t, "empty", " \n")
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no auth_url", Options{}, "auth_url is required"},
		{"plain http to a remote host", Options{AuthURL: "http://192.0.2.1/auth"}, "plain http is allowed only to loopback"},
		{"plain http to a name", Options{AuthURL: "http://auth.example/auth"}, "plain http is allowed only to loopback"},
		{"plain http acl_url", Options{AuthURL: "https://a.example", ACLURL: "http://10.0.0.1/acl"}, "acl_url"},
		{"other scheme", Options{AuthURL: "ftp://127.0.0.1/x"}, "scheme must be https or http"},
		{"relative", Options{AuthURL: "/auth"}, "no host"},
		{"user info", Options{AuthURL: "https://u:p@a.example/"}, "user information"},
		{"fragment", Options{AuthURL: "https://a.example/#x"}, "fragment"},
		{"timeout too long", Options{AuthURL: "https://a.example", Timeout: time.Minute}, "timeout"},
		{"negative timeout", Options{AuthURL: "https://a.example", Timeout: -1}, "timeout"},
		{"cache too big", Options{AuthURL: "https://a.example", CacheSize: MaxCacheSize + 1}, "cache_size"},
		{"concurrency", Options{AuthURL: "https://a.example", MaxConcurrent: -1}, "max_concurrent"},
		{"cert without key", Options{AuthURL: "https://a.example", ClientCertFile: "c.pem"}, "set together"},
		{"ca on http", Options{AuthURL: "http://127.0.0.1/", CAFile: "ca.pem"}, "need an https URL"},
		{"missing ca", Options{AuthURL: "https://a.example", CAFile: "/nonexistent/ca.pem"}, "ca_file"},
		{"ca without PEM", Options{AuthURL: "https://a.example", CAFile: secret}, "no PEM certificate"},
		{"bad header name", Options{AuthURL: "https://a.example", Headers: []Header{{Name: "X Bad", Value: "v"}}}, "invalid header name"},
		{"reserved header", Options{AuthURL: "https://a.example", Headers: []Header{{Name: "content-type", Value: "v"}}}, "set by the backend client"},
		{"header value and file", Options{AuthURL: "https://a.example", Headers: []Header{{Name: "A", Value: "v", File: secret}}}, "exactly one"},
		{"header without value", Options{AuthURL: "https://a.example", Headers: []Header{{Name: "A"}}}, "exactly one"},
		{"header file missing", Options{AuthURL: "https://a.example", Headers: []Header{{Name: "A", File: "/nonexistent/tok"}}}, "/nonexistent/tok"},
		{"header file empty", Options{AuthURL: "https://a.example", Headers: []Header{{Name: "A", File: empty}}}, "is empty"},
		{"header control chars", Options{AuthURL: "https://a.example", Headers: []Header{{Name: "A", Value: "a\r\nB: c"}}}, "control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error quotes a header value: %v", err)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:9000/auth", "http://localhost/auth", "http://[::1]:8080/", "https://auth.example/v1?x=1", "HTTPS://auth.example/"} {
		if _, err := New(Options{AuthURL: u}); err != nil {
			t.Errorf("New(%s): %v", u, err)
		}
	}
	var logs logBuffer
	b, err := New(Options{AuthURL: "http://192.0.2.1/auth", AllowInsecureHTTP: true, Logger: logs.logger()})
	if err != nil {
		t.Fatalf("New with AllowInsecureHTTP: %v", err)
	}
	if !strings.Contains(logs.String(), "clear text") {
		t.Errorf("no warning for insecure http:\n%s", logs.String())
	}
	if a, ok := b.Authorizer(); a != nil || ok {
		t.Errorf("Authorizer() = %v, %v without acl_url", a, ok)
	}
	if b.Name() != "http" {
		t.Errorf("Name() = %q", b.Name())
	}
}

// pemCert encodes DER certificates as PEM.
func pemCert(ders ...[]byte) string {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return string(out)
}

// newTLSBackend starts a fakeBackend over TLS; refused handshakes are not
// logged.
func newTLSBackend(t *testing.T, h handler, cfg *tls.Config) *fakeBackend {
	t.Helper()
	f := &fakeBackend{}
	f.srv = httptest.NewUnstartedServer(f.wrap(t, h))
	f.srv.TLS = cfg
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func TestHTTPSWithCAFile(t *testing.T) {
	f := newTLSBackend(t, answer(map[string]any{"result": "allow"}), nil)
	ca := writeFile(t, "ca.pem", pemCert(f.srv.Certificate().Raw))

	b := newBackend(t, Options{AuthURL: f.srv.URL, CAFile: ca})
	if res := authenticate(t, b, userReq("alice", "pw")); res.Decision != auth.Allow {
		t.Fatalf("with ca_file: got %+v, want allow", res)
	}

	untrusted := newBackend(t, Options{AuthURL: f.srv.URL})
	res := authenticate(t, untrusted, userReq("alice", "pw"))
	if res.Decision != auth.Deny || !strings.Contains(res.Detail, "certificate") {
		t.Fatalf("without ca_file: got %+v, want deny for the certificate", res)
	}
	if n := f.hits.Load(); n != 1 {
		t.Errorf("hits = %d, want 1", n)
	}
}

// testCA is a throwaway CA that issues one client certificate.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// issueClient writes a client certificate and key and returns their paths.
func (ca *testCA) issueClient(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "moat"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	return writeFile(t, "client.pem", pemCert(der)), writeFile(t, "client.key", string(keyPEM))
}

func TestMutualTLS(t *testing.T) {
	clientCA := newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	f := newTLSBackend(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "moat" {
			t.Errorf("backend: unexpected client certificate")
		}
		answer(map[string]any{"result": "allow"})(w, r, body)
	}, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	ca := writeFile(t, "ca.pem", pemCert(f.srv.Certificate().Raw))
	certFile, keyFile := clientCA.issueClient(t)

	b := newBackend(t, Options{AuthURL: f.srv.URL, CAFile: ca, ClientCertFile: certFile, ClientKeyFile: keyFile})
	if res := authenticate(t, b, userReq("alice", "pw")); res.Decision != auth.Allow {
		t.Fatalf("with a client certificate: got %+v, want allow", res)
	}
	anon := newBackend(t, Options{AuthURL: f.srv.URL, CAFile: ca})
	if res := authenticate(t, anon, userReq("alice", "pw")); res.Decision != auth.Deny {
		t.Fatalf("without a client certificate: got %+v, want deny", res)
	}
	if n := f.hits.Load(); n != 1 {
		t.Errorf("hits = %d, want 1", n)
	}
}
