package test

// Certificate-only login and per-listener methods with mosquitto clients:
// no password file, anonymous access off; the verified client certificate
// alone authenticates on a listener that accepts only "certificate".

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

func TestTransport_CertificateLogin(t *testing.T) {
	requireMosquitto(t)
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false // and there is no password file
		l := mtlsListener(p, "certs-only")
		l.Auth.Methods = []string{"certificate"}
		c.Listeners = []config.Listener{l}
	})
	certArgs := []string{"--cafile", p.CA, "--cert", p.clientCert(clientValid), "--key", p.clientKey(clientValid)}
	for _, version := range []string{"mqttv311", "mqttv5"} {
		t.Run(version, func(t *testing.T) {
			m := mosqClients{host: "127.0.0.1", port: b.port(0), version: version}
			topic := "transport/certlogin/" + version
			s := m.sub(t, append([]string{"-t", topic, "-q", "1", "-C", "1"}, certArgs...)...)
			m.pub(t, append([]string{"-t", topic, "-m", "by certificate", "-q", "1"}, certArgs...)...)
			if msgs := s.wait(t); len(msgs) != 1 || msgs[0].Payload != "by certificate" {
				t.Fatalf("subscriber got %v", msgs)
			}
		})
	}
	// A password login is not accepted on this listener, even with a
	// valid certificate: the password method is not in its list.
	m := mosqClients{host: "127.0.0.1", port: b.port(0), version: "mqttv5"}
	ctx, cancel := context.WithTimeout(t.Context(), mosqWait)
	defer cancel()
	args := m.args(append([]string{"-t", "transport/certlogin/pw", "-m", "x", "-u", "someone", "-P", "secret"}, certArgs...)...)
	out, err := exec.CommandContext(ctx, "mosquitto_pub", args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "received CONNACK (134)") { // 0x86
		t.Fatalf("a password login was accepted on a certificate-only listener (err %v):\n%s", err, out)
	}
}

// TestTransport_CertificateGroups: with tls.groups: ou, the organizational
// units of a verified client certificate are its identity's groups, so a
// group: rule of the ACL decides for every device certificate the CA
// issued into that unit; a certificate of another unit gets nothing.
func TestTransport_CertificateGroups(t *testing.T) {
	requireMosquitto(t)
	p := newTestPKI(t)
	now := time.Now()
	for name, ou := range map[string]string{"sensor-9": "sensors", "printer-1": "printers"} {
		tmpl := pkiLeaf(t, name, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
		tmpl.Subject.OrganizationalUnit = []string{ou}
		p.ca.issue(t, tmpl, p.clientCert(name), p.clientKey(name))
	}
	policy := filepath.Join(t.TempDir(), "acl.yaml")
	if err := os.WriteFile(policy, []byte(`version: 1
rules:
  - allow: [publish, subscribe, receive]
    who: [group:sensors]
    topics: ["fleet/#"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startTransportBroker(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.ACL.File = policy
		l := mtlsListener(p, "cert-groups")
		l.Auth.Methods = []string{"certificate"}
		l.TLS.Identity, l.TLS.Groups = "cn", "ou"
		c.Listeners = []config.Listener{l}
	})
	m := mosqClients{host: "127.0.0.1", port: b.port(0), version: "mqttv5"}
	for name, want := range map[string]string{"sensor-9": "Subscribed (mid: 1): 1\n", "printer-1": "Subscribed (mid: 1): 135\n"} {
		args := []string{"--cafile", p.CA, "--cert", p.clientCert(name), "--key", p.clientKey(name)}
		s := m.sub(t, append([]string{"-i", name, "-t", "fleet/#", "-q", "1", "-E"}, args...)...)
		s.wait(t)
		if out := s.output(); !strings.Contains(out, want) {
			t.Errorf("%s SUBSCRIBE fleet/#: want %q:\n%s", name, want, out)
		}
	}
}
