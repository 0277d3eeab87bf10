package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/firstrun"
)

// doctorRun runs moat doctor with args and checks its exit status.
func doctorRun(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := capture(t, func() int { return run(append([]string{"doctor"}, args...)) })
	if code != want {
		t.Fatalf("moat doctor %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

func TestDoctorCommand(t *testing.T) {
	dataDir := t.TempDir()
	insecure := writeFile(t, "insecure.yaml", `allow_insecure: true
data_dir: `+dataDir+`
listeners:
  - name: public
    address: "0.0.0.0:1883"
auth:
  allow_anonymous: true
`)
	out, _ := doctorRun(t, 1, "--config", insecure)
	for _, s := range []string{"CRITICAL (3)", "MOAT-AUTH-001  listeners[0].auth.methods", "MOAT-NET-001", "MOAT-ACL-001",
		"acknowledged by allow_insecure", "why: ", "fix: ", "summary: 3 critical"} {
		if !strings.Contains(out, s) {
			t.Errorf("text report lacks %q:\n%s", s, out)
		}
	}
	// Acknowledged findings can be left out of the exit status.
	doctorRun(t, 0, "--config", insecure, "--ignore-acknowledged")
	// Only critical findings printed; the summary still counts all.
	out, _ = doctorRun(t, 1, "--config", insecure, "--min-severity", "critical")
	if strings.Contains(out, "LOW (") || !strings.Contains(out, "1 low") {
		t.Errorf("--min-severity critical:\n%s", out)
	}

	out, _ = doctorRun(t, 1, "--config", insecure, "--json")
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if rep.Tool != "moat doctor" || rep.Subject != insecure || rep.Summary.Critical != 3 || rep.Findings[0].Severity != doctor.SeverityCritical {
		t.Errorf("--json report: %+v", rep)
	}
	out, _ = doctorRun(t, 1, "--config", insecure, "--format", "sarif")
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct{ RuleID string } `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs[0].Results) != len(rep.Findings) {
		t.Errorf("--format sarif: %v\n%s", err, out)
	}

	// A high finding fails by default, not with --fail-on critical.
	bf := writeFile(t, "bf.yaml", "data_dir: "+dataDir+"\nauth:\n  allow_anonymous: true\n  brute_force:\n    enabled: false\n")
	doctorRun(t, 1, "--config", bf)
	doctorRun(t, 0, "--config", bf, "--fail-on", "critical")
	// --acknowledge marks findings.
	out, _ = doctorRun(t, 1, "--config", bf, "--acknowledge", doctor.IDBruteForceOff, "--json")
	if !strings.Contains(out, `"acknowledged_by": "acknowledge"`) {
		t.Errorf("--acknowledge did not mark the finding:\n%s", out)
	}
	// So does the configuration's acknowledge list, as for moat serve.
	bfAcked := writeFile(t, "bf-acked.yaml", "data_dir: "+dataDir+"\nacknowledge: [\""+doctor.IDBruteForceOff+"\"]\n"+
		"auth:\n  allow_anonymous: true\n  brute_force:\n    enabled: false\n")
	out, _ = doctorRun(t, 1, "--config", bfAcked, "--json")
	if !strings.Contains(out, `"acknowledged_by": "acknowledge"`) {
		t.Errorf("the configuration's acknowledge list did not mark the finding:\n%s", out)
	}

	// Usage and load errors.
	doctorRun(t, 2, "--format", "xml")
	doctorRun(t, 2, "--fail-on", "severe")
	doctorRun(t, 2, "extra")
	doctorRun(t, 2, "--config", bf, "--acknowledge", "MOAT-TYPO-001")
	doctorRun(t, 2, "--config", filepath.Join(t.TempDir(), "absent.yaml"))
	_, stderr := doctorRun(t, 2, "--config", writeFile(t, "bad.yaml", "mqtt:\n  max_packet_sise: 1\n"))
	if !strings.Contains(stderr, "max_packet_sise") {
		t.Errorf("a configuration error is not shown: %s", stderr)
	}
}

// TestDoctorFirstRun: without --config, doctor audits the first run's data
// directory without creating it, and a prepared first run is clean.
func TestDoctorFirstRun(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "moat-data")
	out, _ := doctorRun(t, 0, "--data-dir", absent)
	if !strings.Contains(out, "does not exist yet") {
		t.Errorf("no note about the missing data directory:\n%s", out)
	}
	if _, err := os.Stat(absent); err == nil {
		t.Fatal("moat doctor created the data directory")
	}
	dir := filepath.Join(t.TempDir(), "moat-data")
	if _, err := firstrun.Prepare(firstrun.Options{DataDir: dir}, io.Discard); err != nil {
		t.Fatal(err)
	}
	out, _ = doctorRun(t, 0, "--data-dir", dir, "--fail-on", "medium")
	if strings.Contains(out, "CRITICAL") || strings.Contains(out, "HIGH") || strings.Contains(out, "does not exist") {
		t.Errorf("first run report:\n%s", out)
	}
}

// moat serve runs the critical checks of moat doctor before it opens a
// listener: a private key readable by others stops the start (and
// --check) unless the configuration acknowledges that finding.
func TestServeRefusesCriticalFindings(t *testing.T) {
	dir := t.TempDir()
	ca, err := certs.NewCA(filepath.Join(dir, "ca"), certs.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := ca.IssueServer(certs.LeafOptions{DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	crtFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	if err := certs.WritePair(crtFile, crt, keyFile, key, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	base := "data_dir: " + filepath.Join(dir, "data") + "\nlisteners:\n  - address: 127.0.0.1:0\n    transport: tls\n    tls: {cert: " +
		crtFile + ", key: " + keyFile + "}\n"
	refused := writeFile(t, "refused.yaml", base)
	code, _, errOut := capture(t, func() int { return run([]string{"serve", "--check", "--config", refused}) })
	if code != 1 || !strings.Contains(errOut, "MOAT-FILE-001") || !strings.Contains(errOut, "acknowledge") {
		t.Fatalf("a world-readable key: exit %d\n%s", code, errOut)
	}
	acked := writeFile(t, "acked.yaml", base+"acknowledge: [\"MOAT-FILE-001@"+keyFile+"\"]\n")
	if code, out, errOut := capture(t, func() int { return run([]string{"serve", "--check", "--config", acked}) }); code != 0 {
		t.Fatalf("acknowledged: exit %d\n%s%s", code, out, errOut)
	}
	bad := writeFile(t, "bad.yaml", base+"acknowledge: [\"MOAT-NOPE-999\"]\n")
	if code, _, errOut := capture(t, func() int { return run([]string{"serve", "--check", "--config", bad}) }); code != 1 {
		t.Fatalf("an unknown finding ID acknowledged: exit %d\n%s", code, errOut)
	}
}
