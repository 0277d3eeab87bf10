// Package certs creates a small local certificate authority and the
// server and client certificates Moat's TLS listeners use, writes keys with
// exact permissions, and inspects certificate and key files for problems.
//
// It uses only the standard library. Private keys are written as PKCS #8
// PEM ("PRIVATE KEY") with mode 0600; certificates as PEM "CERTIFICATE"
// with mode 0644.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KeyType names a key algorithm and size.
type KeyType string

// The supported key types. The zero value means KeyECDSAP256.
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyECDSAP384 KeyType = "ecdsa-p384"
	KeyRSA2048   KeyType = "rsa-2048"
	KeyRSA3072   KeyType = "rsa-3072"
	KeyRSA4096   KeyType = "rsa-4096"
	KeyEd25519   KeyType = "ed25519"

	// DefaultKeyType is used when a KeyType is empty.
	DefaultKeyType = KeyECDSAP256
)

// KeyTypes lists the supported key types, the default first.
var KeyTypes = []KeyType{KeyECDSAP256, KeyECDSAP384, KeyRSA2048, KeyRSA3072, KeyRSA4096, KeyEd25519}

// Default validities and the allowance for clock skew.
const (
	DefaultCAValidity     = 10 * 365 * 24 * time.Hour
	DefaultServerValidity = 397 * 24 * time.Hour
	DefaultClientValidity = 365 * 24 * time.Hour
	DefaultCRLValidity    = 30 * 24 * time.Hour
	// ClockSkew is subtracted from the issuing time to form NotBefore, so
	// that a peer whose clock is slightly behind accepts a fresh
	// certificate.
	ClockSkew = 5 * time.Minute
	// DefaultCACommonName is the subject CN of a CA without CAOptions.CommonName.
	DefaultCACommonName = "Moat local CA"
)

// File names inside a CA directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// ParseKeyType returns the KeyType named s; "" gives DefaultKeyType.
func ParseKeyType(s string) (KeyType, error) {
	if s == "" {
		return DefaultKeyType, nil
	}
	for _, k := range KeyTypes {
		if string(k) == strings.ToLower(s) {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown key type %q (want one of %s)", s, keyTypeNames())
}

func keyTypeNames() string {
	names := make([]string, len(KeyTypes))
	for i, k := range KeyTypes {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// generate creates a fresh private key of type k.
func (k KeyType) generate() (crypto.Signer, error) {
	switch k {
	case "", KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case KeyRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case KeyEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("unknown key type %q (want one of %s)", string(k), keyTypeNames())
}

// CAOptions configures NewCA. The zero value is valid.
type CAOptions struct {
	// CommonName is the subject CN. Default DefaultCACommonName.
	CommonName string
	// KeyType is the CA key algorithm. Default DefaultKeyType.
	KeyType KeyType
	// Validity is the lifetime from now. Default DefaultCAValidity.
	Validity time.Duration
	// Force overwrites an existing ca.crt and ca.key.
	Force bool
	// IssuedAt is the issuing time; zero means time.Now(). For tests.
	IssuedAt time.Time
}

// CA is a certificate authority: its certificate and private key. The key
// never leaves the value except through the files NewCA writes.
type CA struct {
	// Cert is the CA certificate; it is self-signed, with IsCA set and
	// MaxPathLen 0 (it signs only leaves).
	Cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

// CertPEM returns the CA certificate as PEM.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// NewCA creates a self-signed CA and writes dir/ca.crt (0644) and
// dir/ca.key (0600), creating dir (0700) when missing. Without opts.Force
// it refuses, before writing anything, when either file exists.
func NewCA(dir string, opts CAOptions) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	if !opts.Force {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("%s: %w", p, os.ErrExist)
			}
		}
	}
	ca, keyPEM, err := newCA(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := WritePair(certPath, ca.certPEM, keyPath, keyPEM, opts.Force); err != nil {
		return nil, err
	}
	return ca, nil
}

// newCA creates the CA in memory and returns it with its key as PEM.
func newCA(opts CAOptions) (*CA, []byte, error) {
	if opts.Validity < 0 {
		return nil, nil, errors.New("CA validity must be positive")
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultCAValidity
	}
	if opts.CommonName == "" {
		opts.CommonName = DefaultCACommonName
	}
	key, err := opts.KeyType.generate()
	if err != nil {
		return nil, nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := issuedAt(opts.IssuedAt)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &CA{Cert: cert, certPEM: encodeCert(der), key: key}, keyPEM, nil
}

// LoadCA reads dir/ca.crt and dir/ca.key and checks that the certificate
// is a CA and that the key belongs to it.
func LoadCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s: not a CA certificate (basic constraints CA and key usage certSign required)", certPath)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match the public key of %s", keyPath, certPath)
	}
	return &CA{Cert: cert, certPEM: encodeCert(block.Bytes), key: key}, nil
}

// ParsePrivateKeyPEM parses the first private key PEM block: PKCS #8
// ("PRIVATE KEY"), PKCS #1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key block")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported")
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		return signer, nil
	}
}

// LeafOptions configures IssueServer and IssueClient.
type LeafOptions struct {
	// DNSNames and IPs are subject alternative names. A server certificate
	// needs at least one of them.
	DNSNames []string
	IPs      []net.IP
	// Emails and URIs are further subject alternative names, typically for
	// client certificates (a SPIFFE ID is a URI).
	Emails []string
	URIs   []*url.URL
	// KeyType is the leaf key algorithm. Default DefaultKeyType.
	KeyType KeyType
	// Validity is the lifetime from now. Default DefaultServerValidity or
	// DefaultClientValidity. It may not extend past the CA's NotAfter.
	Validity time.Duration
	// IssuedAt is the issuing time; zero means time.Now(). For tests.
	IssuedAt time.Time
}

// IssueServer issues a server certificate (ExtKeyUsage ServerAuth) for the
// DNS names and IPs in opts. Its CN is the first DNS name, else the first IP.
func (ca *CA) IssueServer(opts LeafOptions) (certPEM, keyPEM []byte, err error) {
	if len(opts.DNSNames) == 0 && len(opts.IPs) == 0 {
		return nil, nil, errors.New("a server certificate needs at least one DNS name or IP address")
	}
	var cn string
	if len(opts.DNSNames) > 0 {
		cn = opts.DNSNames[0]
	} else {
		cn = opts.IPs[0].String()
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultServerValidity
	}
	return ca.issue(cn, x509.ExtKeyUsageServerAuth, opts)
}

// IssueClient issues a client certificate (ExtKeyUsage ClientAuth) whose
// CN is name, with the optional SANs in opts.
func (ca *CA) IssueClient(name string, opts LeafOptions) (certPEM, keyPEM []byte, err error) {
	if strings.TrimSpace(name) == "" {
		return nil, nil, errors.New("a client certificate needs a name")
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultClientValidity
	}
	return ca.issue(name, x509.ExtKeyUsageClientAuth, opts)
}

// issue creates, signs and encodes one leaf certificate and its key.
func (ca *CA) issue(cn string, eku x509.ExtKeyUsage, opts LeafOptions) ([]byte, []byte, error) {
	if err := checkSANs(opts); err != nil {
		return nil, nil, err
	}
	if opts.Validity < 0 {
		return nil, nil, errors.New("validity must be positive")
	}
	now := issuedAt(opts.IssuedAt)
	notAfter := now.Add(opts.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		return nil, nil, fmt.Errorf("validity ends %s, after the CA expires (%s)",
			notAfter.UTC().Format(time.DateOnly), ca.Cert.NotAfter.UTC().Format(time.DateOnly))
	}
	key, err := opts.KeyType.generate()
	if err != nil {
		return nil, nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := key.(*rsa.PrivateKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{eku},
		BasicConstraintsValid: true,
		SubjectKeyId:          skid,
		DNSNames:              opts.DNSNames,
		IPAddresses:           opts.IPs,
		EmailAddresses:        opts.Emails,
		URIs:                  opts.URIs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// checkSANs refuses names that would produce a certificate no client can
// match.
func checkSANs(opts LeafOptions) error {
	for _, d := range opts.DNSNames {
		if d == "" || strings.ContainsAny(d, " \t/:@,") || strings.Contains(d, "..") {
			return fmt.Errorf("invalid DNS name %q", d)
		}
		if strings.Contains(d[1:], "*") || (d[0] == '*' && !strings.HasPrefix(d, "*.")) {
			return fmt.Errorf("invalid DNS name %q: a wildcard is allowed only as the whole leftmost label", d)
		}
	}
	for _, ip := range opts.IPs {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return fmt.Errorf("invalid IP address %v", ip)
		}
	}
	for _, e := range opts.Emails {
		at := strings.LastIndexByte(e, '@')
		if at <= 0 || at == len(e)-1 || strings.ContainsAny(e, " \t<>") {
			return fmt.Errorf("invalid email address %q", e)
		}
	}
	for _, u := range opts.URIs {
		if u == nil || u.Scheme == "" {
			return fmt.Errorf("invalid URI %v: a scheme is required", u)
		}
	}
	return nil
}

// NewCRL returns a PEM "X509 CRL" signed by the CA that revokes the given
// certificates, valid for nextUpdate (DefaultCRLValidity when zero). Each
// certificate must have been issued by this CA.
func (ca *CA) NewCRL(revoked []*x509.Certificate, nextUpdate time.Duration) ([]byte, error) {
	return ca.UpdateCRL(nil, revoked, nextUpdate)
}

// UpdateCRL is NewCRL that also keeps the entries of existing, a PEM or
// DER CRL that this CA signed (nil for none). Re-issuing a CRL this way
// never drops an earlier revocation; the CRL number increases.
func (ca *CA) UpdateCRL(existing []byte, revoked []*x509.Certificate, nextUpdate time.Duration) ([]byte, error) {
	if nextUpdate < 0 {
		return nil, errors.New("CRL next update must be positive")
	}
	if nextUpdate == 0 {
		nextUpdate = DefaultCRLValidity
	}
	now := time.Now()
	number := big.NewInt(now.UnixMilli())
	var entries []x509.RevocationListEntry
	seen := make(map[string]bool)
	if len(existing) > 0 {
		old, err := parseCRL(existing)
		if err != nil {
			return nil, fmt.Errorf("existing CRL: %w", err)
		}
		if err := old.CheckSignatureFrom(ca.Cert); err != nil {
			return nil, fmt.Errorf("existing CRL was not signed by this CA: %w", err)
		}
		for _, e := range old.RevokedCertificateEntries {
			if !seen[e.SerialNumber.String()] {
				seen[e.SerialNumber.String()] = true
				entries = append(entries, x509.RevocationListEntry{SerialNumber: e.SerialNumber, RevocationTime: e.RevocationTime})
			}
		}
		if old.Number != nil && old.Number.Cmp(number) >= 0 {
			number = new(big.Int).Add(old.Number, big.NewInt(1))
		}
	}
	for _, c := range revoked {
		if c.Equal(ca.Cert) {
			return nil, errors.New("the CA cannot revoke itself: replace the CA instead")
		}
		if err := c.CheckSignatureFrom(ca.Cert); err != nil {
			return nil, fmt.Errorf("certificate %s (serial %x) was not issued by this CA: %w", c.Subject, c.SerialNumber, err)
		}
		if !seen[c.SerialNumber.String()] {
			seen[c.SerialNumber.String()] = true
			entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: now.UTC()})
		}
	}
	tmpl := &x509.RevocationList{
		RevokedCertificateEntries: entries,
		Number:                    number,
		ThisUpdate:                now.Add(-ClockSkew),
		NextUpdate:                now.Add(nextUpdate),
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.key)
	if err != nil {
		return nil, fmt.Errorf("create CRL: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}

// parseCRL parses a PEM ("X509 CRL") or DER revocation list.
func parseCRL(data []byte) (*x509.RevocationList, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q is not an X509 CRL", block.Type)
		}
		data = block.Bytes
	}
	return x509.ParseRevocationList(data)
}

// ParseCertificatesPEM returns every CERTIFICATE block of a PEM file, or
// the certificates of a DER file.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		c, err := x509.ParseCertificates(data)
		if err != nil || len(c) == 0 {
			return nil, errors.New("no certificate found")
		}
		certs = c
	}
	return certs, nil
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID is the first 160 bits of the SHA-256 of the subjectPublicKey
// BIT STRING (RFC 7093, section 2, method 1).
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(info.PublicKey.Bytes)
	return sum[:20], nil
}

func issuedAt(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
