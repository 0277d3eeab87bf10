package packet

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	secretPassword = "hunter2-very-secret"
	secretToken    = "TOKEN-SECRET-xyz"
	secretPayload  = "PAYLOAD-SECRET"
)

func secretProps() Properties {
	return propsWith(Properties{AuthenticationMethod: "SCRAM-SHA-256", AuthenticationData: []byte(secretToken)},
		PropAuthenticationMethod, PropAuthenticationData)
}

// renderings prints v in every way a log line might.
func renderings(v any) map[string]string {
	out := map[string]string{}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		out[f] = fmt.Sprintf(f, v)
	}
	out["Sprint"] = fmt.Sprint(v)
	switch v.(type) {
	case *Connect, Connect, *Connack, Connack, *Auth, Auth:
		j, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out["json"] = string(j)
	}
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"slog-json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"slog-text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("packet received", "packet", v)
		out[name] = buf.String()
	}
	return out
}

// TestSecretsRedacted: passwords, authentication data and payloads never
// appear in fmt or slog output, for pointers and values alike.
func TestSecretsRedacted(t *testing.T) {
	c := &Connect{ProtocolName: "MQTT", Version: V5, ClientID: "dev-1", UsernameFlag: true, Username: "alice",
		PasswordFlag: true, Password: []byte(secretPassword), Properties: secretProps(),
		WillFlag: true, WillTopic: "w", WillPayload: []byte(secretPayload)}
	p := &Publish{QoS: 1, PacketID: 3, Topic: "a/b", Payload: []byte(secretPayload),
		Properties: propsWith(Properties{CorrelationData: []byte(secretToken)}, PropCorrelationData)}
	values := map[string]any{
		"*Connect": c, "Connect": *c,
		"*Auth":    &Auth{ReasonCode: ContinueAuthentication, Properties: secretProps()},
		"Auth":     Auth{Properties: secretProps()},
		"*Connack": &Connack{Properties: secretProps()}, "Connack": Connack{Properties: secretProps()},
		"*Publish": p, "Publish": *p,
		"Properties": secretProps(),
		// Packets without their own String still print their
		// Properties through its Formatter.
		"*Disconnect": &Disconnect{Properties: secretProps()},
		"Disconnect":  Disconnect{Properties: secretProps()},
	}
	for name, v := range values {
		for how, s := range renderings(v) {
			for _, secret := range []string{secretPassword, secretToken, secretPayload} {
				if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) ||
					strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(secret))) {
					t.Errorf("%s %s leaks %q: %s", name, how, secret, s)
				}
			}
		}
	}
	s := c.String()
	for _, want := range []string{"<redacted 19 bytes>", `client_id="dev-1"`, `username="alice"`, "<redacted 16 bytes>", "<14 bytes>"} {
		if !strings.Contains(s, want) {
			t.Errorf("Connect.String() = %s, missing %s", s, want)
		}
	}
	if s := p.String(); !strings.Contains(s, "payload=<14 bytes>") || !strings.Contains(s, `topic="a/b"`) {
		t.Errorf("Publish.String() = %s", s)
	}
}
