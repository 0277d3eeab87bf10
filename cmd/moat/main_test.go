package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// capture runs f with os.Stdout and os.Stderr redirected to pipes and
// returns what it wrote. Tests that use it must not run in parallel.
func capture(t *testing.T, f func() int) (code int, stdout, stderr string) {
	t.Helper()
	pipe := func(target **os.File) (restore func() string) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		saved := *target
		*target = w
		out := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(r)
			r.Close()
			out <- string(b)
		}()
		return func() string {
			*target = saved
			w.Close()
			return <-out
		}
	}
	restoreOut := pipe(&os.Stdout)
	restoreErr := pipe(&os.Stderr)
	defer func() {
		// Restore even when f panics or calls t.FailNow.
		if restoreOut != nil {
			restoreOut()
			restoreErr()
		}
	}()
	code = f()
	stdout, stderr = restoreOut(), restoreErr()
	restoreOut, restoreErr = nil, nil
	return code, stdout, stderr
}

// writeFile writes content to name in a fresh temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	valid := writeFile(t, "valid.yaml", `listeners:
  - name: local
    address: "127.0.0.1:0"
mqtt:
  max_packet_size: 256KiB
  max_inflight: 10
log:
  level: debug
`)
	unknownKey := writeFile(t, "typo.yaml", `listeners:
  - address: "127.0.0.1:0"
mqtt:
  max_packet_sise: 1MiB
`)
	insecureAllowed := writeFile(t, "insecure.yaml", "allow_insecure: true\n")
	example, err := filepath.Abs(filepath.Join("..", "..", "internal", "config", "testdata", "moat.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "absent.yaml")

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string // substrings of stdout
		wantErr    []string // substrings of stderr
		wantErrNot []string // must not appear in stderr
	}{
		{name: "version", args: []string{"version"}, wantCode: 0, wantOut: []string{"moat " + version}},
		{name: "--version", args: []string{"--version"}, wantCode: 0, wantOut: []string{"moat " + version}},
		{name: "help", args: []string{"help"}, wantCode: 0, wantOut: []string{"Usage:", "moat serve"}},
		{name: "no command", args: nil, wantCode: 2, wantErr: []string{"Usage:"}},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: 2,
			wantErr: []string{`unknown command "frobnicate"`, "Usage:"}},
		{name: "unknown serve flag", args: []string{"serve", "--frobnicate"}, wantCode: 2,
			wantErr: []string{"frobnicate"}},
		{name: "check defaults", args: []string{"serve", "--check"}, wantCode: 0,
			wantOut: []string{"configuration OK"}},
		{name: "check valid file", args: []string{"serve", "--check", "--config", valid}, wantCode: 0,
			wantOut: []string{"configuration OK"}},
		{name: "check the example file", args: []string{"serve", "--check", "--config", example}, wantCode: 0,
			wantOut: []string{"configuration OK"}},
		{name: "check unknown key", args: []string{"serve", "--check", "--config", unknownKey}, wantCode: 1,
			wantErr: []string{unknownKey + ":4:3: mqtt.max_packet_sise: unknown key"}},
		{name: "check missing file", args: []string{"serve", "--check", "--config", missing}, wantCode: 1,
			wantErr: []string{"absent.yaml"}},
		{name: "insecure listen refused", args: []string{"serve", "--check", "--listen", "0.0.0.0:1883"}, wantCode: 1,
			wantErr: []string{"listeners[0].address", "0.0.0.0:1883", "allow_insecure"}},
		{name: "all interfaces refused", args: []string{"serve", "--check", "--listen", ":1883"}, wantCode: 1,
			wantErr: []string{"allow_insecure"}},
		{name: "second listen insecure refused",
			args:     []string{"serve", "--check", "--listen", "127.0.0.1:1883", "--listen", "0.0.0.0:1884"},
			wantCode: 1, wantErr: []string{"listeners[1].address", "allow_insecure"},
			wantErrNot: []string{"listeners[0]"}},
		{name: "loopback listen accepted", args: []string{"serve", "--check", "--listen", "127.0.0.1:1883"},
			wantCode: 0, wantOut: []string{"configuration OK"}},
		{name: "IPv6 loopback accepted", args: []string{"serve", "--check", "--listen", "[::1]:1883"},
			wantCode: 0, wantOut: []string{"configuration OK"}},
		{name: "insecure listen with allow_insecure",
			args:     []string{"serve", "--check", "--config", insecureAllowed, "--listen", "0.0.0.0:1883"},
			wantCode: 0, wantOut: []string{"configuration OK"}},
		{name: "bad listen address", args: []string{"serve", "--check", "--listen", "localhost"}, wantCode: 1,
			wantErr: []string{"listeners[0].address"}},
		{name: "bad log level", args: []string{"serve", "--check", "--log-level", "loud"}, wantCode: 1,
			wantErr: []string{"loud"}},
		{name: "bad log format", args: []string{"serve", "--check", "--log-format", "xml"}, wantCode: 1,
			wantErr: []string{"xml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := capture(t, func() int { return run(tc.args) })
			if code != tc.wantCode {
				t.Errorf("run(%q) = %d, want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.wantCode, stdout, stderr)
			}
			for _, s := range tc.wantOut {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout %q does not contain %q", stdout, s)
				}
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q does not contain %q", stderr, s)
				}
			}
			for _, s := range tc.wantErrNot {
				if strings.Contains(stderr, s) {
					t.Errorf("stderr %q contains %q", stderr, s)
				}
			}
			if tc.wantCode == 0 && stderr != "" {
				t.Errorf("success wrote to stderr: %q", stderr)
			}
			if tc.wantCode != 0 && strings.Contains(stdout, "configuration OK") {
				t.Errorf("failure printed %q", stdout)
			}
		})
	}
}
