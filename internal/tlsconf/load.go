package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// expiryWarning is how close to expiry a certificate gets a warning.
const expiryWarning = 30 * 24 * time.Hour

// material is one immutable generation of loaded files. A reload builds a
// new one and swaps the pointer; handshakes hold on to the one they began
// with.
type material struct {
	def      *tls.Certificate
	exact    map[string]*tls.Certificate // lower-case DNS SAN -> certificate
	wildcard map[string]*tls.Certificate // "example.com" for "*.example.com"

	cas     []*x509.Certificate            // the client CA bundle
	revoked map[string]map[string]struct{} // issuerKey(CA) -> revoked serials (hex)

	config *tls.Config // handed to handshakes by GetConfigForClient
	files  filesState  // the files as they were just before being read
}

// load reads every file into a new material, reporting every problem.
func (s *Source) load() (*material, error) {
	now := time.Now()
	var errs errorList
	m := &material{
		exact:    map[string]*tls.Certificate{},
		wildcard: map[string]*tls.Certificate{},
		files:    snapshot(s.files()),
	}

	def, err := s.loadPair(s.cfg.Cert, s.cfg.Key, now)
	if err != nil {
		errs = append(errs, err)
	} else {
		m.def = def
		m.addNames(def)
	}
	for _, ck := range s.cfg.Certificates {
		c, err := s.loadPair(ck.Cert, ck.Key, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.addNames(c)
	}

	var pool *x509.CertPool
	if s.cfg.ClientCA != "" {
		m.cas, err = s.loadCAs(s.cfg.ClientCA, now)
		if err != nil {
			errs = append(errs, err)
		} else {
			pool = x509.NewCertPool()
			for _, ca := range m.cas {
				pool.AddCert(ca)
			}
			m.revoked, err = s.loadCRLs(m.cas, now)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs.join()
	}

	c := s.set.baseConfig()
	c.GetCertificate = m.certificate
	if s.set.clientAuth != tls.NoClientCert {
		c.ClientCAs = pool
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			return m.verifyConnection(cs, s.set.identity)
		}
	}
	m.config = c
	return m, nil
}

// loadPair loads one certificate chain and its key, refusing a key that
// does not match, an expired or not yet valid certificate.
func (s *Source) loadPair(certFile, keyFile string, now time.Time) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("cert: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	s.checkKeyMode(keyFile)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cert %s with key %s: %w", certFile, keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("cert %s: %w", certFile, err)
		}
	}
	leaf := pair.Leaf
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("cert %s: certificate expired on %s", certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("cert %s: certificate is not valid before %s", certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	case leaf.NotAfter.Sub(now) < expiryWarning:
		s.log.Warn("server certificate expires soon", "file", certFile,
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &pair, nil
}

// checkKeyMode warns when a private key file is open to group or others.
// Windows has no such permission bits.
func (s *Source) checkKeyMode(keyFile string) {
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		return // the read that follows or preceded reports it
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		s.log.Warn("private key file is readable by group or others; chmod 600 it",
			"file", keyFile, "mode", fmt.Sprintf("%04o", mode))
	}
}

// addNames indexes c under its DNS SANs; the first certificate to claim a
// name keeps it (the default certificate comes first).
func (m *material) addNames(c *tls.Certificate) {
	for _, name := range c.Leaf.DNSNames {
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		idx, key := m.exact, name
		if parent, ok := strings.CutPrefix(name, "*."); ok {
			idx, key = m.wildcard, parent
		}
		if _, taken := idx[key]; !taken {
			idx[key] = c
		}
	}
}

// certificate picks the certificate for the SNI server name: an exact DNS
// SAN, then a single-label wildcard, then the default.
func (m *material) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		if c, ok := m.exact[name]; ok {
			return c, nil
		}
		if _, parent, ok := strings.Cut(name, "."); ok {
			if c, ok := m.wildcard[parent]; ok {
				return c, nil
			}
		}
	}
	return m.def, nil
}

// loadCAs reads the client CA bundle: PEM certificates, at least one.
func (s *Source) loadCAs(file string, now time.Time) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("client_ca: %w", err)
	}
	var cas []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("client_ca %s: PEM block %d is %q, not CERTIFICATE", file, n, block.Type)
		}
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("client_ca %s: certificate %d: %w", file, n, err)
		}
		if now.After(ca.NotAfter) {
			s.log.Warn("client CA certificate has expired", "file", file,
				"subject", ca.Subject.String(), "not_after", ca.NotAfter.UTC().Format(time.RFC3339))
		}
		cas = append(cas, ca)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("client_ca %s: no PEM certificates found", file)
	}
	return cas, nil
}

// loadCRLs reads every CRL file and indexes the revoked serials by the CA
// of the bundle whose signature each CRL carries. A CRL that no CA in the
// bundle signed is refused.
func (s *Source) loadCRLs(cas []*x509.Certificate, now time.Time) (map[string]map[string]struct{}, error) {
	revoked := map[string]map[string]struct{}{}
	var errs errorList
	for _, file := range s.cfg.CRLs {
		crls, err := readCRLs(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, crl := range crls {
			ca := crlIssuer(crl, cas)
			if ca == nil {
				errs.addf("crl %s: issuer %q: not signed by a CA in client_ca", file, crl.Issuer.String())
				continue
			}
			if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
				s.log.Warn("CRL is past its next update; fetch a fresh one", "file", file,
					"next_update", crl.NextUpdate.UTC().Format(time.RFC3339))
			}
			set := revoked[issuerKey(ca)]
			if set == nil {
				set = map[string]struct{}{}
				revoked[issuerKey(ca)] = set
			}
			for _, e := range crl.RevokedCertificateEntries {
				set[e.SerialNumber.Text(16)] = struct{}{}
			}
		}
	}
	return revoked, errs.join()
}

// readCRLs parses a file of PEM "X509 CRL" blocks or one DER CRL.
func readCRLs(file string) ([]*x509.RevocationList, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("crl: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		crl, err := x509.ParseRevocationList(data)
		if err != nil {
			return nil, fmt.Errorf("crl %s: neither PEM nor a DER CRL: %w", file, err)
		}
		return []*x509.RevocationList{crl}, nil
	}
	var crls []*x509.RevocationList
	for n := 1; block != nil; n++ {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("crl %s: PEM block %d is %q, not X509 CRL", file, n, block.Type)
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("crl %s: CRL %d: %w", file, n, err)
		}
		crls = append(crls, crl)
		block, rest = pem.Decode(rest)
	}
	return crls, nil
}

// issuerKey identifies a CA by name and public key, not by its DER: a CA
// certificate renewed with the same key issues (and revokes) for both
// copies, and a chain may be built through either.
func issuerKey(ca *x509.Certificate) string {
	return string(ca.RawSubject) + string(ca.RawSubjectPublicKeyInfo)
}

// crlIssuer returns the CA whose subject is the CRL's issuer and whose key
// signed it, or nil.
func crlIssuer(crl *x509.RevocationList, cas []*x509.Certificate) *x509.Certificate {
	for _, ca := range cas {
		if bytes.Equal(crl.RawIssuer, ca.RawSubject) && crl.CheckSignatureFrom(ca) == nil {
			return ca
		}
	}
	return nil
}
