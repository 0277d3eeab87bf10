package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed"
)

func runSign(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := capture(t, func() int { return run(append([]string{"sign"}, args...)) })
	if code != want {
		t.Fatalf("moat sign %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

// TestSignCommands generates a key of each algorithm, registers it with
// the entry keygen prints, signs in both carriages and verifies.
func TestSignCommands(t *testing.T) {
	for _, alg := range []string{"ed25519", "es256"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "valve-7.key")
			runSign(t, 0, "keygen", "--alg", alg, "--out", key)
			checkFileMode(t, key, 0o600)
			checkFileMode(t, key+".pub", 0o644)
			_, stderr := runSign(t, 1, "keygen", "--out", key)
			if !strings.Contains(stderr, "--force") {
				t.Fatalf("overwrite: %s", stderr)
			}
			// Replaced, with the registry entry printed.
			entry, _ := runSign(t, 0, "keygen", "--alg", alg, "--out", key, "--force", "--kid", "valve-7-"+alg, "--identity", "valve-7")
			checkFileMode(t, key, 0o600)
			registry := filepath.Join(dir, "keys.json")
			if err := os.WriteFile(registry, []byte(`{"keys": [`+strings.TrimSpace(entry)+`]}`), 0o600); err != nil {
				t.Fatal(err)
			}
			keys, err := signed.LoadKeys(registry)
			if err != nil {
				t.Fatal(err)
			}

			// MQTT 5: the property value, with signed properties.
			common := []string{"--key", key, "--kid", "valve-7-" + alg, "--identity", "valve-7", "--topic", "plant/7/valve/cmd"}
			value, _ := runSign(t, 0, append([]string{"message", "--seq", "42", "--epoch", "3", "--payload", "open",
				"--content-type", "text/plain", "--expires", "1m"}, common...)...)
			value = strings.TrimSpace(value)
			props := &packet.Properties{ContentType: "text/plain"}
			props.Set(packet.PropContentType)
			c, _, why := signed.VerifyDetached(keys, "plant/7/valve/cmd", []byte("open"), props, value)
			if why != signed.OK || c.Seq != 42 || c.Epoch != 3 || c.ExpiresAt != c.IssuedAt+60 || time.Now().Unix()-c.IssuedAt > 5 {
				t.Fatalf("%v %+v", why, c)
			}
			out, _ := runSign(t, 0, "verify", "--keys", registry, "--topic", "plant/7/valve/cmd", "--sig", value,
				"--payload", "open", "--content-type", "text/plain")
			if !strings.Contains(out, "valid:") || !strings.Contains(out, "epoch 3, seq 42") {
				t.Fatalf("verify: %s", out)
			}
			_, stderr = runSign(t, 1, "verify", "--keys", registry, "--topic", "plant/7/valve/cmd", "--sig", value, "--payload", "open")
			if !strings.Contains(stderr, "bad_signature") {
				t.Fatalf("without the content type: %s", stderr)
			}

			// MQTT 3.1.1: the envelope, nonce mode, payload from a file.
			payload := filepath.Join(dir, "payload")
			if err := os.WriteFile(payload, []byte("open"), 0o600); err != nil {
				t.Fatal(err)
			}
			env := filepath.Join(dir, "msg.cose")
			runSign(t, 0, append([]string{"message", "--envelope", "--out", env, "--payload-file", payload, "--retain"}, common...)...)
			out, _ = runSign(t, 0, "verify", "--keys", registry, "--topic", "plant/7/valve/cmd", "--envelope", env)
			if !strings.Contains(out, "payload:    6f70656e") || !strings.Contains(out, "nonce:") || !strings.Contains(out, "retain:     true") {
				t.Fatalf("verify envelope: %s", out)
			}
			_, stderr = runSign(t, 1, "verify", "--keys", registry, "--topic", "plant/8/valve/cmd", "--envelope", env)
			if !strings.Contains(stderr, "wrong_topic") {
				t.Fatalf("other topic: %s", stderr)
			}
		})
	}
}

func TestSignUsage(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	runSign(t, 0, "keygen", "--out", key)
	for _, args := range [][]string{
		{},
		{"nope"},
		{"keygen"},
		{"keygen", "--out", filepath.Join(dir, "x"), "--alg", "rsa"},
		{"keygen", "--out", filepath.Join(dir, "y"), "--kid", "a"},
		{"keygen", "--out", filepath.Join(dir, "z"), "extra"},
		{"message", "--key", key},
		{"message", "--key", key, "--kid", "k", "--identity", "a", "--topic", "t", "--seq", "-1"},
		{"message", "--key", key, "--kid", "k", "--identity", "a", "--topic", "t", "--payload-format", "2"},
		{"message", "--key", key, "--kid", "k", "--identity", "a", "--topic", "t", "--expires", "-1s"},
		{"verify", "--keys", "k.json", "--topic", "t"},
		{"verify", "--keys", "k.json", "--topic", "t", "--sig", "x", "--envelope", "y"},
	} {
		code, _, _ := capture(t, func() int { return run(append([]string{"sign"}, args...)) })
		if code != 2 {
			t.Errorf("moat sign %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
	out, _ := runSign(t, 0, "--help")
	if !strings.Contains(out, "moat-sig") {
		t.Fatal(out)
	}
	// Failures that are not usage errors.
	runSign(t, 1, "message", "--key", key, "--kid", "k", "--identity", "a", "--topic", "a/+", "--payload", "x")
	runSign(t, 1, "message", "--key", filepath.Join(dir, "absent"), "--kid", "k", "--identity", "a", "--topic", "t")
	runSign(t, 1, "message", "--key", key, "--kid", "k", "--identity", "a", "--topic", "t", "--payload", "x", "--payload-file", key)
	runSign(t, 1, "verify", "--keys", filepath.Join(dir, "absent.json"), "--topic", "t", "--sig", "x")
}
