package tlsconf

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/moatmq/moat/internal/config"
)

// settings are the parts of config.TLS that are not files. They are fixed
// for the life of a Source.
type settings struct {
	minVersion uint16
	suites     []uint16      // TLS 1.2 suites; TLS 1.3 suites are Go's
	curves     []tls.CurveID // nil: Go's defaults
	clientAuth tls.ClientAuthType
	identity   identityField
	groups     string // "", "none", "ou" or "o"
}

// defaultSuites are the TLS 1.2 suites used when none are configured:
// ECDHE key exchange with an AEAD, for ECDSA and RSA certificates.
var defaultSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// curveNames are the key exchange groups that may be configured.
var curveNames = map[string]tls.CurveID{
	"X25519MLKEM768": tls.X25519MLKEM768,
	"X25519":         tls.X25519,
	"P256":           tls.CurveP256,
	"P384":           tls.CurveP384,
	"P521":           tls.CurveP521,
}

// parseSettings checks and converts the non-file settings, reporting every
// problem at once.
func parseSettings(c config.TLS) (settings, error) {
	var errs errorList
	s := settings{}

	switch c.MinVersion {
	case "", "1.2":
		s.minVersion = tls.VersionTLS12
	case "1.3":
		s.minVersion = tls.VersionTLS13
	default:
		errs.addf("min_version %q: must be \"1.2\" or \"1.3\"", c.MinVersion)
	}

	s.suites = defaultSuites
	if len(c.CipherSuites) > 0 {
		s.suites = nil
		for _, name := range c.CipherSuites {
			id, err := suiteID(name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.suites = append(s.suites, id)
		}
	}

	for _, name := range c.Curves {
		id, ok := curveNames[name]
		if !ok {
			errs.addf("curves: unknown curve %q (known: X25519MLKEM768, X25519, P256, P384, P521)", name)
			continue
		}
		s.curves = append(s.curves, id)
	}

	switch c.ClientAuth {
	case "", "none":
		s.clientAuth = tls.NoClientCert
	case "optional":
		s.clientAuth = tls.VerifyClientCertIfGiven
	case "required":
		s.clientAuth = tls.RequireAndVerifyClientCert
	default:
		errs.addf("client_auth %q: must be none, optional or required", c.ClientAuth)
	}
	if s.clientAuth != tls.NoClientCert && c.ClientCA == "" {
		errs.addf("client_auth %q needs client_ca", c.ClientAuth)
	}
	if len(c.CRLs) > 0 && c.ClientCA == "" {
		errs.addf("crls need client_ca: a CRL is checked against the CA that issued it")
	}

	id, ok := identityFields[c.Identity]
	if !ok {
		errs.addf("identity %q: must be cn, san-dns, san-uri, san-email or fingerprint", c.Identity)
	}
	s.identity = id
	switch c.Groups {
	case "", "none", "ou", "o":
		s.groups = c.Groups
	default:
		errs.addf("groups %q: must be none, ou or o", c.Groups)
	}

	if c.Cert == "" || c.Key == "" {
		errs.addf("cert and key are required")
	}
	for i, ck := range c.Certificates {
		if ck.Cert == "" || ck.Key == "" {
			errs.addf("certificates[%d]: cert and key are required", i)
		}
	}
	return s, errs.join()
}

// suiteID maps a Go cipher suite name to its ID, accepting only TLS 1.2
// suites with ECDHE key exchange and an AEAD.
func suiteID(name string) (uint16, error) {
	for _, cs := range tls.InsecureCipherSuites() {
		if cs.Name == name {
			return 0, fmt.Errorf("cipher_suites: %s is insecure", name)
		}
	}
	for _, cs := range tls.CipherSuites() {
		if cs.Name != name {
			continue
		}
		if !supportsTLS12(cs) {
			return 0, fmt.Errorf("cipher_suites: %s is a TLS 1.3 suite; TLS 1.3 suites are not configurable", name)
		}
		ecdhe := strings.HasPrefix(name, "TLS_ECDHE_")
		aead := strings.Contains(name, "_GCM_") || strings.Contains(name, "_CHACHA20_POLY1305")
		if !ecdhe || !aead {
			return 0, fmt.Errorf("cipher_suites: %s refused: only ECDHE suites with AES-GCM or ChaCha20-Poly1305 are allowed", name)
		}
		return cs.ID, nil
	}
	return 0, fmt.Errorf("cipher_suites: unknown suite %q", name)
}

func supportsTLS12(cs *tls.CipherSuite) bool {
	for _, v := range cs.SupportedVersions {
		if v == tls.VersionTLS12 {
			return true
		}
	}
	return false
}

// baseConfig is the part of every tls.Config that comes from settings.
// Session tickets stay enabled (TLS 1.3 and 1.2), with the keys of the
// outer config (tickets.go).
func (s settings) baseConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       s.minVersion,
		CipherSuites:     s.suites,
		CurvePreferences: s.curves,
		ClientAuth:       s.clientAuth,
	}
}

// identityField is the certificate field that names a client.
type identityField int

const (
	identityCN identityField = iota
	identitySANDNS
	identitySANURI
	identitySANEmail
	identityFingerprint
)

// identityFields maps config names; "" is the default (cn).
var identityFields = map[string]identityField{
	"":            identityCN,
	"cn":          identityCN,
	"san-dns":     identitySANDNS,
	"san-uri":     identitySANURI,
	"san-email":   identitySANEmail,
	"fingerprint": identityFingerprint,
}

// String names the field in error messages.
func (f identityField) String() string {
	switch f {
	case identitySANDNS:
		return "DNS SAN"
	case identitySANURI:
		return "URI SAN"
	case identitySANEmail:
		return "email SAN"
	case identityFingerprint:
		return "fingerprint"
	default:
		return "common name"
	}
}

// extract returns the identity of cert; ok is false when the field is
// missing or empty.
func (f identityField) extract(cert *x509.Certificate) (string, bool) {
	var id string
	switch f {
	case identityCN:
		id = cert.Subject.CommonName
	case identitySANDNS:
		if len(cert.DNSNames) > 0 {
			id = cert.DNSNames[0]
		}
	case identitySANURI:
		if len(cert.URIs) > 0 {
			id = cert.URIs[0].String()
		}
	case identitySANEmail:
		if len(cert.EmailAddresses) > 0 {
			id = cert.EmailAddresses[0]
		}
	case identityFingerprint:
		sum := sha256.Sum256(cert.Raw)
		id = hex.EncodeToString(sum[:])
	}
	return id, id != ""
}

// Bounds of the groups taken from a certificate.
const (
	maxCertGroups    = 32
	maxCertGroupSize = 256
)

// certGroups returns the groups of cert as configured: the subject's
// organizational units or organizations, empty values dropped, at most
// maxCertGroups of at most maxCertGroupSize bytes each.
func (s *settings) certGroups(cert *x509.Certificate) []string {
	var from []string
	switch s.groups {
	case "ou":
		from = cert.Subject.OrganizationalUnit
	case "o":
		from = cert.Subject.Organization
	}
	var out []string
	for _, g := range from {
		if g == "" || len(g) > maxCertGroupSize {
			continue
		}
		if out = append(out, g); len(out) == maxCertGroups {
			break
		}
	}
	return out
}
