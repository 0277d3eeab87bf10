package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// newTestCA creates a CA in a fresh temporary directory.
func newTestCA(t *testing.T, opts CAOptions) (*CA, string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := NewCA(dir, opts)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca, dir
}

// parseOne parses the single certificate of a PEM file.
func parseOne(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil || len(certs) != 1 {
		t.Fatalf("ParseCertificatesPEM: %d certificates, %v", len(certs), err)
	}
	return certs[0]
}

// verify checks cert against the CA for one extended key usage.
func verify(ca *CA, cert *x509.Certificate, name string, usage x509.ExtKeyUsage) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

// checkKeyType checks that pub is of key type k.
func checkKeyType(t *testing.T, k KeyType, pub any) {
	t.Helper()
	want := map[KeyType]KeyInfo{
		KeyECDSAP256: {"ECDSA", 256, "P-256"},
		KeyECDSAP384: {"ECDSA", 384, "P-384"},
		KeyRSA2048:   {"RSA", 2048, ""},
		KeyRSA3072:   {"RSA", 3072, ""},
		KeyRSA4096:   {"RSA", 4096, ""},
		KeyEd25519:   {"Ed25519", 256, ""},
	}[k]
	if got := describeKey(pub); got != want {
		t.Errorf("key %+v, want %+v for %s", got, want, k)
	}
}

func TestIssueVerifies(t *testing.T) {
	for _, kt := range KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			if kt == KeyRSA4096 && testing.Short() {
				t.Skip("slow key generation")
			}
			ca, _ := newTestCA(t, CAOptions{KeyType: kt})
			checkKeyType(t, kt, ca.Cert.PublicKey)

			certPEM, keyPEM, err := ca.IssueServer(LeafOptions{
				DNSNames: []string{"broker.example", "localhost"},
				IPs:      []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
				KeyType:  kt,
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatalf("key does not match certificate: %v", err)
			}
			srv := parseOne(t, certPEM)
			checkKeyType(t, kt, srv.PublicKey)
			for _, name := range []string{"broker.example", "localhost", "127.0.0.1", "::1"} {
				if err := verify(ca, srv, name, x509.ExtKeyUsageServerAuth); err != nil {
					t.Errorf("server certificate for %s: %v", name, err)
				}
			}
			if err := verify(ca, srv, "other.example", x509.ExtKeyUsageServerAuth); err == nil {
				t.Error("server certificate verified for a name it does not carry")
			}
			if err := verify(ca, srv, "", x509.ExtKeyUsageClientAuth); err == nil {
				t.Error("server certificate verified for client authentication")
			}
			if srv.Subject.CommonName != "broker.example" {
				t.Errorf("CN %q, want the first DNS name", srv.Subject.CommonName)
			}

			spiffe, _ := url.Parse("spiffe://moat.example/sensor/7")
			certPEM, keyPEM, err = ca.IssueClient("sensor-7", LeafOptions{
				Emails: []string{"ops@moat.example"}, URIs: []*url.URL{spiffe},
				DNSNames: []string{"sensor-7.moat.example"}, KeyType: kt,
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatalf("client key does not match certificate: %v", err)
			}
			cli := parseOne(t, certPEM)
			checkKeyType(t, kt, cli.PublicKey)
			if err := verify(ca, cli, "", x509.ExtKeyUsageClientAuth); err != nil {
				t.Errorf("client certificate: %v", err)
			}
			if err := verify(ca, cli, "", x509.ExtKeyUsageServerAuth); err == nil {
				t.Error("client certificate verified for server authentication")
			}
			if cli.Subject.CommonName != "sensor-7" ||
				!slices.Equal(cli.EmailAddresses, []string{"ops@moat.example"}) ||
				len(cli.URIs) != 1 || cli.URIs[0].String() != spiffe.String() ||
				!slices.Equal(cli.DNSNames, []string{"sensor-7.moat.example"}) {
				t.Errorf("client names: CN %q, emails %v, URIs %v, DNS %v",
					cli.Subject.CommonName, cli.EmailAddresses, cli.URIs, cli.DNSNames)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	before := time.Now()
	ca, _ := newTestCA(t, CAOptions{})
	c := ca.Cert
	if c.Subject.CommonName != DefaultCACommonName || !c.IsCA || !c.BasicConstraintsValid ||
		c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("CA: CN %q IsCA %v MaxPathLen %d zero %v", c.Subject.CommonName, c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA key usage %v", c.KeyUsage)
	}
	if len(c.SubjectKeyId) != 20 {
		t.Errorf("CA subject key id %x", c.SubjectKeyId)
	}
	checkKeyType(t, DefaultKeyType, c.PublicKey)
	checkTimes(t, c, before, DefaultCAValidity)

	certPEM, _, err := ca.IssueServer(LeafOptions{IPs: []net.IP{net.ParseIP("192.0.2.1")}})
	if err != nil {
		t.Fatal(err)
	}
	srv := parseOne(t, certPEM)
	if srv.Subject.CommonName != "192.0.2.1" {
		t.Errorf("CN %q, want the IP", srv.Subject.CommonName)
	}
	if !bytes.Equal(srv.AuthorityKeyId, c.SubjectKeyId) || len(srv.SubjectKeyId) != 20 || srv.IsCA {
		t.Errorf("leaf AKID %x SKID %x IsCA %v", srv.AuthorityKeyId, srv.SubjectKeyId, srv.IsCA)
	}
	checkTimes(t, srv, before, DefaultServerValidity)

	certPEM, _, err = ca.IssueClient("alice", LeafOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkTimes(t, parseOne(t, certPEM), before, DefaultClientValidity)

	// Serials are random and 128 bits long at most.
	seen := map[string]bool{}
	for range 20 {
		s, err := newSerial()
		if err != nil {
			t.Fatal(err)
		}
		if s.Sign() <= 0 || s.BitLen() > 128 || seen[s.String()] {
			t.Fatalf("serial %x", s)
		}
		seen[s.String()] = true
	}
}

// checkTimes checks NotBefore (skew allowance) and NotAfter of c issued
// at or after before.
func checkTimes(t *testing.T, c *x509.Certificate, before time.Time, validity time.Duration) {
	t.Helper()
	// Certificate times have a resolution of one second.
	nb := before.Add(-ClockSkew).Truncate(time.Second)
	if c.NotBefore.Before(nb) || c.NotBefore.After(nb.Add(time.Minute)) {
		t.Errorf("NotBefore %v, want about %v", c.NotBefore, nb)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got != validity+ClockSkew {
		t.Errorf("lifetime %v, want %v", got, validity+ClockSkew)
	}
}

func TestIssueRefuses(t *testing.T) {
	ca, _ := newTestCA(t, CAOptions{Validity: 30 * 24 * time.Hour})
	cases := map[string]func() error{
		"no SAN": func() error { _, _, err := ca.IssueServer(LeafOptions{}); return err },
		"outlives CA": func() error {
			_, _, err := ca.IssueServer(LeafOptions{DNSNames: []string{"a.example"}})
			return err
		},
		"bad DNS": func() error {
			_, _, err := ca.IssueServer(LeafOptions{DNSNames: []string{"a b"}, Validity: time.Hour})
			return err
		},
		"bad wildcard": func() error {
			_, _, err := ca.IssueServer(LeafOptions{DNSNames: []string{"a.*.example"}, Validity: time.Hour})
			return err
		},
		"empty client": func() error { _, _, err := ca.IssueClient(" ", LeafOptions{Validity: time.Hour}); return err },
		"bad email": func() error {
			_, _, err := ca.IssueClient("x", LeafOptions{Emails: []string{"nobody"}, Validity: time.Hour})
			return err
		},
		"key type": func() error {
			_, _, err := ca.IssueClient("x", LeafOptions{KeyType: "dsa-1024", Validity: time.Hour})
			return err
		},
	}
	for name, f := range cases {
		if f() == nil {
			t.Errorf("%s: issued", name)
		}
	}
	if _, _, err := ca.IssueServer(LeafOptions{DNSNames: []string{"*.moat.example"}, Validity: time.Hour}); err != nil {
		t.Errorf("wildcard: %v", err)
	}
	if _, err := ParseKeyType("RSA-3072"); err != nil {
		t.Error(err)
	}
	if k, err := ParseKeyType(""); err != nil || k != DefaultKeyType {
		t.Errorf("ParseKeyType(\"\") = %q, %v", k, err)
	}
}

// withUmask runs the rest of the test with the process umask set to mask.
// Tests that use it must not run in parallel.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", filepath.Base(path), got, want)
	}
}

func TestModes(t *testing.T) {
	for _, mask := range []int{0, 0o077} {
		withUmask(t, mask)
		ca, dir := newTestCA(t, CAOptions{})
		checkMode(t, filepath.Join(dir, CAKeyFile), 0o600)
		checkMode(t, filepath.Join(dir, CACertFile), 0o644)
		// NewCA creates a missing directory private to the owner.
		sub := filepath.Join(dir, "sub", "ca")
		if _, err := NewCA(sub, CAOptions{}); err != nil {
			t.Fatal(err)
		}
		checkMode(t, sub, 0o700)
		certPEM, keyPEM, err := ca.IssueServer(LeafOptions{DNSNames: []string{"x.example"}})
		if err != nil {
			t.Fatal(err)
		}
		crt, key := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
		if err := WritePair(crt, certPEM, key, keyPEM, false); err != nil {
			t.Fatal(err)
		}
		checkMode(t, key, 0o600)
		checkMode(t, crt, 0o644)
		// Forced replacement keeps the exact mode too, even from a wider one.
		if err := os.Chmod(key, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(key, keyPEM, KeyMode, true); err != nil {
			t.Fatal(err)
		}
		checkMode(t, key, 0o600)
	}
}

func TestNoOverwrite(t *testing.T) {
	ca, dir := newTestCA(t, CAOptions{})
	keyBefore, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if _, err := NewCA(dir, CAOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second NewCA: %v, want ErrExist", err)
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(dir, CAKeyFile)); !bytes.Equal(keyBefore, keyAfter) {
		t.Fatal("refused NewCA changed the key")
	}
	// A lone ca.key blocks too, so that a half CA is never completed.
	lone := t.TempDir()
	if err := os.WriteFile(filepath.Join(lone, CAKeyFile), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCA(lone, CAOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("NewCA over a lone key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lone, CACertFile)); err == nil {
		t.Fatal("refused NewCA wrote ca.crt")
	}
	forced, err := NewCA(dir, CAOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if forced.Cert.Equal(ca.Cert) {
		t.Fatal("forced NewCA kept the old CA")
	}

	p := filepath.Join(dir, "f.pem")
	if err := WriteFile(p, []byte("one"), 0o644, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o644, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite without force: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("content %q after refused write", b)
	}
	if err := WriteFile(p, []byte("two"), 0o644, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("content %q after forced write", b)
	}
	// A symbolic link at the target is replaced, never written through.
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new"), 0o600, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("write over a symlink without force: %v", err)
	}
	if err := WriteFile(link, []byte("new"), 0o600, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Fatalf("write followed the symlink: target now %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".crt" && filepath.Ext(e.Name()) != ".key" && !slices.Contains([]string{"f.pem", "target", "link"}, e.Name()) {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestLoadCA(t *testing.T) {
	ca, dir := newTestCA(t, CAOptions{CommonName: "Test CA", KeyType: KeyEd25519})
	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) || !bytes.Equal(loaded.CertPEM(), ca.CertPEM()) {
		t.Fatal("loaded CA differs")
	}
	certPEM, _, err := loaded.IssueClient("bob", LeafOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(ca, parseOne(t, certPEM), "", x509.ExtKeyUsageClientAuth); err != nil {
		t.Fatalf("certificate of the loaded CA: %v", err)
	}

	// A key that is not the CA's is refused.
	_, other := newTestCA(t, CAOptions{})
	otherKey, _ := os.ReadFile(filepath.Join(other, CAKeyFile))
	if err := WriteFile(filepath.Join(dir, CAKeyFile), otherKey, KeyMode, true); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(dir); err == nil {
		t.Fatal("LoadCA accepted a mismatched key")
	}
	// A leaf is not a CA.
	leafDir := t.TempDir()
	leafPEM, leafKey, _ := ca.IssueServer(LeafOptions{DNSNames: []string{"x.example"}})
	if err := WritePair(filepath.Join(leafDir, CACertFile), leafPEM, filepath.Join(leafDir, CAKeyFile), leafKey, false); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(leafDir); err == nil {
		t.Fatal("LoadCA accepted a leaf certificate")
	}
	if _, err := LoadCA(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadCA of an empty directory: %v", err)
	}
}

func TestCRL(t *testing.T) {
	ca, _ := newTestCA(t, CAOptions{})
	var revoked []*x509.Certificate
	for _, name := range []string{"a", "b"} {
		certPEM, _, err := ca.IssueClient(name, LeafOptions{})
		if err != nil {
			t.Fatal(err)
		}
		revoked = append(revoked, parseOne(t, certPEM))
	}
	first, err := ca.NewCRL(revoked[:1], 0)
	if err != nil {
		t.Fatal(err)
	}
	crl := checkCRL(t, ca, first, revoked[:1])
	if d := crl.NextUpdate.Sub(crl.ThisUpdate); d != DefaultCRLValidity+ClockSkew {
		t.Errorf("CRL lifetime %v", d)
	}

	// Adding b keeps a, and the number increases.
	second, err := ca.UpdateCRL(first, revoked[1:], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	crl2 := checkCRL(t, ca, second, revoked)
	if crl2.Number.Cmp(crl.Number) <= 0 {
		t.Errorf("CRL number %v after %v", crl2.Number, crl.Number)
	}
	// Revoking twice lists the serial once.
	third, err := ca.UpdateCRL(second, revoked, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	checkCRL(t, ca, third, revoked)

	// Another CA's certificate or CRL is refused.
	other, _ := newTestCA(t, CAOptions{})
	foreignPEM, _, _ := other.IssueClient("c", LeafOptions{})
	if _, err := ca.NewCRL([]*x509.Certificate{parseOne(t, foreignPEM)}, 0); err == nil {
		t.Error("CRL for another CA's certificate")
	}
	if _, err := ca.NewCRL([]*x509.Certificate{ca.Cert}, 0); err == nil {
		t.Error("CRL revoking the CA itself")
	}
	if _, err := ca.NewCRL(nil, -time.Hour); err == nil {
		t.Error("CRL with a negative lifetime")
	}
	foreignCRL, _ := other.NewCRL(nil, 0)
	if _, err := ca.UpdateCRL(foreignCRL, nil, 0); err == nil {
		t.Error("merged another CA's CRL")
	}
}

// checkCRL parses a PEM CRL, checks its signature and that it lists
// exactly the serials of want.
func checkCRL(t *testing.T, ca *CA, crlPEM []byte, want []*x509.Certificate) *x509.RevocationList {
	t.Helper()
	if !bytes.HasPrefix(crlPEM, []byte("-----BEGIN X509 CRL-----")) {
		t.Fatalf("not a PEM X509 CRL: %.40q", crlPEM)
	}
	crl, err := parseCRL(crlPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatal(err)
	}
	var got, wantSerials []*big.Int
	for _, e := range crl.RevokedCertificateEntries {
		got = append(got, e.SerialNumber)
	}
	for _, c := range want {
		wantSerials = append(wantSerials, c.SerialNumber)
	}
	if !slices.EqualFunc(got, wantSerials, func(a, b *big.Int) bool { return a.Cmp(b) == 0 }) {
		t.Fatalf("revoked %v, want %v", got, wantSerials)
	}
	return crl
}
