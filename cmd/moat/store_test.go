package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store/disk"
)

func TestStoreCommands(t *testing.T) {
	t.Setenv(disk.DefaultKeyEnv, "")
	os.Unsetenv(disk.DefaultKeyEnv)
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	keyFile := filepath.Join(tmp, "store.key")
	newKeyFile := filepath.Join(tmp, "new.key")
	storeRun := func(want int, args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := capture(t, func() int { return run(append([]string{"store"}, args...)) })
		if code != want {
			t.Fatalf("moat store %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout, stderr
	}

	storeRun(0, "gen-key", "--key-file", keyFile)
	storeRun(0, "gen-key", "--key-file", newKeyFile)
	if _, errOut := storeRun(1, "gen-key", "--key-file", keyFile); !strings.Contains(errOut, "already exists") {
		t.Fatalf("gen-key over a key: %q", errOut)
	}
	key, err := disk.LoadKey(keyFile, "")
	if err != nil {
		t.Fatal(err)
	}

	// A store as the broker leaves it.
	s, err := disk.Open(disk.Options{Dir: disk.DefaultDir(data), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := s.Enqueue("c1", seq, &session.Message{Topic: "t", Payload: []byte("p"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	out, _ := storeRun(0, "check", "--data-dir", data, "--key-file", keyFile)
	for _, want := range []string{"store OK", "3 queued message(s)", "AES-256-GCM, key id "} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if _, errOut := storeRun(1, "check", "--data-dir", data, "--key-file", newKeyFile); !strings.Contains(errOut, "wrong store key") {
		t.Errorf("check with the wrong key: %q", errOut)
	}
	if _, errOut := storeRun(1, "check", "--data-dir", data); !strings.Contains(errOut, "no key was given") {
		t.Errorf("check without a key: %q", errOut)
	}
	// The key from the environment.
	hexKey, _ := os.ReadFile(keyFile)
	t.Setenv("TEST_MOAT_KEY", string(hexKey))
	storeRun(0, "check", "--data-dir", data, "--key-env", "TEST_MOAT_KEY")
	// Without a key flag, the broker's key: DATA_DIR/store.key by default,
	// the configuration's store.key_env when it names one.
	if err := os.WriteFile(filepath.Join(data, "store.key"), hexKey, 0o600); err != nil {
		t.Fatal(err)
	}
	storeRun(0, "check", "--data-dir", data)
	cfgFile := filepath.Join(tmp, "moat.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+data+"\nstore:\n  key_env: TEST_MOAT_NO_KEY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut := storeRun(1, "check", "--config", cfgFile); !strings.Contains(errOut, "no key was given") {
		t.Errorf("check with an unset store.key_env: %q", errOut)
	}
	if err := os.Remove(filepath.Join(data, "store.key")); err != nil {
		t.Fatal(err)
	}

	// A key file others can read is refused.
	loose := filepath.Join(tmp, "loose.key")
	if err := os.WriteFile(loose, hexKey, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut := storeRun(1, "check", "--data-dir", data, "--key-file", loose); !strings.Contains(errOut, "chmod 600") {
		t.Errorf("loose key file: %q", errOut)
	}

	storeRun(0, "rotate-key", "--data-dir", data, "--key-file", keyFile, "--new-key-file", newKeyFile)
	storeRun(1, "check", "--data-dir", data, "--key-file", keyFile)
	storeRun(0, "check", "--store-dir", disk.DefaultDir(data), "--key-file", newKeyFile)

	into := filepath.Join(tmp, "recovered")
	out, _ = storeRun(0, "recover", "--data-dir", data, "--key-file", newKeyFile, "--into", into)
	if !strings.Contains(out, "3 queued message(s)") || !strings.Contains(out, "0 record(s) could not be read") {
		t.Errorf("recover output:\n%s", out)
	}
	storeRun(0, "check", "--store-dir", into, "--key-file", newKeyFile)

	storeRun(0, "rotate-key", "--data-dir", data, "--key-file", newKeyFile, "--decrypt")
	out, _ = storeRun(0, "check", "--data-dir", data)
	if !strings.Contains(out, "no (clear") {
		t.Errorf("check of a clear store:\n%s", out)
	}

	// --config takes data_dir from the configuration.
	cfg := filepath.Join(tmp, "moat.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+data+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	storeRun(0, "check", "--config", cfg)

	storeRun(2)
	storeRun(2, "frobnicate")
	storeRun(2, "gen-key")
	storeRun(2, "recover", "--data-dir", data)
	storeRun(2, "rotate-key", "--data-dir", data)
	storeRun(2, "rotate-key", "--data-dir", data, "--decrypt", "--new-key-file", keyFile)
	if _, errOut := storeRun(1, "check", "--data-dir", filepath.Join(tmp, "nothing")); !strings.Contains(errOut, "no store here") {
		t.Errorf("check of a missing store: %q", errOut)
	}
}
