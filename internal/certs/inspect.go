package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// Thresholds Inspect applies.
const (
	// MinRSABits and MinECBits are the smallest keys that are not weak.
	MinRSABits = 2048
	MinECBits  = 256
	// ExpiryWarning is how close to NotAfter a certificate draws a warning.
	ExpiryWarning = 30 * 24 * time.Hour
	// MaxServerValidity is the longest lifetime browsers accept for a
	// server certificate (CA/Browser Forum baseline, 398 days).
	MaxServerValidity = 398 * 24 * time.Hour
)

// Severity ranks a Warning.
type Severity int

// Severities, least serious first. Severe means the certificate or key
// must not be used: expired, not yet valid, weak key or weak signature.
const (
	Note Severity = iota
	Warn
	Severe
)

func (s Severity) String() string {
	switch s {
	case Note:
		return "note"
	case Warn:
		return "warning"
	case Severe:
		return "SEVERE"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// Warning is one finding about a certificate or key.
type Warning struct {
	Severity Severity
	Message  string
}

func (w Warning) String() string { return w.Severity.String() + ": " + w.Message }

// KeyInfo describes a public or private key.
type KeyInfo struct {
	// Algorithm is "RSA", "ECDSA", "Ed25519" or "unknown".
	Algorithm string
	// Bits is the RSA modulus size or the curve size (Ed25519: 256).
	Bits int
	// Curve is the elliptic curve name ("P-256"), empty for RSA.
	Curve string
}

func (k KeyInfo) String() string {
	switch {
	case k.Curve != "":
		return k.Algorithm + " " + k.Curve
	case k.Bits > 0:
		return fmt.Sprintf("%s %d bits", k.Algorithm, k.Bits)
	}
	return k.Algorithm
}

// CertInfo describes one certificate.
type CertInfo struct {
	Subject, Issuer string
	// Serial is the serial number in lowercase hex.
	Serial             string
	DNSNames           []string
	IPAddresses        []string
	Emails             []string
	URIs               []string
	Key                KeyInfo
	SignatureAlgorithm string
	NotBefore          time.Time
	NotAfter           time.Time
	IsCA               bool
	SelfSigned         bool
	// ExtKeyUsage names the extended key usages ("serverAuth", "clientAuth").
	ExtKeyUsage []string
	// Fingerprint is Fingerprint(cert): lowercase hex SHA-256 of the DER,
	// without colons.
	Fingerprint string
	Warnings    []Warning
}

// PrivateKeyInfo describes one private key block.
type PrivateKeyInfo struct {
	Key KeyInfo
	// Encrypted is set for an "ENCRYPTED PRIVATE KEY" block, whose
	// algorithm cannot be read without the passphrase.
	Encrypted bool
	Warnings  []Warning
}

// CRLInfo describes one certificate revocation list.
type CRLInfo struct {
	Issuer     string
	Number     string
	ThisUpdate time.Time
	NextUpdate time.Time
	// Revoked lists the revoked serial numbers in lowercase hex.
	Revoked  []string
	Warnings []Warning
}

// Report is what Inspect found in one file, in file order per kind.
type Report struct {
	Certificates []CertInfo
	Keys         []PrivateKeyInfo
	CRLs         []CRLInfo
	// Warnings apply to the file as a whole (its mode, skipped blocks).
	Warnings []Warning
}

// All returns every warning of the report.
func (r *Report) All() []Warning {
	all := slices.Clone(r.Warnings)
	for _, c := range r.Certificates {
		all = append(all, c.Warnings...)
	}
	for _, k := range r.Keys {
		all = append(all, k.Warnings...)
	}
	for _, c := range r.CRLs {
		all = append(all, c.Warnings...)
	}
	return all
}

// Severe reports whether any warning is Severe.
func (r *Report) Severe() bool {
	return slices.ContainsFunc(r.All(), func(w Warning) bool { return w.Severity == Severe })
}

// Fingerprint returns the SHA-256 of the certificate's DER as lowercase hex
// without separators. It is the form Moat's mutual-TLS "fingerprint"
// identity uses.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// InspectFile inspects the file at path as Inspect does at the current
// time, and warns when the file holds a private key and can be read by
// its group or by others.
func InspectFile(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := Inspect(data, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Keys) > 0 {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			r.Warnings = append(r.Warnings, Warning{Warn, fmt.Sprintf(
				"private key file mode is %04o: readable or writable by group or others (want 0600: chmod 600 %s)", mode, path)})
		}
	}
	return r, nil
}

// Inspect describes every certificate, private key and CRL in a PEM file,
// or the certificates (or key, or CRL) of a DER file, judged at time now.
func Inspect(pemOrDER []byte, now time.Time) (*Report, error) {
	r := &Report{}
	rest := bytes.TrimSpace(pemOrDER)
	blocks := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		blocks++
		if err := r.add(block.Type, block.Bytes, now); err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", blocks, block.Type, err)
		}
	}
	if blocks > 0 {
		return r, nil
	}
	for _, typ := range []string{"CERTIFICATE", "PRIVATE KEY", "X509 CRL"} {
		if err := r.add(typ, pemOrDER, now); err == nil {
			return r, nil
		}
		*r = Report{}
	}
	return nil, errors.New("neither PEM nor a DER certificate, PKCS #8 key or CRL")
}

// add inspects one block by its PEM type.
func (r *Report) add(typ string, der []byte, now time.Time) error {
	switch typ {
	case "CERTIFICATE":
		certs, err := x509.ParseCertificates(der)
		if err != nil {
			return err
		}
		for _, c := range certs {
			r.Certificates = append(r.Certificates, inspectCert(c, now))
		}
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		key, err := ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
		if err != nil {
			return err
		}
		info := PrivateKeyInfo{Key: describeKey(key.Public())}
		info.Warnings = keyWarnings(info.Key)
		r.Keys = append(r.Keys, info)
	case "ENCRYPTED PRIVATE KEY":
		r.Keys = append(r.Keys, PrivateKeyInfo{Key: KeyInfo{Algorithm: "unknown"}, Encrypted: true,
			Warnings: []Warning{{Note, "encrypted private key: algorithm and size not inspected"}}})
	case "X509 CRL":
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return err
		}
		r.CRLs = append(r.CRLs, inspectCRL(crl, now))
	default:
		r.Warnings = append(r.Warnings, Warning{Note, fmt.Sprintf("skipped PEM block of type %q", typ)})
	}
	return nil
}

// inspectCert describes one certificate and judges it.
func inspectCert(c *x509.Certificate, now time.Time) CertInfo {
	info := CertInfo{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		Serial:             hex.EncodeToString(c.SerialNumber.Bytes()),
		DNSNames:           c.DNSNames,
		Emails:             c.EmailAddresses,
		Key:                describeKey(c.PublicKey),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		NotBefore:          c.NotBefore,
		NotAfter:           c.NotAfter,
		IsCA:               c.BasicConstraintsValid && c.IsCA,
		SelfSigned:         selfSigned(c),
		Fingerprint:        Fingerprint(c),
	}
	for _, ip := range c.IPAddresses {
		info.IPAddresses = append(info.IPAddresses, ip.String())
	}
	for _, u := range c.URIs {
		info.URIs = append(info.URIs, u.String())
	}
	for _, u := range c.ExtKeyUsage {
		info.ExtKeyUsage = append(info.ExtKeyUsage, extKeyUsageName(u))
	}
	info.Warnings = certWarnings(c, info, now)
	return info
}

// certWarnings judges a certificate; see the Severity constants.
func certWarnings(c *x509.Certificate, info CertInfo, now time.Time) []Warning {
	ws := keyWarnings(info.Key)
	switch c.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		if info.SelfSigned && info.IsCA {
			// Nobody relies on a root's signature over itself.
			ws = append(ws, Warning{Note, "self-signature uses " + c.SignatureAlgorithm.String() + " (harmless on a root, but replace it)"})
		} else {
			ws = append(ws, Warning{Severe, "weak signature algorithm " + c.SignatureAlgorithm.String()})
		}
	case x509.UnknownSignatureAlgorithm:
		ws = append(ws, Warning{Severe, "unknown signature algorithm"})
	}
	switch {
	case now.After(c.NotAfter):
		ws = append(ws, Warning{Severe, "expired on " + c.NotAfter.UTC().Format(time.RFC3339)})
	case now.Before(c.NotBefore):
		ws = append(ws, Warning{Severe, "not valid before " + c.NotBefore.UTC().Format(time.RFC3339)})
	case c.NotAfter.Sub(now) < ExpiryWarning:
		days := int(c.NotAfter.Sub(now).Hours() / 24)
		ws = append(ws, Warning{Warn, fmt.Sprintf("expires in %d days, on %s", days, c.NotAfter.UTC().Format(time.RFC3339))})
	}
	server := !info.IsCA && (slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) ||
		slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny))
	if server {
		if life := c.NotAfter.Sub(c.NotBefore); life > MaxServerValidity {
			ws = append(ws, Warning{Note, fmt.Sprintf("valid for %d days; public clients accept at most 398 for a server certificate", int(life.Hours()/24))})
		}
		if len(c.DNSNames) == 0 && len(c.IPAddresses) == 0 {
			ws = append(ws, Warning{Warn, "server certificate without DNS or IP subject alternative names: clients ignore the CN and will refuse it"})
		}
	}
	if !info.IsCA && info.SelfSigned {
		ws = append(ws, Warning{Warn, "self-signed leaf certificate: clients must pin it, no CA vouches for it"})
	}
	if info.IsCA && c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		ws = append(ws, Warning{Warn, "CA certificate without the certSign key usage cannot issue certificates"})
	}
	return ws
}

// keyWarnings judges a key's strength.
func keyWarnings(k KeyInfo) []Warning {
	switch {
	case k.Algorithm == "RSA" && k.Bits < MinRSABits:
		return []Warning{{Severe, fmt.Sprintf("weak key: RSA %d bits (want at least %d)", k.Bits, MinRSABits)}}
	case k.Algorithm == "ECDSA" && k.Bits < MinECBits:
		return []Warning{{Severe, fmt.Sprintf("weak key: EC %d bits (want at least %d)", k.Bits, MinECBits)}}
	case k.Algorithm == "unknown":
		return []Warning{{Warn, "unsupported key algorithm"}}
	}
	return nil
}

// selfSigned reports whether c names itself as issuer and its signature
// verifies with its own key. A signature Go refuses as insecure (SHA-1,
// MD5) still counts when the key identifiers agree.
func selfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawSubject, c.RawIssuer) {
		return false
	}
	if len(c.AuthorityKeyId) > 0 && !bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId) {
		return false
	}
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}

// describeKey names a public key's algorithm and size.
func describeKey(pub crypto.PublicKey) KeyInfo {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return KeyInfo{Algorithm: "RSA", Bits: k.N.BitLen()}
	case *ecdsa.PublicKey:
		return KeyInfo{Algorithm: "ECDSA", Bits: k.Curve.Params().BitSize, Curve: k.Curve.Params().Name}
	case ed25519.PublicKey:
		return KeyInfo{Algorithm: "Ed25519", Bits: 256}
	}
	return KeyInfo{Algorithm: "unknown"}
}

// inspectCRL describes one revocation list.
func inspectCRL(crl *x509.RevocationList, now time.Time) CRLInfo {
	info := CRLInfo{Issuer: crl.Issuer.String(), ThisUpdate: crl.ThisUpdate, NextUpdate: crl.NextUpdate}
	if crl.Number != nil {
		info.Number = crl.Number.String()
	}
	for _, e := range crl.RevokedCertificateEntries {
		info.Revoked = append(info.Revoked, hex.EncodeToString(e.SerialNumber.Bytes()))
	}
	switch {
	case !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate):
		info.Warnings = append(info.Warnings, Warning{Severe, "stale: next update was due " + crl.NextUpdate.UTC().Format(time.RFC3339)})
	case now.Before(crl.ThisUpdate):
		info.Warnings = append(info.Warnings, Warning{Severe, "not valid before " + crl.ThisUpdate.UTC().Format(time.RFC3339)})
	case !crl.NextUpdate.IsZero() && crl.NextUpdate.Sub(now) < 7*24*time.Hour:
		info.Warnings = append(info.Warnings, Warning{Warn, "next update due " + crl.NextUpdate.UTC().Format(time.RFC3339)})
	}
	return info
}

var extKeyUsageNames = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny:             "any",
	x509.ExtKeyUsageServerAuth:      "serverAuth",
	x509.ExtKeyUsageClientAuth:      "clientAuth",
	x509.ExtKeyUsageCodeSigning:     "codeSigning",
	x509.ExtKeyUsageEmailProtection: "emailProtection",
	x509.ExtKeyUsageTimeStamping:    "timeStamping",
	x509.ExtKeyUsageOCSPSigning:     "OCSPSigning",
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	if n, ok := extKeyUsageNames[u]; ok {
		return n
	}
	return fmt.Sprintf("extKeyUsage(%d)", int(u))
}
