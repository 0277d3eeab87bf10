package test

// Client certificates on a listener with client_auth required, client_ca,
// a CRL and identity san-email: every bad certificate is refused during
// the TLS handshake, and the broker log says why.

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// TestTransport_ClientCertificates: the valid certificate connects; an
// expired, not yet valid, unknown-CA, revoked and email-less certificate
// are each refused, with TLS 1.2 (the handshake itself fails) and TLS 1.3
// (the client's handshake completes first; the broker's alert ends the
// connection before any MQTT). Each refusal is logged as "TLS handshake
// failed" for that connection with its reason.
func TestTransport_ClientCertificates(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		c.Listeners = []config.Listener{mtlsListener(p, "mtls")}
	})
	addr := b.addr(0)
	versions := []struct {
		name string
		v    uint16
	}{{"tls1.2", tls.VersionTLS12}, {"tls1.3", tls.VersionTLS13}}

	for _, v := range versions {
		t.Run(v.name+"/"+clientValid, func(t *testing.T) {
			t.Parallel()
			cert := p.clientPair(t, clientValid)
			c, err := dialTLS(addr, p, &cert, func(c *tls.Config) { c.MaxVersion = v.v })
			if err != nil {
				t.Fatalf("valid client certificate: %v\nbroker log:\n%s", err, b.log.String())
			}
			rc := rawOver(t, c)
			rc.connect(rawConnect{Version: 4, ClientID: "cert-valid-" + v.name, Clean: true})
			rc.ping()
		})
	}

	for _, tc := range []struct {
		cert   string
		reason []string // all in the broker's log line
	}{
		// x509: certificate has expired or is not yet valid: current time X is after/before Y
		{clientExpired, []string{"expired", "is after"}},
		{clientNotYet, []string{"not yet valid", "is before"}},
		{clientOtherCA, []string{"unknown authority"}},
		{clientRevoked, []string{"revoked"}},
		{clientNoEmailSAN, []string{"email SAN"}},
	} {
		for _, v := range versions {
			t.Run(v.name+"/"+tc.cert, func(t *testing.T) {
				t.Parallel()
				nc, err := net.DialTimeout("tcp", addr, waitTimeout)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				cert := p.clientPair(t, tc.cert)
				// GetClientCertificate, not Certificates: Go's client
				// would withhold a certificate the broker's CA list does
				// not name (other-ca); real clients send it anyway.
				c := tls.Client(nc, &tls.Config{RootCAs: p.pool(), ServerName: "127.0.0.1", MaxVersion: v.v,
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
				_ = c.SetDeadline(time.Now().Add(waitTimeout))
				err = c.Handshake()
				if err == nil {
					// TLS 1.3: the client is done before the broker
					// checked its certificate. No CONNACK may follow.
					if _, werr := c.Write(rawConnect{Version: 4, ClientID: "cert-" + tc.cert, Clean: true}.bytes()); werr != nil {
						err = werr
					} else {
						buf := make([]byte, 16)
						n, rerr := c.Read(buf)
						if rerr == nil {
							t.Fatalf("%s certificate: broker answered % x", tc.cert, buf[:n])
						}
						err = rerr
					}
				}
				t.Logf("client side: %v", err)
				line := b.log.waitLine(t, 5*time.Second, "TLS handshake failed", "remote=127.0.0.1:"+localPort(nc))
				if !containsAll(line, tc.reason) {
					t.Errorf("%s certificate: the log line does not give the reason %q:\n%s", tc.cert, tc.reason, line)
				}
			})
		}
	}
}

// TestTransport_ClientCertificates_Optional: with client_auth optional a
// client without a certificate connects, and one with a valid certificate
// too; a certificate that is presented is still verified, so a revoked or
// unknown-CA one is refused.
func TestTransport_ClientCertificates_Optional(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		l := mtlsListener(p, "optional")
		l.TLS.ClientAuth = "optional"
		c.Listeners = []config.Listener{l}
	})
	for _, name := range []string{"", clientValid} {
		var cert *tls.Certificate
		if name != "" {
			c := p.clientPair(t, name)
			cert = &c
		}
		c, err := dialTLS(b.addr(0), p, cert, nil)
		if err != nil {
			t.Fatalf("client certificate %q on an optional listener: %v", name, err)
		}
		rawOver(t, c).connect(rawConnect{Version: 4, ClientID: "optional-" + name, Clean: true})
	}
	for _, name := range []string{clientRevoked, clientOtherCA} {
		cert := p.clientPair(t, name)
		c, err := dialTLS(b.addr(0), p, nil, func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		})
		if err == nil {
			c.Close()
			t.Errorf("%s certificate accepted on an optional listener", name)
		}
	}
}
