package signed

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// openssl runs openssl in dir and fails the test on an error.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestInteropOpenSSL checks the signature layer against an independent
// implementation, in both directions and for both algorithms: openssl
// signs the Sig_structure this package builds and the verifier accepts the
// result; this package signs with openssl's key and openssl verifies.
func TestInteropOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		skipOrFail(t, "openssl not installed (scripts/deps installs it)")
	}
	for _, alg := range []Alg{EdDSA, ES256} {
		t.Run(alg.String(), func(t *testing.T) {
			dir := t.TempDir()
			if alg == EdDSA {
				openssl(t, dir, "genpkey", "-algorithm", "ed25519", "-out", "key.pem")
			} else {
				openssl(t, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem")
			}
			openssl(t, dir, "pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem")
			pubPEM, _ := os.ReadFile(filepath.Join(dir, "pub.pem"))
			pub, err := ParsePublicKey(string(pubPEM))
			if err != nil {
				t.Fatal(err)
			}
			keys, err := NewKeys([]Key{{ID: "ossl", Identity: "valve-7", Public: pub}})
			if err != nil {
				t.Fatal(err)
			}
			clk := newClock()
			v := NewVerifier(mustPolicy(t, Config{Rules: []RuleConfig{cmdRule}}), keys, clk.Now)
			clk.Add(60 * time.Second)

			// openssl signs what this package says is to be signed.
			c := claimsAt(cmdTopic, t0+60, 1)
			pr := props("text/plain", 1)
			protected := appendProtected(nil, alg, "ossl", &c)
			b, start := appendSigStructure(nil, protected, pr, []byte("open"))
			tbs := filepath.Join(dir, "tbs")
			if err := os.WriteFile(tbs, b[start:], 0o600); err != nil {
				t.Fatal(err)
			}
			var sig []byte
			if alg == EdDSA {
				openssl(t, dir, "pkeyutl", "-sign", "-inkey", "key.pem", "-rawin", "-in", "tbs", "-out", "sig")
				sig, _ = os.ReadFile(filepath.Join(dir, "sig"))
			} else {
				openssl(t, dir, "dgst", "-sha256", "-sign", "key.pem", "-out", "sig.der", "tbs")
				der, _ := os.ReadFile(filepath.Join(dir, "sig.der"))
				sig = derToRaw(t, der)
			}
			m := v5msg(cmdTopic, []byte("open"), pr, b64.EncodeToString(rawSign1(protected, emptyM, nil, sig)))
			if _, why := v.Check(m); why != OK {
				t.Fatalf("openssl's signature refused: %v", why)
			}
			m.Payload = []byte("shut")
			if _, why := v.Check(m); why != ReasonBadSignature {
				t.Fatalf("altered: %v", why)
			}

			// This package signs with openssl's key; openssl verifies.
			keyPEM, _ := os.ReadFile(filepath.Join(dir, "key.pem"))
			block, _ := pem.Decode(keyPEM)
			priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := mustSigner(t, "ossl", priv.(crypto.Signer)).Sign1(&c, []byte("open"), pr, false)
			if err != nil {
				t.Fatal(err)
			}
			var s sign1
			if err := parseSign1(msg, &s); err != nil {
				t.Fatal(err)
			}
			tbs2, _ := SigStructure(msg, pr, []byte("open"))
			if err := os.WriteFile(tbs, tbs2, 0o600); err != nil {
				t.Fatal(err)
			}
			if alg == EdDSA {
				if err := os.WriteFile(filepath.Join(dir, "sig"), s.sig, 0o600); err != nil {
					t.Fatal(err)
				}
				openssl(t, dir, "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "tbs", "-sigfile", "sig")
			} else {
				der, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(s.sig[:32]), new(big.Int).SetBytes(s.sig[32:])})
				if err := os.WriteFile(filepath.Join(dir, "sig.der"), der, 0o600); err != nil {
					t.Fatal(err)
				}
				openssl(t, dir, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "tbs")
			}
		})
	}
}

// derToRaw turns an ASN.1 ECDSA signature into r||s with encoding/asn1,
// independently of this package's conversion.
func derToRaw(t *testing.T, der []byte) []byte {
	t.Helper()
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 {
		t.Fatalf("openssl signature: %v", err)
	}
	raw := make([]byte, 64)
	rs.R.FillBytes(raw[:32])
	rs.S.FillBytes(raw[32:])
	return raw
}

// pythonVerifier extracts the Python verifier from the document into dir.
func pythonVerifier(t *testing.T, dir string) string {
	t.Helper()
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(doc), "<!-- verify.py: begin -->\n```python\n")
	code, _, ok2 := strings.Cut(rest, "```\n<!-- verify.py: end -->")
	if !ok1 || !ok2 {
		t.Fatalf("%s has no verify.py block", docPath)
	}
	path := filepath.Join(dir, "verify.py")
	if err := os.WriteFile(path, []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInteropPythonVerifier runs the Python verifier of the document, an
// independent implementation of the byte layout with only the standard
// library and python3-cryptography, against messages signed here.
func TestInteropPythonVerifier(t *testing.T) {
	if err := exec.Command("python3", "-c", "import cryptography").Run(); err != nil {
		skipOrFail(t, "python3 with the cryptography package not available (scripts/deps installs python3-cryptography)")
	}
	dir := t.TempDir()
	script := pythonVerifier(t, dir)
	ed := mustSigner(t, "valve-7-ed", edPriv)
	ec := mustSigner(t, "valve-7-ec", ecPriv())
	rt := &packet.Properties{ResponseTopic: "plant/7/valve/ack", CorrelationData: []byte{0, 1, 0xff}}
	rt.Set(packet.PropResponseTopic)
	rt.Set(packet.PropCorrelationData)
	emptyCD := &packet.Properties{CorrelationData: []byte{}}
	emptyCD.Set(packet.PropCorrelationData)
	nonce := nonceClaims(cmdTopic, t0)
	retained := claimsAt(cmdTopic, t0, 7)
	retained.Retain, retained.ExpiresAt = true, t0+3600

	type msg map[string]any
	for _, tc := range []struct {
		name     string
		s        *Signer
		c        Claims
		props    *packet.Properties
		envelope bool
		alter    func(msg)
		ok       bool
	}{
		{"ed25519 detached", ed, claimsAt(cmdTopic, t0, 42), props("text/plain", 1), false, nil, true},
		{"es256 detached nonce", ec, nonce, rt, false, nil, true},
		{"ed25519 envelope retained", ed, retained, nil, true, nil, true},
		{"es256 envelope", ec, claimsAt(cmdTopic, t0, 1), props("", 0), true, nil, true},
		{"empty correlation data", ed, claimsAt(cmdTopic, t0, 2), emptyCD, false, nil, true},
		{"altered payload", ed, claimsAt(cmdTopic, t0, 3), nil, false, func(m msg) { m["payload"] = "73687574" }, false},
		{"altered content type", ec, claimsAt(cmdTopic, t0, 3), props("text/plain", 1), false, func(m msg) {
			m["properties"].(msg)["content_type"] = "text/html"
		}, false},
		{"dropped correlation data", ed, claimsAt(cmdTopic, t0, 3), emptyCD, false, func(m msg) { delete(m["properties"].(msg), "correlation_data") }, false},
		{"other topic", ed, claimsAt(cmdTopic, t0, 3), nil, false, func(m msg) { m["topic"] = "plant/8/valve/cmd" }, false},
		{"other identity", ed, claimsAt(cmdTopic, t0, 3), nil, false, func(m msg) { m["identity"] = "valve-8" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := edPriv.Public()
			if tc.s == ec {
				pub = ecPriv().Public()
			}
			der, _ := x509.MarshalPKIXPublicKey(pub)
			m := msg{"public_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
				"identity": "valve-7", "topic": tc.c.Topic}
			if tc.props != nil {
				p := msg{}
				if tc.props.Has(packet.PropResponseTopic) {
					p["response_topic"] = tc.props.ResponseTopic
				}
				if tc.props.Has(packet.PropCorrelationData) {
					p["correlation_data"] = hex.EncodeToString(tc.props.CorrelationData)
				}
				if tc.props.Has(packet.PropContentType) {
					p["content_type"] = tc.props.ContentType
				}
				if tc.props.Has(packet.PropPayloadFormat) {
					p["payload_format"] = tc.props.PayloadFormat
				}
				m["properties"] = p
			}
			payload := []byte("open")
			if tc.envelope {
				env, err := tc.s.Envelope(&tc.c, payload, tc.props)
				if err != nil {
					t.Fatal(err)
				}
				m["envelope"] = hex.EncodeToString(env)
			} else {
				sig, err := tc.s.Detached(&tc.c, payload, tc.props)
				if err != nil {
					t.Fatal(err)
				}
				m["sig"], m["payload"] = sig, hex.EncodeToString(payload)
			}
			if tc.alter != nil {
				tc.alter(m)
			}
			in, _ := json.Marshal(m)
			path := filepath.Join(dir, "msg.json")
			if err := os.WriteFile(path, in, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("python3", script, path).Output()
			if !tc.ok {
				if err == nil {
					t.Fatalf("python accepted it: %s", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("python refused it: %v %s", err, errText(err))
			}
			var got struct {
				Kid, Identity, Topic, Payload, Nonce string
				Iat                                  int64
				Exp                                  *int64
				Retain                               bool
				Epoch, Seq                           uint64
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			c := tc.c
			if got.Kid != tc.s.KeyID() || got.Identity != c.Identity || got.Topic != c.Topic || got.Payload != "6f70656e" ||
				got.Iat != c.IssuedAt || got.Retain != c.Retain || got.Epoch != c.Epoch || got.Seq != c.Seq ||
				(c.ExpiresAt == 0) != (got.Exp == nil) || (got.Exp != nil && *got.Exp != c.ExpiresAt) ||
				(c.Mode == Nonce && got.Nonce != hex.EncodeToString(c.Nonce[:])) {
				t.Fatalf("python read %s\nsigned %+v", out, c)
			}
		})
	}
}

func errText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

var _ crypto.Signer = (*ecdsa.PrivateKey)(nil)

// skipOrFail skips a test whose independent peer is missing on a
// developer's machine, and fails it in CI (CI set), where scripts/deps
// installs every peer: a skip there would hide a failure.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
