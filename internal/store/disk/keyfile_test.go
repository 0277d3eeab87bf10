package disk

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	gen := filepath.Join(dir, "store.key")
	must(t, GenerateKey(gen))
	fi, err := os.Stat(gen)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated key file mode %04o", fi.Mode().Perm())
	}
	k1, err := LoadKey(gen, "")
	must(t, err)
	if len(k1) != KeySize {
		t.Fatalf("key of %d bytes", len(k1))
	}
	if err := GenerateKey(gen); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("GenerateKey over an existing file: %v", err)
	}
	if k2, _ := LoadKey(gen, ""); !bytes.Equal(k1, k2) {
		t.Fatal("the key file changed")
	}

	raw := filepath.Join(dir, "raw.key")
	must(t, os.WriteFile(raw, testKey, 0o400))
	if k, err := LoadKey(raw, ""); err != nil || !bytes.Equal(k, testKey) {
		t.Fatalf("raw key file: %v", err)
	}

	secret := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeX"
	for name, tc := range map[string]struct {
		content string
		mode    os.FileMode
		want    string
	}{
		"group readable": {hex.EncodeToString(testKey), 0o640, "chmod 600"},
		"world readable": {hex.EncodeToString(testKey), 0o604, "mode 0604"},
		"short":          {"abcd", 0o600, "64 hexadecimal characters"},
		"not hex":        {secret, 0o600, "64 hexadecimal characters"},
		"empty":          {"", 0o600, "64 hexadecimal characters"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		must(t, os.WriteFile(p, []byte(tc.content), tc.mode))
		must(t, os.Chmod(p, tc.mode))
		_, err := LoadKey(p, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret[:16]) {
			t.Errorf("%s: the error repeats the key material", name)
		}
	}
	if _, err := LoadKey(dir, ""); err == nil {
		t.Error("a directory as key file")
	}
	if _, err := LoadKey(filepath.Join(dir, "missing"), ""); err == nil {
		t.Error("a missing key file")
	}
}

func TestKeyFromEnv(t *testing.T) {
	t.Setenv("TEST_STORE_KEY", hex.EncodeToString(testKey)+"\n")
	if k, err := LoadKey("", "TEST_STORE_KEY"); err != nil || !bytes.Equal(k, testKey) {
		t.Fatalf("key from env: %v", err)
	}
	t.Setenv("TEST_STORE_KEY", "zz"+hex.EncodeToString(testKey)[2:])
	if _, err := LoadKey("", "TEST_STORE_KEY"); err == nil || !strings.Contains(err.Error(), "$TEST_STORE_KEY") || strings.Contains(err.Error(), "4242") {
		t.Fatalf("bad key in env: %v", err)
	}
	if k, err := LoadKey("", "TEST_STORE_KEY_UNSET"); k != nil || err != nil {
		t.Fatalf("unset env: %v %v", k, err)
	}
	if k, err := LoadKey("", ""); k != nil || err != nil {
		t.Fatalf("no source: %v %v", k, err)
	}
}

func TestOptionsRedactKey(t *testing.T) {
	o := Options{Dir: "d", Key: testKey}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("open", "store", o)
	for _, out := range []string{fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprintf("%v", &o), logged.String()} {
		if strings.Contains(out, "4242") || strings.Contains(out, "66 66") || strings.Contains(out, string(testKey)) || !strings.Contains(out, "redacted") {
			t.Errorf("the key shows: %s", out)
		}
	}
}
