package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/loadgen"
	"github.com/moatmq/moat/internal/testutil"
)

func TestBenchUsage(t *testing.T) {
	code, _, stderr := capture(t, func() int { return run([]string{"bench", "--help"}) })
	if code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	for _, s := range loadgen.Scenarios {
		if !strings.Contains(stderr, string(s.Name)+" ") {
			t.Errorf("--help does not list %s:\n%s", s.Name, stderr)
		}
	}
	pw := writeFile(t, "pw", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "give one scenario"},
		{[]string{"bench", "pairs", "fanin"}, "give one scenario"},
		{[]string{"bench", "nope"}, "unknown scenario"},
		{[]string{"bench", "pairs", "--mqtt", "4.0"}, "want 3.1.1 or 5"},
		{[]string{"bench", "pairs", "--qos", "3"}, "--qos 3"},
		{[]string{"bench", "pairs", "--cafile", "ca.crt"}, "need --tls"},
		{[]string{"bench", "pairs", "--insecure-skip-verify"}, "need --tls"},
		{[]string{"bench", "connrate", "--tls-resume"}, "need --tls"},
		{[]string{"bench", "connrate", "--tls-curves", "X25519"}, "need --tls"},
		{[]string{"bench", "connrate", "--tls", "--tls-max-version", "1.1"}, "want 1.2 or 1.3"},
		{[]string{"bench", "connrate", "--tls", "--tls-curves", "P192"}, "TLS curve"},
		{[]string{"bench", "pairs", "--tls", "--cert", "c.pem"}, "both the certificate and the key"},
		{[]string{"bench", "pairs", "--password", "a", "--password-file", pw}, "not both"},
		{[]string{"bench", "pairs", "--username", "u", "--password-file", pw}, "empty password"},
		{[]string{"bench", "pairs", "--size", "8"}, "payload size"},
	} {
		code, _, stderr := capture(t, func() int { return run(tc.args) })
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestBenchPasswordFile(t *testing.T) {
	p := writeFile(t, "pw", "s3cret\r\nsecond line\n")
	got, err := readPasswordFile(p)
	if err != nil || string(got) != "s3cret" {
		t.Errorf("readPasswordFile = %q, %v", got, err)
	}
}

// TestBenchAgainstBroker runs two tiny scenarios through the command
// against an in-process broker.
func TestBenchAgainstBroker(t *testing.T) {
	addr, _ := testutil.Start(t, nil)
	code, stdout, stderr := capture(t, func() int {
		return run([]string{"bench", "pairs", "--addr", addr, "--clients", "2", "--messages", "50", "--qos", "1", "--json"})
	})
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	var rep loadgen.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if m := rep.Messages; m == nil || m.Received != 100 || m.Lost != 0 || !rep.OK() {
		t.Errorf("report %s", stdout)
	}
	code, stdout, stderr = capture(t, func() int {
		return run([]string{"bench", "idle", "--addr", addr, "--clients", "5", "--duration", "10ms", "--mqtt", "3.1.1"})
	})
	if code != 0 || !strings.Contains(stdout, "5 held, 5 alive") || !strings.Contains(stdout, "result    OK") {
		t.Errorf("idle: exit %d: %s%s", code, stdout, stderr)
	}
}
