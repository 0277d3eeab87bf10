package test

// mosquitto_pub and mosquitto_sub (Debian's mosquitto-clients, built with
// OpenSSL) over TLS and mutual TLS, MQTT 3.1.1 and MQTT 5.

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// TestTransport_Mosquitto_TLS: a subscriber receives what a publisher sent,
// both over TLS verified with --cafile, and both over mutual TLS with
// --cert/--key; without a certificate the mutual TLS listener refuses.
func TestTransport_Mosquitto_TLS(t *testing.T) {
	t.Parallel()
	requireMosquitto(t)
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		c.Listeners = []config.Listener{tlsListener(p, "tls"), mtlsListener(p, "mtls")}
	})
	tlsArgs := []string{"--cafile", p.CA}
	mtlsArgs := []string{"--cafile", p.CA, "--cert", p.clientCert(clientValid), "--key", p.clientKey(clientValid)}

	for _, version := range []string{"mqttv311", "mqttv5"} {
		for _, tc := range []struct {
			name     string
			listener int
			args     []string
		}{
			{"tls", 0, tlsArgs},
			{"mtls", 1, mtlsArgs},
		} {
			t.Run(version+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				m := mosqClients{host: "127.0.0.1", port: b.port(tc.listener), version: version}
				topic := "transport/mosq/" + version + "/" + tc.name
				payload := "over " + tc.name + " with " + version
				s := m.sub(t, append([]string{"-t", topic, "-q", "1", "-C", "1"}, tc.args...)...)
				m.pub(t, append([]string{"-t", topic, "-m", payload, "-q", "1"}, tc.args...)...)
				msgs := s.wait(t)
				if len(msgs) != 1 || msgs[0].Payload != payload || msgs[0].Topic != topic {
					t.Fatalf("subscriber got %v, want one %q on %s", msgs, payload, topic)
				}
			})
		}
	}

	t.Run("mtls-without-certificate", func(t *testing.T) {
		t.Parallel()
		m := mosqClients{host: "127.0.0.1", port: b.port(1), version: "mqttv311"}
		ctx, cancel := context.WithTimeout(t.Context(), mosqWait)
		defer cancel()
		args := m.args(append([]string{"-t", "transport/mosq/nocert", "-m", "x"}, tlsArgs...)...)
		out, err := exec.CommandContext(ctx, "mosquitto_pub", args...).CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("mosquitto_pub without a certificate still running after %v:\n%s", mosqWait, out)
		}
		if err == nil || strings.Contains(string(out), "received CONNACK (0)") {
			t.Fatalf("mosquitto_pub without a client certificate was accepted by a client_auth required listener:\n%s", out)
		}
		b.log.waitLine(t, 5*time.Second, "TLS handshake failed")
	})
}
