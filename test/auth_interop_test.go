package test

// Authentication end to end with real, non-Go clients: mosquitto_pub and
// mosquitto_sub (-u/-P), Python paho-mqtt and MQTT.js, against a broker
// that refuses anonymous clients. They log in from an argon2id password
// file, from a file made by Debian's mosquitto_passwd, and with an HS256
// JWT in the password field; wrong, missing, expired and forged
// credentials and client ids outside auth.client_ids are refused with the
// CONNACK code each protocol version defines, and the broker log names the
// reason.
//
// Each test (each protocol version in TestAuthInterop_MosquittoPassword)
// starts its own broker and fails at most five logins on it, within the
// brute-force defence's default free failures, so that no refusal is
// slowed down or turned into a ban.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

// authLogWait bounds the wait for the broker's log line on a refusal; the
// line is written before the refusing CONNACK, so it is normally there.
const authLogWait = 5 * time.Second

// authRefusal is how a refusal shows in each protocol version: the MQTT 5
// CONNACK reason code and the MQTT 3.1.1 connect return code, with the
// texts mosquitto_pub 2.0 prints for them ("Connection error: TEXT").
type authRefusal struct {
	v5, v311         int
	v5Text, v311Text string
}

var (
	// refusedBadLogin: 0x86 bad user name or password / return code 4.
	refusedBadLogin = authRefusal{v5: 0x86, v311: 4,
		v5Text: "Bad User Name or Password", v311Text: "Connection Refused: bad user name or password."}
	// refusedClientID: 0x85 client identifier not valid / return code 2.
	refusedClientID = authRefusal{v5: 0x85, v311: 2,
		v5Text: "Client Identifier not valid", v311Text: "Connection Refused: identifier rejected."}
)

// code is the CONNACK code sent to an MQTT 5 client (v5) or an MQTT 3.1.1
// one.
func (r authRefusal) code(v5 bool) int {
	if v5 {
		return r.v5
	}
	return r.v311
}

// startAuthBroker starts a broker that authenticates against the password
// file passwd and refuses anonymous clients; mutate (may be nil) adjusts
// the rest of the configuration.
func startAuthBroker(t *testing.T, passwd string, mutate func(*config.Config)) *transportBroker {
	t.Helper()
	return startTransportBroker(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.PasswordFile = passwd
		if mutate != nil {
			mutate(c)
		}
	})
}

// waitRefusal waits for the broker's log line refusing clientID with detail.
func (b *transportBroker) waitRefusal(t *testing.T, clientID, detail string) {
	t.Helper()
	b.log.waitLine(t, authLogWait, `msg="connection refused"`, "client_id="+clientID, detail)
}

// mosqRefused runs mosquitto_pub, which must be refused with want: it must
// receive a CONNACK with the code, print the matching error, exit with the
// code as its status and publish nothing.
func mosqRefused(t *testing.T, m mosqClients, want authRefusal, extra ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mosqWait)
	defer cancel()
	args := m.args(extra...)
	cmd := exec.CommandContext(ctx, "mosquitto_pub", args...)
	cmd.WaitDelay = time.Second
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if ctx.Err() != nil {
		t.Fatalf("mosquitto_pub %s: still running after %v\n%s", strings.Join(args, " "), mosqWait, out)
	}
	v5 := m.version == "mqttv5"
	code, text := want.v311, want.v311Text
	if v5 {
		code, text = want.v5, want.v5Text
	}
	// mosquitto_pub exits with the refusing CONNACK code as its status.
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != code ||
		!strings.Contains(out, "received CONNACK ("+strconv.Itoa(code)+")") ||
		!strings.Contains(out, "Connection error: "+text) {
		t.Fatalf("mosquitto_pub %s: %v, want a refusal with CONNACK %d %q (exit status %d)\n%s",
			strings.Join(args, " "), err, code, text, code, out)
	}
	if strings.Contains(out, "sending PUBLISH") {
		t.Fatalf("mosquitto_pub published after a refusal:\n%s", out)
	}
}

// mosqRoundTrip subscribes with mosquitto_sub (extra arguments sub) and
// publishes at QoS 1 with mosquitto_pub (extra arguments pub), and checks
// that the subscriber receives the message.
func mosqRoundTrip(t *testing.T, m mosqClients, topic string, sub, pub []string) {
	t.Helper()
	payload := "authenticated " + m.version + " " + topic
	s := m.sub(t, append([]string{"-t", topic, "-q", "1", "-C", "1"}, sub...)...)
	m.pub(t, append([]string{"-t", topic, "-m", payload, "-q", "1"}, pub...)...)
	msgs := s.wait(t)
	if len(msgs) != 1 || msgs[0].Payload != payload || msgs[0].Topic != topic || msgs[0].QoS != 1 {
		t.Fatalf("subscriber got %v, want one %q at QoS 1 on %s", msgs, payload, topic)
	}
}

// TestAuthInterop_MosquittoPassword: with an argon2id password file,
// mosquitto_pub -u/-P publishes and a mosquitto_sub -u/-P subscriber
// receives it; a wrong password, an unknown user, a user name without a
// password and no credentials at all are refused with 0x86 (MQTT 5) or
// return code 4 (MQTT 3.1.1).
func TestAuthInterop_MosquittoPassword(t *testing.T) {
	t.Parallel()
	requireMosquitto(t)
	passwd := writeUsers(t, map[string]string{"alice": "alice-secret", "bob": "bob-secret"})
	for _, version := range []string{"mqttv311", "mqttv5"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			b := startAuthBroker(t, passwd, nil)
			m := mosqClients{host: "127.0.0.1", port: b.port(0), version: version}
			t.Run("accepted", func(t *testing.T) {
				t.Parallel()
				mosqRoundTrip(t, m, "auth/mosq/"+version,
					[]string{"-i", "sub-" + version, "-u", "bob", "-P", "bob-secret"},
					[]string{"-i", "pub-" + version, "-u", "alice", "-P", "alice-secret"})
			})
			for _, tc := range []struct {
				name, detail string
				creds        []string
			}{
				{"wrong-password", "wrong password", []string{"-u", "alice", "-P", "bob-secret"}},
				{"unknown-user", "unknown user", []string{"-u", "mallory", "-P", "alice-secret"}},
				{"username-only", "no authenticator accepted the client", []string{"-u", "alice"}},
				{"no-credentials", "no authenticator accepted the client", nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					id := tc.name + "-" + version
					mosqRefused(t, m, refusedBadLogin, append([]string{"-i", id, "-t", "auth/mosq/refused", "-m", "x"}, tc.creds...)...)
					b.waitRefusal(t, id, tc.detail)
				})
			}
		})
	}
}

// TestAuthInterop_MosquittoPasswdFile: a password file made by Debian's
// mosquitto_passwd -c -b (PBKDF2-SHA512, "$7$") loads unchanged; its user
// logs in with mosquitto_pub/mosquitto_sub -u/-P in MQTT 3.1.1 and 5, and
// a wrong password is refused.
func TestAuthInterop_MosquittoPasswdFile(t *testing.T) {
	t.Parallel()
	requireMosquitto(t)
	requireTool(t, "mosquitto_passwd (Debian mosquitto)", "mosquitto_passwd")
	passwd := filepath.Join(t.TempDir(), "mosquitto.passwd")
	ctx, cancel := context.WithTimeout(t.Context(), mosqWait)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "mosquitto_passwd", "-c", "-b", passwd, "migrated", "s3cret pass").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd -c -b: %v\n%s", err, out)
	}
	// Debian's mosquitto_passwd creates the file 0644; Moat would load it
	// with a warning. Tighten it as an operator should.
	if err := os.Chmod(passwd, 0o600); err != nil {
		t.Fatal(err)
	}
	data := mustRead(t, passwd)
	if !strings.HasPrefix(string(data), "migrated:$7$") {
		t.Fatalf("mosquitto_passwd wrote %q, want a migrated:$7$... (PBKDF2-SHA512) line", data)
	}
	b := startAuthBroker(t, passwd, nil)
	for _, version := range []string{"mqttv311", "mqttv5"} {
		m := mosqClients{host: "127.0.0.1", port: b.port(0), version: version}
		t.Run(version+"/accepted", func(t *testing.T) {
			t.Parallel()
			creds := []string{"-u", "migrated", "-P", "s3cret pass"}
			mosqRoundTrip(t, m, "auth/migrated/"+version,
				append([]string{"-i", "msub-" + version}, creds...),
				append([]string{"-i", "mpub-" + version}, creds...))
		})
		t.Run(version+"/wrong-password", func(t *testing.T) {
			t.Parallel()
			id := "mwrong-" + version
			mosqRefused(t, m, refusedBadLogin, "-i", id, "-u", "migrated", "-P", "s3cret", "-t", "auth/migrated/x", "-m", "x")
			b.waitRefusal(t, id, "wrong password")
		})
	}
	if got := string(mustRead(t, passwd)); got != string(data) {
		t.Fatalf("the broker changed the Mosquitto password file:\nbefore: %q\nafter:  %q", data, got)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestAuthInterop_Python: paho-mqtt (Python) logs in with a user name and
// password and makes a QoS 1 round trip, in MQTT 3.1.1 and 5; a wrong
// password and an unknown user are refused with return code 4 (3.1.1) or
// reason code 0x86 (5).
func TestAuthInterop_Python(t *testing.T) {
	t.Parallel()
	requirePeer(t, "python3-paho-mqtt", func(ctx context.Context) (string, error) {
		return probeCommand(ctx, ".", debianPython, "-c", "import paho.mqtt; print(paho.mqtt.__version__)")
	})
	b := startAuthBroker(t, writeUsers(t, map[string]string{"alice": "alice-secret"}), nil)
	for _, protocol := range []string{"311", "5"} {
		run := func(t *testing.T, check, id string, extra ...string) {
			runCheckProgram(t, check, debianPython, append([]string{"paho_auth.py", "127.0.0.1", b.port(0),
				"--protocol", protocol, "--check", check, "--client-id", id, "--timeout", checkTimeout}, extra...)...)
		}
		want := strconv.Itoa(refusedBadLogin.code(protocol == "5"))
		t.Run("v"+protocol+"/accepted", func(t *testing.T) {
			t.Parallel()
			run(t, "login", "py-ok-"+protocol, "--username", "alice", "--password", "alice-secret",
				"--topic", "auth/py/"+protocol)
		})
		t.Run("v"+protocol+"/wrong-password", func(t *testing.T) {
			t.Parallel()
			id := "py-wrong-" + protocol
			run(t, "refused", id, "--username", "alice", "--password", "nope", "--want-code", want)
			b.waitRefusal(t, id, "wrong password")
		})
		t.Run("v"+protocol+"/unknown-user", func(t *testing.T) {
			t.Parallel()
			id := "py-unknown-" + protocol
			run(t, "refused", id, "--username", "mallory", "--password", "alice-secret", "--want-code", want)
			b.waitRefusal(t, id, "unknown user")
		})
	}
}

// authJWTSecret is the HS256 secret of TestAuthInterop_MQTTjsJWT (at least
// 32 bytes, as auth.jwt.hmac_secret_file requires).
const authJWTSecret = "auth-interop-hs256-secret-0123456789abcdef"

// signHS256 signs claims {sub, exp, iat} with secret.
func signHS256(t *testing.T, secret, sub string, exp time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	claims := josejwt.Claims{Subject: sub, Expiry: josejwt.NewNumericDate(exp),
		IssuedAt: josejwt.NewNumericDate(time.Now().Add(-2 * time.Hour))}
	tok, err := josejwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Secret(secret)
	return testutil.Secret(tok)
}

// TestAuthInterop_MQTTjsJWT: MQTT.js presents an HS256 JWT in the password
// field, with the token's sub as user name (MQTT.js sends no password
// without a user name, even in MQTT 5), and makes a QoS 1 round trip with
// MQTT 3.1.1 and 5; a password-file login still works next to the token
// method. An expired token, a token signed with another secret and a valid
// token under another user name are refused with return code 4 (3.1.1) or
// 0x86 (5).
func TestAuthInterop_MQTTjsJWT(t *testing.T) {
	t.Parallel()
	requirePeer(t, "MQTT.js (node + test/interop/node_modules)", func(ctx context.Context) (string, error) {
		return probeCommand(ctx, interopDir, "node", "-p",
			"process.version + ' mqtt ' + require('mqtt/package.json').version")
	})
	secret := filepath.Join(t.TempDir(), "jwt.secret")
	if err := os.WriteFile(secret, []byte(authJWTSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	passwd := writeUsers(t, map[string]string{"alice": "alice-secret"})
	b := startAuthBroker(t, passwd, func(c *config.Config) {
		c.Auth.JWT.HMACSecretFile = secret
	})
	now := time.Now()
	valid := signHS256(t, authJWTSecret, "device-7", now.Add(time.Hour))
	expired := signHS256(t, authJWTSecret, "device-7", now.Add(-time.Hour)) // far beyond the 30s leeway
	forged := signHS256(t, "another-secret-of-at-least-32-bytes!!", "device-7", now.Add(time.Hour))

	run := func(t *testing.T, protocol, check, id string, extra ...string) {
		runCheckProgram(t, check, "node", append([]string{"mqttjs_auth.js", "127.0.0.1", b.port(0),
			"--protocol", protocol, "--check", check, "--client-id", id, "--timeout", checkTimeout}, extra...)...)
	}
	for _, tc := range []struct {
		name, protocol string
		creds          []string
	}{
		{"v4/token", "4", []string{"--username", "device-7", "--password", valid}},
		{"v5/token", "5", []string{"--username", "device-7", "--password", valid}},
		{"v4/password-file", "4", []string{"--username", "alice", "--password", "alice-secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := "js-" + strings.ReplaceAll(tc.name, "/", "-")
			run(t, tc.protocol, "login", id, append([]string{"--topic", "auth/js/" + tc.name}, tc.creds...)...)
		})
	}
	for _, tc := range []struct {
		name, protocol, user, token, detail string
	}{
		{"v4/expired", "4", "device-7", expired, "jwt: token expired"},
		{"v5/expired", "5", "device-7", expired, "jwt: token expired"},
		{"v4/bad-signature", "4", "device-7", forged, "jwt: bad signature"},
		{"v5/bad-signature", "5", "device-7", forged, "jwt: bad signature"},
		{"v5/other-username", "5", "device-8", valid, "jwt: user name does not match the token's sub claim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := "js-" + strings.ReplaceAll(tc.name, "/", "-")
			run(t, tc.protocol, "refused", id, "--username", tc.user, "--password", tc.token,
				"--want-code", strconv.Itoa(refusedBadLogin.code(tc.protocol == "5")))
			b.waitRefusal(t, id, tc.detail)
		})
	}
}

// TestAuthInterop_ClientIDRules: with auth.client_ids ["%u-*"], alice may
// use client ids starting with "alice-" and no other: mosquitto_pub -i
// alice-xyz publishes to a mosquitto_sub -i alice-sub, while -i bob-xyz
// (right password, wrong client id) is refused with return code 2
// (identifier rejected) in MQTT 3.1.1 and 0x85 in MQTT 5.
func TestAuthInterop_ClientIDRules(t *testing.T) {
	t.Parallel()
	requireMosquitto(t)
	b := startAuthBroker(t, writeUsers(t, map[string]string{"alice": "alice-secret"}), func(c *config.Config) {
		c.Auth.ClientIDs = []string{"%u-*"}
	})
	creds := []string{"-u", "alice", "-P", "alice-secret"}
	for _, version := range []string{"mqttv311", "mqttv5"} {
		m := mosqClients{host: "127.0.0.1", port: b.port(0), version: version}
		t.Run(version+"/matching", func(t *testing.T) {
			t.Parallel()
			mosqRoundTrip(t, m, "auth/clientid/"+version,
				append([]string{"-i", "alice-sub-" + version}, creds...),
				append([]string{"-i", "alice-xyz-" + version}, creds...))
		})
		t.Run(version+"/not-matching", func(t *testing.T) {
			t.Parallel()
			id := "bob-xyz-" + version
			mosqRefused(t, m, refusedClientID, append([]string{"-i", id, "-t", "auth/clientid/x", "-m", "x"}, creds...)...)
			b.waitRefusal(t, id, "client identifier not allowed for identity alice")
		})
	}
}
