package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/testutil"
)

// scanRun runs moat scan with args and checks its exit status.
func scanRun(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := capture(t, func() int { return run(append([]string{"scan"}, args...)) })
	if code != want {
		t.Fatalf("moat scan %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

func TestScanCommand(t *testing.T) {
	addr, _ := testutil.Start(t, nil) // anonymous access, no ACL
	fast := []string{"--idle-wait", "-1s", "--listen", "200ms"}
	out, stderr := scanRun(t, 1, append(fast, addr)...)
	if !strings.Contains(out, "MOAT-AUTH-001  "+addr) || !strings.Contains(stderr, "scan "+addr+": probing") {
		t.Errorf("text report or progress:\n%s\n%s", out, stderr)
	}
	out, stderr = scanRun(t, 1, append(fast, "--json", "--quiet", addr)...)
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if rep.Tool != "moat scan" || rep.Summary.High == 0 || stderr != "" {
		t.Errorf("--json --quiet: %+v, stderr %q", rep, stderr)
	}
	scanRun(t, 0, append(fast, "--fail-on", "critical", "--quiet", addr)...)
	out, _ = scanRun(t, 1, append(fast, "--format", "sarif", "--quiet", addr)...)
	if !strings.Contains(out, `"ruleId": "MOAT-AUTH-001"`) {
		t.Errorf("SARIF:\n%s", out)
	}

	// Bad input: no target, a malformed or public target, flags.
	scanRun(t, 2)
	scanRun(t, 2, "not-a-target")
	scanRun(t, 2, "ftp://127.0.0.1:21")
	_, stderr = scanRun(t, 2, "203.0.113.9:1883")
	if !strings.Contains(stderr, "--allow-public") {
		t.Errorf("public target refusal: %s", stderr)
	}
	scanRun(t, 2, "--cert", "c.pem", addr)
	scanRun(t, 2, "--password", "x", "--password-file", "f", addr)
	scanRun(t, 2, "--max-messages", "0", addr)
	// A target that does not answer: reported, exit 2.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	out, _ = scanRun(t, 2, append(fast, "--quiet", closed)...)
	if !strings.Contains(out, "not scanned: "+closed) {
		t.Errorf("unreachable target:\n%s", out)
	}
}
