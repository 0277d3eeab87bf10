package scan

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/doctor"
)

// tlsVersions are the versions probed, oldest first.
var tlsVersions = []struct {
	v    uint16
	name string
}{{tls.VersionTLS10, "1.0"}, {tls.VersionTLS11, "1.1"}, {tls.VersionTLS12, "1.2"}, {tls.VersionTLS13, "1.3"}}

// handshakeResult is one TLS handshake of the checks.
type handshakeResult struct {
	chain     []*x509.Certificate // what the server presented, even when the handshake then failed
	requested bool                // the server asked for a client certificate
	required  bool                // it then refused the connection without one
	err       error
}

// negotiated reports whether the server accepted the offered version and
// suites: the handshake completed, or the server went as far as asking for
// a client certificate.
func (h handshakeResult) negotiated() bool { return h.err == nil || h.requested }

// handshake runs one TLS handshake, with mutate adjusting the
// configuration, and closes the connection. With probeRequired it also
// waits briefly for the refusal a TLS 1.3 server sends after the
// handshake when it requires a certificate the scanner did not send.
func (s *scanner) handshake(ctx context.Context, t *Target, mutate func(*tls.Config), probeRequired bool) handshakeResult {
	var h handshakeResult
	tc, err := s.tlsConfig(t)
	if err != nil {
		h.err = err
		return h
	}
	own := tc.Certificates
	tc.Certificates = nil
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		h.requested = true
		if len(own) > 0 {
			return &own[0], nil
		}
		return &tls.Certificate{}, nil
	}
	tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		for _, der := range raw {
			if c, err := x509.ParseCertificate(der); err == nil {
				h.chain = append(h.chain, c)
			}
		}
		return nil
	}
	if mutate != nil {
		mutate(tc)
	}
	conn, err := s.dialTCP(ctx, t)
	if err != nil {
		h.err = err
		return h
	}
	defer conn.Close()
	_ = conn.SetDeadline(s.deadline(ctx))
	tconn := tls.Client(conn, tc)
	if h.err = tconn.Handshake(); h.err != nil {
		h.required = h.requested && len(own) == 0
		return h
	}
	if probeRequired && h.requested && len(own) == 0 {
		_ = conn.SetReadDeadline(time.Now().Add(min(s.o.ProbeTimeout, 1500*time.Millisecond)))
		var b [1]byte
		if _, err := tconn.Read(b[:]); err != nil && !isTimeout(err) {
			h.required = true
		}
	}
	return h
}

// tlsChecks probes the TLS versions and weak suites a listener accepts,
// judges its certificate and reports whether it asks for a client one.
func (s *scanner) tlsChecks(ctx context.Context, t *Target, inv *inventory) {
	var accepted []string
	var maxLegacy uint16
	s.step(t, stepTLSVersions)
	for _, v := range tlsVersions {
		if ctx.Err() != nil {
			return
		}
		h := s.handshake(ctx, t, func(c *tls.Config) { c.MinVersion, c.MaxVersion = v.v, v.v }, false)
		if h.negotiated() {
			accepted = append(accepted, v.name)
			if v.v <= tls.VersionTLS12 {
				maxLegacy = v.v
			}
		}
	}
	inv.addf("TLS versions accepted: %s", strings.Join(accepted, ", "))
	var old []string
	for _, v := range accepted {
		if v == "1.0" || v == "1.1" {
			old = append(old, "TLS "+v)
		}
	}
	if len(old) > 0 {
		s.add(t, doctor.IDTLSOldVersion, nil, doctor.Finding{Message: "the broker accepts " + strings.Join(old, " and ")})
	}
	switch {
	case !slices.Contains(accepted, "1.3"):
		s.add(t, doctor.IDNoTLS13, nil, doctor.Finding{Message: "the broker does not negotiate TLS 1.3"})
	case slices.Contains(accepted, "1.2"):
		s.add(t, doctor.IDTLS12Allowed, nil, doctor.Finding{Message: "the broker accepts TLS 1.2 as well as 1.3"})
	}
	if maxLegacy != 0 {
		s.step(t, stepWeakSuites)
		s.weakSuites(ctx, t, maxLegacy)
	}
	if ctx.Err() != nil {
		return
	}
	s.step(t, stepCertificate)
	h := s.handshake(ctx, t, nil, true)
	switch {
	case h.required:
		inv.addf("client certificate required")
		s.add(t, doctor.IDClientCertMode, nil, doctor.Finding{Message: "the broker requires a client certificate (mutual TLS)"})
		if len(s.o.CertFile) == 0 {
			s.note(t, "the broker requires a client certificate: pass --cert and --key to probe MQTT behind it")
		}
	case h.requested:
		inv.addf("client certificate requested, not required")
		s.add(t, doctor.IDClientCertMode, nil, doctor.Finding{
			Message: "the broker asks for a client certificate but accepts connections without one"})
	case h.err == nil:
		s.add(t, doctor.IDClientCertMode, nil, doctor.Finding{Message: "the broker does not ask for a client certificate"})
	}
	s.certChecks(t, h.chain)
}

// weakSuites offers, one at a time, every TLS 1.2-and-older suite Go
// knows that lacks ECDHE or an AEAD, at the highest such version the
// broker accepts.
func (s *scanner) weakSuites(ctx context.Context, t *Target, maxV uint16) {
	var weak []string
	for _, cs := range slices.Concat(tls.CipherSuites(), tls.InsecureCipherSuites()) {
		if ctx.Err() != nil {
			return
		}
		legacy := slices.ContainsFunc(cs.SupportedVersions, func(v uint16) bool { return v <= tls.VersionTLS12 })
		if !legacy || doctor.StrongSuite(cs.Name) {
			continue
		}
		h := s.handshake(ctx, t, func(c *tls.Config) {
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, maxV
			c.CipherSuites = []uint16{cs.ID}
		}, false)
		if h.negotiated() {
			weak = append(weak, cs.Name)
		}
	}
	if len(weak) > 0 {
		s.add(t, doctor.IDTLSWeakSuite, nil, doctor.Finding{
			Message: fmt.Sprintf("the broker negotiates %d weak suite(s): %s", len(weak), strings.Join(weak, ", "))})
	}
}

// certChecks judges the certificates the broker presented and verifies
// the chain for the name the scanner connects to.
func (s *scanner) certChecks(t *Target, chain []*x509.Certificate) {
	if len(chain) == 0 {
		return
	}
	now := time.Now()
	for i, c := range chain {
		r, err := certs.Inspect(c.Raw, now)
		if err != nil || len(r.Certificates) == 0 {
			continue
		}
		ci := r.Certificates[0]
		what := "the server certificate"
		if i > 0 {
			what = "chain certificate " + ci.Subject
		}
		for _, w := range ci.Warnings {
			if id := doctor.CertWarningID(w); id != "" {
				s.add(t, id, nil, doctor.Finding{Message: what + ": " + w.Message})
			}
		}
	}
	roots, err := s.roots()
	if err != nil {
		s.note(t, "--cafile: %v", err)
		return
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	name := s.serverName(t)
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		against := "the system roots"
		if s.o.CAFile != "" {
			against = s.o.CAFile
		}
		var hn x509.HostnameError
		if errors.As(err, &hn) {
			against += " for " + name
		}
		s.add(t, doctor.IDCertUntrusted, nil, doctor.Finding{
			Message: fmt.Sprintf("the server certificate does not verify against %s: %v", against, err)})
	}
}
