package main

import (
	"encoding/json"
	"net"
	"regexp"
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
	// The default: a table on stdout, and (stderr is a pipe here, not a
	// terminal) no progress line.
	out, stderr := scanRun(t, 1, append(fast, addr)...)
	row := regexp.MustCompile(`(?m)^MOAT-AUTH-001 +high +` + regexp.QuoteMeta(addr) + ` +Anonymous access on a non-loopback listener +the broker accepted`)
	if !row.MatchString(out) || !strings.HasPrefix(out, "moat scan: "+addr+"\n\nID             SEVERITY  TARGET") ||
		strings.Contains(out, "why:") || stderr != "" {
		t.Errorf("table or progress:\n%s\nstderr: %q", out, stderr)
	}
	// --progress: one line per step, numbered against the plan.
	_, stderr = scanRun(t, 1, append(fast, "--progress", "--publish", addr)...)
	for _, want := range []string{"scanning " + addr + ": detecting the transport\n", "scanning " + addr + ": authentication (1/7)\n",
		"scanning " + addr + ": subscribe $SYS/# (4/7)\n", "scanning " + addr + ": $SYS write (7/7)\n"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--progress lacks %q:\n%s", want, stderr)
		}
	}
	// --details: the long text with why and fix.
	out, _ = scanRun(t, 1, append(fast, "--details", addr)...)
	if !strings.Contains(out, "  MOAT-AUTH-001  "+addr+"\n") || !strings.Contains(out, "    fix: ") {
		t.Errorf("--details:\n%s", out)
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
	if !strings.Contains(out, `"ruleId": "MOAT-AUTH-001"`) || !strings.Contains(out, `"informationUri": "`+doctor.ScanInformationURI+`"`) {
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
	scanRun(t, 2, "--signed-topic", "plant/1/cmd", addr)
	scanRun(t, 2, "--intrusive", "--signed-topic", "plant/+/cmd", addr)
	scanRun(t, 2, "--quiet", "--progress", addr)
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
