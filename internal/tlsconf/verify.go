package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// verifyConnection runs after Go has verified the client certificate chain
// against the CA bundle, on full handshakes and resumptions alike. It
// refuses a certificate (or intermediate) listed by its issuer's CRL, a
// leaf outside its validity period (a resumed session may outlive it), and
// a leaf that lacks the configured identity field.
func (m *material) verifyConnection(cs tls.ConnectionState, id identityField) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // no certificate: Go already enforced client_auth required
	}
	if len(cs.VerifiedChains) == 0 {
		return errors.New("client certificate was not verified")
	}
	for _, chain := range cs.VerifiedChains {
		if err := m.checkRevoked(chain); err != nil {
			return err
		}
	}
	leaf := cs.VerifiedChains[0][0]
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return fmt.Errorf("client certificate is outside its validity period (%s to %s)",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if _, ok := id.extract(leaf); !ok {
		return fmt.Errorf("certificate has no %s for the identity", id)
	}
	return nil
}

// checkRevoked refuses a chain in which a certificate is listed by the CRL
// of the certificate above it.
func (m *material) checkRevoked(chain []*x509.Certificate) error {
	if len(m.revoked) == 0 {
		return nil
	}
	for i := 0; i+1 < len(chain); i++ {
		set := m.revoked[issuerKey(chain[i+1])]
		if set == nil {
			continue
		}
		serial := chain[i].SerialNumber.Text(16)
		if _, ok := set[serial]; ok {
			return fmt.Errorf("certificate revoked: serial 0x%s (subject %q) is listed by the CRL of %q",
				serial, chain[i].Subject.String(), chain[i+1].Subject.String())
		}
	}
	return nil
}
