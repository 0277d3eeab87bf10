package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/signed"
	"github.com/moatmq/moat/pkg/mqttsig"
)

func runKeys(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := capture(t, func() int { return run(append([]string{"keys"}, args...)) })
	if code != want {
		t.Fatalf("moat keys %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return strings.TrimSpace(stdout), stderr
}

// TestKeysGenBindExport makes keys, binds them (one signed by an operator
// key), exports entries, and checks that a subscriber trusting only the
// operator keeps only the signed binding, and drops it once altered.
func TestKeysGenBindExport(t *testing.T) {
	dir := t.TempDir()
	dev, op := filepath.Join(dir, "dev.key"), filepath.Join(dir, "op.key")
	kid, _ := runKeys(t, 0, "gen", "--out", dev)
	checkFileMode(t, dev, 0o600)
	if !strings.HasPrefix(kid, "sha256:") || len(kid) != 50 {
		t.Fatalf("default kid %q", kid)
	}
	runKeys(t, 1, "gen", "--out", dev) // exists
	runKeys(t, 0, "gen", "--out", op, "--alg", "es256")
	other := filepath.Join(dir, "other.key")
	runKeys(t, 0, "gen", "--out", other)

	registry := filepath.Join(dir, "keys.json")
	got, _ := runKeys(t, 0, "bind", "--keys", registry, "--identity", "dev", "--pub", dev+".pub",
		"--operator-key", op, "--valid-for", "24h")
	if got != kid {
		t.Fatalf("bind printed %q, want the default kid %q", got, kid)
	}
	runKeys(t, 0, "bind", "--keys", registry, "--identity", "other", "--pub", other, "--kid", "other-1")
	_, stderr := runKeys(t, 1, "bind", "--keys", registry, "--identity", "x", "--pub", other, "--kid", "other-1")
	if !strings.Contains(stderr, "already bound") {
		t.Fatalf("duplicate kid: %s", stderr)
	}
	checkFileMode(t, registry, 0o644)
	keys, err := signed.LoadKeys(registry)
	if err != nil || keys.Len() != 2 {
		t.Fatalf("registry: %v, %d keys", err, keys.Len())
	}
	if k := keys.Lookup([]byte(kid)); k == nil || k.Identity != "dev" || k.Operator == "" || k.NotAfter.IsZero() {
		t.Fatalf("bound key: %+v", k)
	}

	opPub, err := readPublicKey(op + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	all, err := mqttsig.LoadKeys(registry)
	if err != nil {
		t.Fatal(err)
	}
	trusted, dropped, err := all.TrustOperator(opPub)
	if err != nil || trusted.Len() != 1 || len(dropped) != 1 || dropped[0] != "other-1" {
		t.Fatalf("trusting the operator: %d keys, dropped %v, %v", trusted.Len(), dropped, err)
	}

	// Rebinding the signed key to another identity in the file breaks the
	// operator's signature.
	data, _ := os.ReadFile(registry)
	forged := strings.Replace(string(data), `"identity": "dev"`, `"identity": "mallory"`, 1)
	if forged == string(data) {
		t.Fatal("the registry does not hold the expected identity field")
	}
	bad, err := mqttsig.ParseKeys([]byte(forged), dir)
	if err != nil {
		t.Fatal(err)
	}
	if trusted, _, _ := bad.TrustOperator(opPub); trusted.Len() != 0 {
		t.Fatal("an altered binding is still trusted")
	}

	// export: the entry from the registry, from a key file, and the PEM.
	entry, _ := runKeys(t, 0, "export", "--keys", registry, "--kid", "other-1")
	var e map[string]string
	if err := json.Unmarshal([]byte(entry), &e); err != nil || e["identity"] != "other" || !strings.Contains(e["public_key"], "PUBLIC KEY") {
		t.Fatalf("export from the registry: %v\n%s", err, entry)
	}
	entry, _ = runKeys(t, 0, "export", "--pub", dev, "--identity", "dev")
	if strings.Contains(entry, "PRIVATE") || !strings.Contains(entry, kid) {
		t.Fatalf("export from the private key file: %s", entry)
	}
	pemOut, _ := runKeys(t, 0, "export", "--pub", dev, "--pem")
	pub, _ := os.ReadFile(dev + ".pub")
	if pemOut != strings.TrimSpace(string(pub)) {
		t.Fatalf("--pem:\n%s\nwant\n%s", pemOut, pub)
	}
	// A trust file as export writes it loads for moat sub.
	trust := filepath.Join(dir, "dev.json")
	if err := os.WriteFile(trust, []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	if k, err := loadTrust("", []string{trust}, ""); err != nil || k.Len() != 1 {
		t.Fatalf("--trust-key: %v", err)
	}

	// A private key others may read is refused.
	if err := os.Chmod(dev, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr = runKeys(t, 1, "export", "--pub", dev, "--pem")
	if !strings.Contains(stderr, "chmod 600") {
		t.Fatalf("readable private key: %s", stderr)
	}
}

func TestKeysPubSubUsage(t *testing.T) {
	for _, args := range [][]string{
		{"keys"},
		{"keys", "nope"},
		{"keys", "gen"},
		{"keys", "gen", "--out", "x", "--alg", "rsa"},
		{"keys", "bind", "--keys", "k.json"},
		{"keys", "export"},
		{"keys", "export", "--keys", "k.json"},
		{"pub"},
		{"pub", "-t", "a", "-m", "x", "-n"},
		{"pub", "-t", "a", "-q", "3"},
		{"pub", "-t", "a", "-V", "4"},
		{"pub", "-t", "a", "--kid", "k"},
		{"pub", "-t", "a", "-V", "311", "--content-type", "x"},
		{"sub"},
		{"sub", "-t", "a", "--verify"},
		{"sub", "-t", "a", "--keys", "k.json"},
		{"sub", "-t", "a", "--verify", "--keys", "k.json", "--trust-key", "e.json"},
		{"sub", "-t", "a", "extra"},
	} {
		code, _, _ := capture(t, func() int { return run(args) })
		if code != 2 {
			t.Errorf("moat %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
	// Not usage errors: a broker that is not there, a key that is not.
	dir := t.TempDir()
	for _, args := range [][]string{
		{"pub", "-h", "127.0.0.1", "-p", "1", "-t", "a", "-m", "x"},
		{"pub", "-t", "a", "-u", "u", "--sign-key", filepath.Join(dir, "absent")},
		{"sub", "-t", "a", "--verify", "--keys", filepath.Join(dir, "absent.json")},
	} {
		code, _, _ := capture(t, func() int { return run(args) })
		if code != 1 {
			t.Errorf("moat %s: exit %d, want 1", strings.Join(args, " "), code)
		}
	}
}
