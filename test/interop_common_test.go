package test

// Shared plumbing of the interop tests: they drive real, non-Go MQTT
// clients (mosquitto_pub/mosquitto_sub, Python paho-mqtt, MQTT.js) against
// an in-process broker. scripts/deps installs the peers.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/testutil"
)

const (
	// interopDir holds the Python and JavaScript check programs; go test
	// runs with the package folder (test/) as working directory.
	interopDir = "interop"
	// peerTimeout bounds one check program run (they stop themselves
	// after their own --timeout plus a watchdog margin).
	peerTimeout = 30 * time.Second
	// checkTimeout is the --timeout passed to the check programs.
	checkTimeout = "15"
)

// requirePeer fails (when CI is set) or skips the test when a peer program
// cannot run: a missing peer in CI is a failure, never a silent skip.
func requirePeer(t *testing.T, peer string, probe func(ctx context.Context) (string, error)) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	version, err := probe(ctx)
	if err != nil {
		msg := fmt.Sprintf("interop peer %s is not available (%v); run scripts/deps to install it", peer, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Logf("interop peer %s %s", peer, version)
	return version
}

// probeCommand runs name args and returns its trimmed output, or an error
// that includes the output when it fails.
func probeCommand(ctx context.Context, dir, name string, args ...string) (string, error) {
	if _, err := exec.LookPath(name); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return strings.TrimSpace(string(out)), nil
}

// interopBroker starts an in-process broker for the test and returns its
// host and port with the topic prefix the test should use.
//
// With MOAT_INTEROP_BROKER=host:port the checks run against that broker
// instead (for instance a reference mosquitto, to validate the checks
// themselves); the prefix then gets a random suffix so that repeated runs
// do not see each other's retained messages.
func interopBroker(t *testing.T, prefix string) (host, port, base string) {
	t.Helper()
	addr := os.Getenv("MOAT_INTEROP_BROKER")
	if addr == "" {
		addr, _ = testutil.Start(t, nil)
	} else {
		prefix += "/" + strconv.FormatInt(time.Now().UnixNano(), 36)
		t.Logf("MOAT_INTEROP_BROKER set: using the external broker at %s", addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("broker address %q: %v", addr, err)
	}
	return host, port, prefix
}

// checkSummary is the JSON line the Python and JavaScript check programs
// print on stdout.
type checkSummary struct {
	Peer        string                 `json:"peer"`
	PeerVersion string                 `json:"peer_version"`
	OK          bool                   `json:"ok"`
	Error       string                 `json:"error"`
	Checks      map[string]checkResult `json:"checks"`
}

// checkResult is one check's outcome inside a checkSummary.
type checkResult struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error"`
	Detail json.RawMessage `json:"detail"`
}

// runCheckProgram runs one check of a Python or JavaScript check program
// and fails the test unless the program exits 0 and reports the check as
// passed. Program output is attached to every failure.
func runCheckProgram(t *testing.T, check, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = interopDir
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(start).Round(time.Millisecond)
	report := func() string {
		return fmt.Sprintf("command: %s %s\nstdout:\n%s\nstderr:\n%s",
			name, strings.Join(args, " "), stdout.String(), stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("check %s: program did not finish within %v\n%s", check, peerTimeout, report())
	}

	var sum checkSummary
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("check %s: no JSON summary on stdout (%v), exit: %v\n%s", check, err, runErr, report())
	}
	res, ok := sum.Checks[check]
	switch {
	case !ok:
		t.Fatalf("check %s: missing from the summary (exit: %v)\n%s", check, runErr, report())
	case !res.OK:
		t.Fatalf("check %s failed with %s %s: %s\n%s", check, sum.Peer, sum.PeerVersion, res.Error, report())
	case runErr != nil || !sum.OK:
		t.Fatalf("check %s passed but the program failed (exit: %v)\n%s", check, runErr, report())
	}
	t.Logf("%s %s: %s passed in %v: %s", sum.Peer, sum.PeerVersion, check, elapsed, res.Detail)
}
