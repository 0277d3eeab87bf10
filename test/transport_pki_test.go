package test

// A throw-away PKI for the transport tests, generated with crypto/x509 into
// t.TempDir at test time: no private key is ever committed. Private keys are
// written 0600 (Moat warns about wider modes).
//
// Layout of a testPKI directory:
//
//	ca.pem                     the CA that issues the server and client certificates
//	server.pem, server.key     the server certificate (127.0.0.1, ::1, localhost)
//	client-<name>.pem/.key     client certificates, see clientNames
//	other-ca.pem               a second CA, unknown to the broker
//	crl.pem                    the CA's CRL, revoking client-revoked

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Client certificate names in a testPKI. Every one but "valid" must be
// refused by a listener with client_auth required, client_ca ca.pem, crls
// [crl.pem] and identity san-email.
const (
	clientValid      = "valid"        // CA-issued, current, email SAN
	clientExpired    = "expired"      // validity ended yesterday
	clientNotYet     = "not-yet"      // validity starts tomorrow
	clientOtherCA    = "other-ca"     // issued by other-ca.pem
	clientRevoked    = "revoked"      // listed in crl.pem
	clientNoEmailSAN = "no-email-san" // CA-issued, current, no email SAN
)

// clientEmail is the email SAN of a client certificate that has one.
func clientEmail(name string) string { return name + "@clients.moat.test" }

// testCA is a certificate authority held in memory.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// testPKI is the generated material; the paths are absolute.
type testPKI struct {
	Dir        string
	CA         string // ca.pem
	OtherCA    string // other-ca.pem
	ServerCert string
	ServerKey  string
	CRL        string

	ca, other *testCA
	serial    *big.Int                     // serial of the current server certificate
	clients   map[string]*x509.Certificate // by client name
	crlNumber int64
}

// clientCert and clientKey are the paths of the named client pair.
func (p *testPKI) clientCert(name string) string {
	return filepath.Join(p.Dir, "client-"+name+".pem")
}

func (p *testPKI) clientKey(name string) string {
	return filepath.Join(p.Dir, "client-"+name+".key")
}

// clientPair loads the named client pair for a Go TLS client.
func (p *testPKI) clientPair(t testing.TB, name string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.clientCert(name), p.clientKey(name))
	if err != nil {
		t.Fatalf("client pair %s: %v", name, err)
	}
	return c
}

// pool is a CertPool holding the CA, for Go TLS clients.
func (p *testPKI) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.cert)
	return pool
}

// newTestPKI generates every file in a fresh temporary directory.
func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{
		Dir:        dir,
		CA:         filepath.Join(dir, "ca.pem"),
		OtherCA:    filepath.Join(dir, "other-ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server.key"),
		CRL:        filepath.Join(dir, "crl.pem"),
	}
	p.ca = pkiNewCA(t, "Moat Test CA")
	p.other = pkiNewCA(t, "Moat Test Other CA")
	pkiWritePEM(t, p.CA, "CERTIFICATE", p.ca.cert.Raw, 0o644)
	pkiWritePEM(t, p.OtherCA, "CERTIFICATE", p.other.cert.Raw, 0o644)

	p.serial = p.writeServer(t, p.ServerCert, p.ServerKey)

	now := time.Now()
	day := 24 * time.Hour
	type spec struct {
		name      string
		ca        *testCA
		from, to  time.Time
		withEmail bool
	}
	p.clients = map[string]*x509.Certificate{}
	for _, s := range []spec{
		{clientValid, p.ca, now.Add(-time.Hour), now.Add(day), true},
		{clientExpired, p.ca, now.Add(-2 * day), now.Add(-day), true},
		{clientNotYet, p.ca, now.Add(day), now.Add(2 * day), true},
		{clientOtherCA, p.other, now.Add(-time.Hour), now.Add(day), true},
		{clientRevoked, p.ca, now.Add(-time.Hour), now.Add(day), true},
		{clientNoEmailSAN, p.ca, now.Add(-time.Hour), now.Add(day), false},
	} {
		tmpl := pkiLeaf(t, "client-"+s.name, s.from, s.to, x509.ExtKeyUsageClientAuth)
		if s.withEmail {
			tmpl.EmailAddresses = []string{clientEmail(s.name)}
		}
		p.clients[s.name] = s.ca.issue(t, tmpl, p.clientCert(s.name), p.clientKey(s.name))
	}
	p.revoke(t)
	return p
}

// revoke (re)writes crl.pem, with a higher CRL number each time, listing
// client-revoked and the named client certificates (all issued by the CA).
func (p *testPKI) revoke(t testing.TB, names ...string) {
	t.Helper()
	now := time.Now()
	var entries []x509.RevocationListEntry
	for _, name := range append([]string{clientRevoked}, names...) {
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber:   p.clients[name].SerialNumber,
			RevocationTime: now.Add(-time.Minute),
			ReasonCode:     1, // keyCompromise
		})
	}
	p.crlNumber++
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(p.crlNumber),
		ThisUpdate:                now.Add(-time.Hour),
		NextUpdate:                now.Add(7 * 24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, p.ca.cert, p.ca.key)
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	pkiWritePEM(t, p.CRL, "X509 CRL", crl, 0o644)
}

// writeServer issues a new server certificate for 127.0.0.1, ::1 and
// localhost into certFile and keyFile and returns its serial.
func (p *testPKI) writeServer(t testing.TB, certFile, keyFile string) *big.Int {
	t.Helper()
	now := time.Now()
	tmpl := pkiLeaf(t, "moat test server", now.Add(-time.Hour), now.Add(90*24*time.Hour), x509.ExtKeyUsageServerAuth)
	tmpl.DNSNames = []string{"localhost"}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	// Never fetched; present so that scanners (testssl.sh) do not rate
	// the certificate as unrevocable.
	tmpl.CRLDistributionPoints = []string{"http://crl.moat.test/ca.crl"}
	return p.ca.issue(t, tmpl, certFile, keyFile).SerialNumber
}

// rotateServer overwrites the server certificate and key in place with a
// newly issued pair and returns the new serial.
func (p *testPKI) rotateServer(t testing.TB) *big.Int {
	t.Helper()
	p.serial = p.writeServer(t, p.ServerCert, p.ServerKey)
	return p.serial
}

func pkiNewCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := pkiKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          pkiSerial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Moat tests"}},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("CA %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func pkiLeaf(t testing.TB, cn string, from, to time.Time, eku x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	return &x509.Certificate{
		SerialNumber: pkiSerial(t),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Moat tests"}},
		NotBefore:    from,
		NotAfter:     to,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
	}
}

// issue signs tmpl with a new key and writes the certificate and key.
func (ca *testCA) issue(t testing.TB, tmpl *x509.Certificate, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	key := pkiKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatalf("issue %s: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkiWritePEM(t, certFile, "CERTIFICATE", der, 0o644)
	pkiWritePEM(t, keyFile, "PRIVATE KEY", keyDER, 0o600)
	return cert
}

func pkiKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func pkiSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// writePEM writes one PEM block with the given mode, replacing the file's
// content (and, for an existing file, keeping it at mode).
func pkiWritePEM(t testing.TB, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
