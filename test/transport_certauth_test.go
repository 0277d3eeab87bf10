package test

// Certificate-only login and per-listener methods with mosquitto clients:
// no password file, anonymous access off; the verified client certificate
// alone authenticates on a listener that accepts only "certificate".

import (
	"context"
	"os/exec"
	"strings"
	"testing"

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
