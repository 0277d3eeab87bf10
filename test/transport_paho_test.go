package test

// Python paho-mqtt (Debian's python3-paho-mqtt through /usr/bin/python3)
// over TLS and mutual TLS, driving transport/paho_tls.py.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// TestTransport_Paho_TLS: paho-mqtt verifies the server certificate
// against the CA (host name included) and makes a QoS 1 round trip with
// MQTT 3.1.1 and 5, over TLS and over mutual TLS.
func TestTransport_Paho_TLS(t *testing.T) {
	t.Parallel()
	requirePeer(t, "python3-paho-mqtt", func(ctx context.Context) (string, error) {
		return probeCommand(ctx, ".", debianPython, "-c", "import paho.mqtt; print(paho.mqtt.__version__)")
	})
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		c.Listeners = []config.Listener{tlsListener(p, "tls"), mtlsListener(p, "mtls")}
	})
	checks := []string{"roundtrip-311", "roundtrip-5"}
	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		runTransportScript(t, checks, debianPython, "paho_tls.py", "127.0.0.1", b.port(0), p.CA, "--timeout", checkTimeout)
	})
	t.Run("mtls", func(t *testing.T) {
		t.Parallel()
		runTransportScript(t, checks, debianPython, "paho_tls.py", "127.0.0.1", b.port(1), p.CA,
			p.clientCert(clientValid), p.clientKey(clientValid), "--timeout", checkTimeout)
	})
}

// runTransportScript runs a check program of test/transport and fails the
// test unless it exits 0 and its JSON summary (the last stdout line)
// reports every one of checks as passed.
func runTransportScript(t *testing.T, checks []string, name string, args ...string) checkSummary {
	t.Helper()
	return runTransportScriptEnv(t, nil, checks, name, args...)
}

// runTransportScriptEnv is runTransportScript with extra environment
// variables ("K=V").
func runTransportScriptEnv(t *testing.T, env []string, checks []string, name string, args ...string) checkSummary {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = transportDir
	if env != nil {
		cmd.Env = append(cmd.Environ(), env...)
	}
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	report := func() string {
		return fmt.Sprintf("command: %s %s\nstdout:\n%s\nstderr:\n%s",
			name, strings.Join(args, " "), stdout.String(), stderr.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("program did not finish within %v\n%s", peerTimeout, report())
	}
	var sum checkSummary
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("no JSON summary on stdout (%v), exit: %v\n%s", err, runErr, report())
	}
	for _, c := range checks {
		res, ok := sum.Checks[c]
		switch {
		case !ok:
			t.Errorf("check %s: missing from the summary", c)
		case !res.OK:
			t.Errorf("check %s failed with %s %s: %s", c, sum.Peer, sum.PeerVersion, res.Error)
		default:
			t.Logf("%s %s: %s passed: %s", sum.Peer, sum.PeerVersion, c, res.Detail)
		}
	}
	if runErr != nil || !sum.OK {
		t.Errorf("program failed (exit: %v, ok: %v)", runErr, sum.OK)
	}
	if t.Failed() {
		t.Fatal(report())
	}
	return sum
}
