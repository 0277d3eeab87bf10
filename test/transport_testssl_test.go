package test

// testssl.sh (Debian package testssl.sh, command testssl) against the TLS
// listener with its defaults.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// testsslLimit bounds the scan. The scoped run below takes about 25 s; the
// client simulation (-c), the HTTP header checks (-h, Moat is not HTTP)
// and the per-cipher listing (-e/-E) are left out to keep it so.
const testsslLimit = 150 * time.Second

// testsslFinding is one entry of testssl's flat JSON output.
type testsslFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// TestTransport_TestSSL scans a default tls listener for protocols (-p),
// cipher categories (-s), forward secrecy (-f), server defaults and the
// certificate (-S), server preferences (-P) and known vulnerabilities (-U),
// and fails on any HIGH, CRITICAL or FATAL (scan problem) finding.
func TestTransport_TestSSL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("testssl.sh scan takes about 25 s; skipped with -short")
	}
	testssl := requireTool(t, "testssl.sh", "testssl", "openssl")
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		c.Listeners = []config.Listener{tlsListener(p, "tls")}
	})
	jsonFile := filepath.Join(t.TempDir(), "testssl.json")
	openssl, _ := exec.LookPath("openssl")
	start := time.Now()
	out, err := runTool(t, testsslLimit, nil, testssl,
		"--quiet", "--color", "0", "--warnings", "off", "--openssl", openssl,
		"--add-ca", p.CA, "--jsonfile", jsonFile,
		"-p", "-s", "-f", "-S", "-P", "-U", b.addr(0))
	t.Logf("testssl finished in %v (exit: %v)", time.Since(start).Round(time.Second), err)
	data, rerr := os.ReadFile(jsonFile)
	if rerr != nil {
		t.Fatalf("testssl wrote no JSON (%v); output:\n%s", rerr, out)
	}
	var findings []testsslFinding
	if err := json.Unmarshal(data, &findings); err != nil {
		t.Fatalf("testssl JSON: %v\n%s", err, data)
	}
	byID := map[string]testsslFinding{}
	var bad []string
	for _, f := range findings {
		byID[f.ID] = f
		switch f.Severity {
		case "HIGH", "CRITICAL", "FATAL":
			bad = append(bad, f.Severity+" "+f.ID+": "+f.Finding)
		}
	}
	if len(bad) > 0 {
		t.Errorf("testssl findings of severity HIGH or above:\n  %s", strings.Join(bad, "\n  "))
	}
	// The scan did run: these are among what it must have reported.
	for id, want := range map[string]string{
		"SSLv3":               "not offered",
		"TLS1":                "not offered",
		"TLS1_1":              "not offered",
		"TLS1_2":              "offered",
		"TLS1_3":              "offered",
		"cert_chain_of_trust": "passed",
	} {
		f, ok := byID[id]
		if !ok {
			t.Errorf("testssl reported nothing for %s", id)
		} else if !strings.HasPrefix(f.Finding, want) {
			t.Errorf("testssl %s: %q, want %q", id, f.Finding, want)
		}
	}
	if t.Failed() {
		t.Logf("testssl output:\n%s", out)
	}
}
