package signed

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/errlist"
)

func pemPublic(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestParseKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ec.pub"), []byte(pemPublic(t, ecPriv().Public())), 0o644); err != nil {
		t.Fatal(err)
	}
	ecRaw, _ := ecPriv().PublicKey.Bytes()
	doc := map[string]any{"keys": []map[string]string{
		{"kid": "a", "identity": "valve-7", "public_key": pemPublic(t, edPriv.Public()), "not_before": "2026-01-01T00:00:00Z"},
		{"kid": "b", "identity": "valve-7", "alg": "es256", "public_key_file": "ec.pub", "not_after": "2027-01-01T00:00:00Z"},
		{"kid": "c", "identity": "valve-8", "public_key": b64.EncodeToString(edPriv.Public().(ed25519.PublicKey))},
		{"kid": "d", "identity": "valve-8", "public_key": b64.EncodeToString(ecRaw)},
	}}
	data, _ := json.Marshal(doc)
	keys, err := ParseKeys(data, "keys.json", dir)
	if err != nil {
		t.Fatal(err)
	}
	if keys.Len() != 4 {
		t.Fatal(keys.Len())
	}
	a, b, c, d := keys.Lookup([]byte("a")), keys.Lookup([]byte("b")), keys.Lookup([]byte("c")), keys.Lookup([]byte("d"))
	if a.Alg != EdDSA || b.Alg != ES256 || c.Alg != EdDSA || d.Alg != ES256 || a.Identity != "valve-7" || d.Identity != "valve-8" {
		t.Fatalf("%+v %+v %+v %+v", a, b, c, d)
	}
	if !a.NotBefore.Equal(time.Unix(t0, 0)) || !b.NotAfter.Equal(time.Unix(t0+365*86400, 0)) {
		t.Fatal("validity not read")
	}
	if !b.Public.(*ecdsa.PublicKey).Equal(ecPriv().Public()) || !d.Public.(*ecdsa.PublicKey).Equal(ecPriv().Public()) {
		t.Fatal("P-256 key differs")
	}
	if keys.Lookup([]byte("z")) != nil || (*Keys)(nil).Lookup([]byte("a")) != nil || (*Keys)(nil).Len() != 0 {
		t.Fatal("lookup of absent keys")
	}
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadKeys(path); err != nil || k.Len() != 4 {
		t.Fatalf("LoadKeys: %v", err)
	}
}

func TestParseKeysErrors(t *testing.T) {
	ed := pemPublic(t, edPriv.Public())
	jsonStr := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"syntax", "{\n  \"keys\": [,]\n}", []string{"keys.json:2:12:"}},
		{"unknown field", `{"keys": [], "extra": 1}`, []string{`unknown field "extra"`}},
		{"trailing", `{"keys": []} {}`, []string{"trailing data"}},
		{"everything wrong", `{"keys": [
			{"kid": "", "identity": "a", "public_key": ` + jsonStr(ed) + `},
			{"kid": "k", "identity": "", "public_key": ` + jsonStr(ed) + `},
			{"kid": "k", "identity": "a", "alg": "es256", "public_key": ` + jsonStr(ed) + `},
			{"kid": "k", "identity": "a", "alg": "rsa", "public_key": ` + jsonStr(ed) + `},
			{"kid": "k", "identity": "a"},
			{"kid": "k", "identity": "a", "public_key": "AAAA"},
			{"kid": "k", "identity": "a", "public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
			{"kid": "k", "identity": "a", "public_key": ` + jsonStr(ed) + `, "public_key_file": "x"},
			{"kid": "k", "identity": "a", "public_key_file": "missing.pem"},
			{"kid": "k", "identity": "a", "public_key": ` + jsonStr(ed) + `, "not_before": "yesterday"},
			{"kid": "k", "identity": "a", "public_key": ` + jsonStr(ed) + `, "not_before": "2027-01-01T00:00:00Z", "not_after": "2026-01-01T00:00:00Z"},
			{"kid": "ok", "identity": "a", "public_key": ` + jsonStr(ed) + `},
			{"kid": "ok", "identity": "b", "public_key": ` + jsonStr(ed) + `},
			{"kid": "has space", "identity": "a", "public_key": ` + jsonStr(ed) + `}
		]}`, []string{
			"keys[0].kid:", "keys[1].identity:", "keys[2].alg: es256 does not match the ed25519 key",
			"keys[3].alg: unknown algorithm", "keys[4].public_key: missing", "keys[5].public_key: a raw key is 32 bytes",
			"keys[6].public_key:", "keys[7].public_key: give public_key or public_key_file", "keys[8].public_key_file:",
			"keys[9].not_before: not an RFC 3339 time", "keys[10].not_after: not after not_before",
			`keys[12].kid: duplicate kid "ok"`, "keys[13].kid:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeys([]byte(tc.doc), "keys.json", t.TempDir())
			if err == nil {
				t.Fatal("accepted")
			}
			var list *errlist.List[*KeyError]
			var lines []string
			if errors.As(err, &list) {
				for _, e := range list.List {
					lines = append(lines, e.Error())
				}
			} else {
				lines = []string{err.Error()}
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%s", len(lines), len(tc.want), strings.Join(lines, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) || !strings.HasPrefix(lines[i], "keys.json") {
					t.Errorf("error %d: %q, want %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestParsePublicKeyRefuses(t *testing.T) {
	for _, s := range []string{
		"", "AAAA\nAAAA", b64.EncodeToString(make([]byte, 65)), // not on the curve
		b64.EncodeToString(make([]byte, 33)), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		pemPublic(t, edPriv.Public()) + pemPublic(t, edPriv.Public()),
	} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
