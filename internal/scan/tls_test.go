package scan

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/testutil"
)

// tlsBroker serves TLS with cfg on loopback and answers nothing after the
// handshake; it returns the address.
func tlsBroker(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				silent(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// expiredCert is a self-signed RSA certificate for localhost that expired
// a day ago.
func expiredCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestScanWeakTLS: a listener with TLS 1.0, RSA key exchange and CBC, an
// expired self-signed certificate and no TLS 1.3 is reported for each.
func TestScanWeakTLS(t *testing.T) {
	t.Parallel()
	addr := tlsBroker(t, &tls.Config{
		Certificates: []tls.Certificate{expiredCert(t)},
		MinVersion:   tls.VersionTLS10, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
	})
	res := run(t, Options{ProbeTimeout: time.Second, IdleWait: -1, ServerName: "localhost"}, "mqtts://"+addr)
	want(t, res.Findings, doctor.IDTLSOldVersion, doctor.IDTLSWeakSuite, doctor.IDNoTLS13, doctor.IDCertExpired,
		doctor.IDCertUntrusted, doctor.IDCertOther, doctor.IDClientCertMode)
	if f, _ := find(res.Findings, doctor.IDTLSWeakSuite); !strings.Contains(f.Message, "TLS_RSA_WITH_AES_128_CBC_SHA") ||
		strings.Contains(f.Message, "GCM") {
		t.Errorf("weak suites: %s", f)
	}
	none(t, res.Findings, doctor.IDPlainText) // no MQTT answered: nothing to say about plain text
}

// TestScanClientCertRequired: a listener that requires a client
// certificate is reported as such, over TLS 1.3 (where the refusal comes
// after the handshake) and TLS 1.2.
func TestScanClientCertRequired(t *testing.T) {
	t.Parallel()
	for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		addr := tlsBroker(t, &tls.Config{Certificates: []tls.Certificate{expiredCert(t)},
			ClientAuth: tls.RequireAnyClientCert, MaxVersion: max})
		res := run(t, Options{ProbeTimeout: time.Second, IdleWait: -1}, "mqtts://"+addr)
		if f, ok := find(res.Findings, doctor.IDClientCertMode); !ok || !strings.Contains(f.Message, "requires") {
			t.Errorf("max TLS %x: client certificate mode: %s", max, f)
		}
		if f, _ := find(res.Findings, doctor.IDScanInventory); !strings.Contains(f.Message, "1.2") {
			t.Errorf("max TLS %x: the versions behind a required certificate are not seen: %s", max, f)
		}
	}
}

// TestScanWebSocket: MQTT over plain WebSocket is plain text, and an
// endpoint that accepts any Origin is reported; one with the default
// (no browser origins) is not.
func TestScanWebSocket(t *testing.T) {
	t.Parallel()
	_, srv := testutil.Start(t, func(c *config.Config) {
		c.Listeners = []config.Listener{
			{Name: "ws-any", Address: "127.0.0.1:0", Transport: "ws", WebSocket: config.WebSocket{AllowedOrigins: []string{"*"}}},
			{Name: "ws", Address: "127.0.0.1:0", Transport: "ws"},
		}
	})
	anyOrigin := "ws://" + srv.Addrs()[0].String() + "/mqtt"
	strict := "ws://" + srv.Addrs()[1].String() + "/mqtt"
	res := run(t, Options{IdleWait: -1, Listen: 300 * time.Millisecond}, anyOrigin, strict)
	var origins []string
	for _, f := range res.Findings {
		if f.ID == doctor.IDWSAnyOrigin {
			origins = append(origins, f.Target)
		}
	}
	if len(origins) != 1 || origins[0] != anyOrigin {
		t.Errorf("any-origin findings on %v, want only %s", origins, anyOrigin)
	}
	want(t, res.Findings, doctor.IDPlainText, doctor.IDAnonymousExposed)
	if len(res.Failed) > 0 {
		t.Errorf("failed: %v", res.Failed)
	}
}

// TestParseTarget: the forms a target may take, and what is refused
// before any connection.
func TestParseTarget(t *testing.T) {
	good := map[string]string{
		"127.0.0.1:1883":           "127.0.0.1:1883",
		"[::1]:8883":               "[::1]:8883",
		"mqtt://localhost":         "mqtt://localhost:1883",
		"mqtts://broker.lan":       "mqtts://broker.lan:8883",
		"tls://10.0.0.1:9999":      "mqtts://10.0.0.1:9999",
		"ws://10.0.0.2":            "ws://10.0.0.2:80/mqtt",
		"wss://10.0.0.2:8443/path": "wss://10.0.0.2:8443/path",
	}
	for in, out := range good {
		tg, err := ParseTarget(in)
		if err != nil || tg.String() != out {
			t.Errorf("ParseTarget(%q) = %v, %v; want %s", in, tg, err, out)
		}
	}
	for _, bad := range []string{"", "localhost", "host:0", "host:70000", "http://x:1", "mqtt://u:p@host:1883",
		"mqtt://host:1883/path", "0.0.0.0:1883", "224.0.0.1:1883", "host :1883", "a\x1b[2J:1883", ":1883"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

// TestPublicTargetsRefused: a public address is refused unless allowed,
// before any probe; a name is checked on every address it resolves to.
func TestPublicTargetsRefused(t *testing.T) {
	for _, target := range []string{"8.8.8.8:1883", "mqtts://[2001:4860:4860::8888]:8883"} {
		_, err := Run(t.Context(), []string{target}, Options{})
		if err == nil || !strings.Contains(err.Error(), "--allow-public") {
			t.Errorf("Run(%s) = %v, want a refusal naming --allow-public", target, err)
		}
	}
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.4", "fd00::1", "::1", "169.254.1.1"} {
		if !allowedAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s refused", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "100.64.0.1", "2001:db8::1", "::ffff:8.8.8.8"} {
		if allowedAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s allowed without --allow-public", a)
		}
	}
}
