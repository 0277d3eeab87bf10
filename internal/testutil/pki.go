package testutil

import (
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"

	"github.com/moatmq/moat/internal/certs"
)

// PKI is a throw-away CA with a server certificate for 127.0.0.1.
type PKI struct {
	CA                *certs.CA
	CAFile            string // the CA certificate, PEM
	CertFile, KeyFile string // the server pair, PEM (key 0600)
	Pool              *x509.CertPool
}

// NewPKI writes a CA and a server pair for 127.0.0.1 into a temporary
// directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA(filepath.Join(dir, "ca"), certs.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.IssueServer(certs.LeafOptions{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	p := &PKI{CA: ca, CAFile: filepath.Join(dir, "ca", "ca.crt"), CertFile: filepath.Join(dir, "server.pem"),
		KeyFile: filepath.Join(dir, "server.key"), Pool: x509.NewCertPool()}
	if err := certs.WritePair(p.CertFile, crt, p.KeyFile, key, false); err != nil {
		t.Fatal(err)
	}
	p.Pool.AddCert(ca.Cert)
	return p
}
