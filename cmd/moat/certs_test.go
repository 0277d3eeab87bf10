package main

import (
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/certs"
)

// runCerts runs 'moat certs args...' and checks the exit code.
func runCerts(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := capture(t, func() int { return run(append([]string{"certs"}, args...)) })
	if code != want {
		t.Fatalf("moat certs %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

func checkFileMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", path, got, want)
	}
}

// readCert reads the first certificate of a PEM file.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certs.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return c[0]
}

func TestCertsCommands(t *testing.T) {
	old := syscall.Umask(0) // keys must still be 0600
	defer syscall.Umask(old)

	tmp := t.TempDir()
	dir := filepath.Join(tmp, "ca")
	out, _ := runCerts(t, 0, "init", "--dir", dir, "--cn", "Test CA", "--key-type", "ecdsa-p384", "--days", "30")
	checkFileMode(t, filepath.Join(dir, "ca.crt"), 0o644)
	checkFileMode(t, filepath.Join(dir, "ca.key"), 0o600)
	checkFileMode(t, dir, 0o700)
	for _, want := range []string{"wrote " + filepath.Join(dir, "ca.key"), "moat certs server --dir " + dir, "client_ca: " + filepath.Join(dir, "ca.crt")} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	caCert := readCert(t, filepath.Join(dir, "ca.crt"))
	if caCert.Subject.CommonName != "Test CA" || caCert.NotAfter.Sub(caCert.NotBefore) != 30*24*time.Hour+certs.ClockSkew {
		t.Errorf("CA %s valid %v", caCert.Subject, caCert.NotAfter.Sub(caCert.NotBefore))
	}
	_, errOut := runCerts(t, 1, "init", "--dir", dir)
	if !strings.Contains(errOut, "--force") {
		t.Errorf("refused init does not mention --force: %s", errOut)
	}
	if got := readCert(t, filepath.Join(dir, "ca.crt")); !got.Equal(caCert) {
		t.Fatal("refused init replaced the CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)

	srv := filepath.Join(tmp, "tls", "broker")
	if err := os.Mkdir(filepath.Dir(srv), 0o755); err != nil {
		t.Fatal(err)
	}
	out, _ = runCerts(t, 0, "server", "--dir", dir, "--dns", "broker.example", "--dns", "localhost", "--ip", "127.0.0.1",
		"--out", srv, "--key-type", "ed25519", "--days", "7")
	if !strings.Contains(out, "wrote "+srv+".key") {
		t.Errorf("server output: %s", out)
	}
	checkFileMode(t, srv+".key", 0o600)
	checkFileMode(t, srv+".crt", 0o644)
	s := readCert(t, srv+".crt")
	if _, err := s.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"}); err != nil {
		t.Errorf("server certificate: %v", err)
	}
	if s.IPAddresses[0].String() != "127.0.0.1" || s.PublicKeyAlgorithm != x509.Ed25519 {
		t.Errorf("server certificate IPs %v key %v", s.IPAddresses, s.PublicKeyAlgorithm)
	}
	_, errOut = runCerts(t, 1, "server", "--dir", dir, "--dns", "broker.example", "--out", srv, "--days", "7")
	if !strings.Contains(errOut, "exists; pass --force") {
		t.Errorf("refused server: %s", errOut)
	}
	runCerts(t, 0, "server", "--dir", dir, "--dns", "broker.example", "--out", srv, "--force", "--days", "7")
	if s2 := readCert(t, srv+".crt"); s2.Equal(s) {
		t.Error("--force did not replace the server certificate")
	} else {
		s = s2
	}
	runCerts(t, 2, "server", "--dir", dir)
	runCerts(t, 2, "server", "--dir", dir, "--ip", "not-an-ip")
	runCerts(t, 2, "server", "--dir", dir, "--dns", "x.example", "--key-type", "dsa")
	runCerts(t, 2, "server", "--dir", dir, "--dns", "x.example", "extra")
	// Longer than the CA lives.
	runCerts(t, 1, "server", "--dir", dir, "--dns", "x.example", "--out", filepath.Join(tmp, "long"), "--days", "60")
	_, errOut = runCerts(t, 1, "server", "--dir", filepath.Join(tmp, "none"), "--dns", "x.example", "--out", filepath.Join(tmp, "x"))
	if !strings.Contains(errOut, "moat certs init") {
		t.Errorf("missing CA: %s", errOut)
	}

	// Flags may follow the NAME.
	alice := filepath.Join(tmp, "alice")
	runCerts(t, 0, "client", "alice", "--dir", dir, "--email", "alice@moat.example",
		"--uri", "spiffe://moat.example/alice", "--out", alice, "--days", "7")
	checkFileMode(t, alice+".key", 0o600)
	a := readCert(t, alice+".crt")
	if _, err := a.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if a.Subject.CommonName != "alice" || !slices.Equal(a.EmailAddresses, []string{"alice@moat.example"}) ||
		len(a.URIs) != 1 || a.URIs[0].String() != "spiffe://moat.example/alice" {
		t.Errorf("client certificate %s %v %v", a.Subject, a.EmailAddresses, a.URIs)
	}
	runCerts(t, 2, "client", "--dir", dir)
	runCerts(t, 2, "client", "a", "b", "--dir", dir)
	runCerts(t, 2, "client", "../evil", "--dir", dir)
	runCerts(t, 2, "client", "bob", "--dir", dir, "--uri", "no-scheme")

	// Inspect: clean files pass, findings are printed.
	out, _ = runCerts(t, 0, "inspect", srv+".crt", alice+".key", filepath.Join(dir, "ca.crt"))
	for _, want := range []string{"CN=broker.example", certs.Fingerprint(s), "private key 1: ECDSA P-256"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	if err := os.Chmod(alice+".key", 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = runCerts(t, 0, "inspect", alice+".key") // a warning, not severe
	if !strings.Contains(out, "warning: private key file mode is 0644") {
		t.Errorf("inspect of a readable key:\n%s", out)
	}
	runCerts(t, 1, "inspect", filepath.Join(tmp, "absent.crt"))
	runCerts(t, 2, "inspect")

	// Revocations accumulate in the CRL.
	runCerts(t, 0, "crl", "--dir", dir, "--revoke", alice+".crt")
	crlPath := filepath.Join(dir, "ca.crl")
	checkFileMode(t, crlPath, 0o644)
	checkRevoked(t, crlPath, caCert, a)
	runCerts(t, 0, "crl", "--dir", dir, "--revoke", srv+".crt", "--days", "2")
	crl := checkRevoked(t, crlPath, caCert, a, s)
	if crl.NextUpdate.Sub(crl.ThisUpdate) != 48*time.Hour+certs.ClockSkew {
		t.Errorf("CRL lifetime %v", crl.NextUpdate.Sub(crl.ThisUpdate))
	}
	out, _ = runCerts(t, 0, "inspect", crlPath)
	if !strings.Contains(out, "2 revoked") {
		t.Errorf("inspect of the CRL:\n%s", out)
	}
	runCerts(t, 1, "crl", "--dir", dir, "--revoke", filepath.Join(dir, "ca.crt"))
	runCerts(t, 2, "crl", "--dir", dir, "--days", "0")
	// A CRL of another CA at --out is not silently replaced.
	other := filepath.Join(tmp, "other")
	runCerts(t, 0, "init", "--dir", other)
	runCerts(t, 1, "crl", "--dir", other, "--out", crlPath)
}

// checkRevoked parses the CRL at path, checks its signature and that it
// revokes exactly want.
func checkRevoked(t *testing.T, path string, ca *x509.Certificate, want ...*x509.Certificate) *x509.RevocationList {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("%s: not a PEM X509 CRL", path)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range crl.RevokedCertificateEntries {
		got = append(got, e.SerialNumber.String())
	}
	var wantSerials []string
	for _, c := range want {
		wantSerials = append(wantSerials, c.SerialNumber.String())
	}
	if !slices.Equal(got, wantSerials) {
		t.Fatalf("revoked %v, want %v", got, wantSerials)
	}
	return crl
}

func TestCertsDefaultsAndUsage(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	out, _ := runCerts(t, 0, "init")
	if !strings.Contains(out, "moat certs server --dns localhost") {
		t.Errorf("init hint:\n%s", out)
	}
	checkFileMode(t, filepath.Join(tmp, "moat-data", "ca", "ca.key"), 0o600)
	runCerts(t, 0, "server", "--dns", "localhost", "--ip", "::1")
	checkFileMode(t, filepath.Join(tmp, "server.key"), 0o600)
	checkFileMode(t, filepath.Join(tmp, "server.crt"), 0o644)
	if c := readCert(t, filepath.Join(tmp, "server.crt")); c.NotAfter.Sub(c.NotBefore) != certs.DefaultServerValidity+certs.ClockSkew {
		t.Errorf("server validity %v", c.NotAfter.Sub(c.NotBefore))
	}
	runCerts(t, 0, "client", "sensor-1.site_2")
	checkFileMode(t, filepath.Join(tmp, "sensor-1.site_2.key"), 0o600)
	runCerts(t, 0, "crl", "--revoke", "sensor-1.site_2.crt")
	checkFileMode(t, filepath.Join(tmp, "moat-data", "ca", "ca.crl"), 0o644)
	// A CA key others can read draws a warning when it is used.
	if err := os.Chmod(filepath.Join(tmp, "moat-data", "ca", "ca.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut := runCerts(t, 0, "client", "bob")
	if !strings.Contains(errOut, "warning") || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("readable CA key: %q", errOut)
	}

	runCerts(t, 2)
	runCerts(t, 2, "nonsense")
	out, _ = runCerts(t, 0, "--help")
	if !strings.Contains(out, "inspect") {
		t.Errorf("certs help:\n%s", out)
	}
	for _, sub := range []string{"init", "server", "client", "inspect", "crl"} {
		_, errOut := runCerts(t, 0, sub, "--help")
		if !strings.Contains(errOut, "Usage: moat certs "+sub) {
			t.Errorf("%s --help:\n%s", sub, errOut)
		}
		runCerts(t, 2, sub, "--no-such-flag")
	}
	// Everything after "--" is positional, even if it looks like a flag.
	runCerts(t, 0, "client", "--out", filepath.Join(tmp, "dash"), "--", "-dash")
	if c := readCert(t, filepath.Join(tmp, "dash.crt")); c.Subject.CommonName != "-dash" {
		t.Errorf("CN %q", c.Subject.CommonName)
	}
}

func TestCertsInspectSevere(t *testing.T) {
	dir := t.TempDir()
	// A CA issued two years ago for one year has expired.
	ca, err := certs.NewCA(filepath.Join(dir, "old"), certs.CAOptions{
		IssuedAt: time.Now().AddDate(-2, 0, 0), Validity: 365 * 24 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	expired := filepath.Join(dir, "expired.crt")
	if err := certs.WriteFile(expired, ca.CertPEM(), certs.CertMode, false); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good", "ca.crt")
	if _, err := certs.NewCA(filepath.Dir(good), certs.CAOptions{}); err != nil {
		t.Fatal(err)
	}
	runCerts(t, 0, "inspect", good)
	out, _ := runCerts(t, 1, "inspect", good, expired)
	if !strings.Contains(out, "SEVERE: expired on") {
		t.Errorf("inspect of an expired certificate:\n%s", out)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	runCerts(t, 1, "inspect", garbage)
}
