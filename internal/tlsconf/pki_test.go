package tlsconf_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/testutil/syncbuf"
)

// serials makes every certificate of a test run distinct.
var serials atomic.Int64

// testCA is a certificate authority made up for a test.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	return selfSign(t, name, newKey(t, false))
}

// renewed is a new certificate for the same CA name and key.
func (ca *testCA) renewed(t testing.TB) *testCA {
	t.Helper()
	return selfSign(t, ca.cert.Subject.CommonName, ca.key)
}

func selfSign(t testing.TB, name string, key crypto.Signer) *testCA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func newKey(t testing.TB, useRSA bool) crypto.Signer {
	t.Helper()
	var (
		key crypto.Signer
		err error
	)
	if useRSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// leafOpts describes a certificate issued by a testCA. Zero validity
// means valid from an hour ago for a day.
type leafOpts struct {
	cn        string
	dns       []string
	uris      []string
	emails    []string
	notBefore time.Time
	notAfter  time.Time
	client    bool // client auth usage instead of server auth
	rsa       bool
}

// issued is a certificate with its key, PEM-encoded.
type issued struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte
	tls     tls.Certificate
}

func (ca *testCA) issue(t testing.TB, o leafOpts) *issued {
	t.Helper()
	key := newKey(t, o.rsa)
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(24 * time.Hour)
	}
	usage := x509.ExtKeyUsageServerAuth
	if o.client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(serials.Add(1)),
		Subject:        pkix.Name{CommonName: o.cn},
		DNSNames:       o.dns,
		EmailAddresses: o.emails,
		NotBefore:      o.notBefore,
		NotAfter:       o.notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{usage},
	}
	if o.rsa {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, u := range o.uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	is := &issued{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	is.tls, err = tls.X509KeyPair(is.certPEM, is.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// certPEM is the CA certificate, PEM-encoded.
func (ca *testCA) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// crlDER is a CRL signed by ca listing the given serials.
func (ca *testCA) crlDER(t testing.TB, revoked ...*big.Int) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(serials.Add(1)),
		ThisUpdate: time.Now().Add(-time.Hour),
		NextUpdate: time.Now().Add(24 * time.Hour),
	}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func crlPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// pool holds the given CAs.
func pool(cas ...*testCA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.cert)
	}
	return p
}

// writeFile writes data to dir/name with mode 0600 and returns the path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceFile writes data next to path and renames it over path, as
// deployment tools do.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// logBuffer is a buffer safe for concurrent writers.
type logBuffer = syncbuf.Buffer
