package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/audit/auditlog"
	"github.com/moatmq/moat/internal/packet"
)

func TestAuditVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, err := auditlog.Open(auditlog.Options{Path: path, MaxSize: 1500})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		l.Record(audit.Event{Kind: audit.AuthFailure, Listener: "tls", Reason: packet.BadUserNameOrPassword,
			Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 1883)})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(files) < 3 {
		t.Fatalf("files: %v %v", files, err)
	}
	verify := func(want int, args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := capture(t, func() int { return run(append([]string{"audit"}, args...)) })
		if code != want {
			t.Fatalf("moat audit %s: exit %d, want %d\nstdout: %s\nstderr: %s",
				strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout, stderr
	}
	out, errOut := verify(0, append([]string{"verify"}, files...)...)
	want := "ok: 12 records in " + strconv.Itoa(len(files)) + " files, seq 1..12\n"
	if out != want || errOut != "" {
		t.Fatalf("stdout %q (want %q), stderr %q", out, want, errOut)
	}

	// Only the live file: the earlier records are not there, said on stderr.
	out, errOut = verify(0, "verify", path)
	if !strings.HasPrefix(out, "ok: ") || !strings.Contains(out, " in 1 file, ") || !strings.Contains(errOut, "warning: ") {
		t.Fatalf("stdout %q, stderr %q", out, errOut)
	}

	// An edited record fails, naming the file, line and seq.
	edited := ""
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.SplitAfter(b, []byte("\n"))
		for i, line := range lines {
			if bytes.Contains(line, []byte(`"seq":3,`)) {
				lines[i] = bytes.Replace(line, []byte(`"listener":"tls"`), []byte(`"listener":"tcp"`), 1)
				edited = f + ":" + strconv.Itoa(i+1) + ": seq 3: altered: "
			}
		}
		if err := os.WriteFile(f, bytes.Join(lines, nil), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, _ = verify(1, append([]string{"verify"}, files...)...)
	if edited == "" || !strings.HasPrefix(out, "FAIL: "+edited) {
		t.Fatalf("stdout %q, want the problem at %q", out, edited)
	}

	if _, errOut := verify(1, "verify", filepath.Join(dir, "missing.log")); !strings.Contains(errOut, "missing.log") {
		t.Fatalf("missing file: %q", errOut)
	}
	verify(2)
	verify(2, "verify")
	verify(2, "frobnicate", path)
	verify(0, "--help")
}
