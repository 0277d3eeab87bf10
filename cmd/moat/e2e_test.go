package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/testutil/syncbuf"

	"github.com/moatmq/moat/internal/testutil"
)

// lockedBuffer is a buffer safe for concurrent writers.
type lockedBuffer = syncbuf.Buffer

// buildMoat compiles ./cmd/moat into a temporary directory.
func buildMoat(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH:", err)
	}
	bin := filepath.Join(t.TempDir(), "moat")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/moat")
	cmd.Dir = testutil.ModuleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildMoat(t)
	tests := []struct {
		name       string
		sig        syscall.Signal
		holdClient bool // keep a connection that never sends CONNECT open
		wantLog    []string
	}{
		{name: "SIGTERM", sig: syscall.SIGTERM,
			wantLog: []string{"moat started", "signal=terminated", "stopped"}},
		{name: "SIGINT", sig: syscall.SIGINT,
			wantLog: []string{"moat started", "signal=interrupt", "stopped"}},
		{name: "SIGTERM with a client connected", sig: syscall.SIGTERM, holdClient: true,
			wantLog: []string{"stopped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
			var logs lockedBuffer
			cmd := exec.Command(bin, "serve", "--listen", addr)
			cmd.Dir = t.TempDir() // the zero-configuration start writes moat-data/ here
			cmd.Stdout = &logs
			cmd.Stderr = &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
					<-done
				}
			})

			var client net.Conn
			testutil.Eventually(t, 10*time.Second, "moat accepts TCP on "+addr, func() bool {
				select {
				case err := <-done:
					t.Fatalf("moat exited before accepting: %v\n%s", err, logs.String())
				default:
				}
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					return false
				}
				client = c
				return true
			})
			if tc.holdClient {
				defer client.Close()
			} else {
				client.Close()
			}

			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("moat ended with %q after %v, want exit code 0\n%s", ee, tc.sig, logs.String())
				}
				if err != nil {
					t.Fatalf("wait: %v", err)
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("moat still running 10s after %v\n%s", tc.sig, logs.String())
			}
			out := logs.String()
			for _, s := range tc.wantLog {
				if !strings.Contains(out, s) {
					t.Errorf("log does not contain %q:\n%s", s, out)
				}
			}
		})
	}
}

// SIGHUP reads the configuration file again: a new listener firewall
// applies to new connections, a change that needs a restart is logged and
// not applied, and a broken file changes nothing.
func TestServeSIGHUPReloadsConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildMoat(t)
	dir := t.TempDir()
	port := strconv.Itoa(freePort(t))
	cfgFile := filepath.Join(dir, "moat.yaml")
	write := func(firewall, extra string) {
		t.Helper()
		body := "data_dir: " + filepath.Join(dir, "data") + "\nauth: {allow_anonymous: true}\n" + extra +
			"listeners:\n  - name: local\n    address: 127.0.0.1:" + port + "\n" + firewall
		if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("", "")
	var logs lockedBuffer
	cmd := exec.Command(bin, "serve", "--config", cfgFile)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	// served reports whether a connection from 127.0.0.2 is kept open
	// (the broker waits for CONNECT) rather than closed at once.
	served := func() bool {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: time.Second}
		c, err := d.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	testutil.Eventually(t, 10*time.Second, "moat serves 127.0.0.2", served)

	write("    firewall: {deny: [127.0.0.2]}\n", "mqtt: {max_inflight: 7}\n")
	cmd.Process.Signal(syscall.SIGHUP)
	testutil.Eventually(t, 10*time.Second, "the reloaded firewall refuses 127.0.0.2", func() bool { return !served() })
	testutil.Eventually(t, 10*time.Second, "the restart-only change is logged", func() bool {
		return strings.Contains(logs.String(), "need a restart were not applied") && strings.Contains(logs.String(), "sections=mqtt")
	})

	if err := os.WriteFile(cfgFile, []byte("listeners: [{address: nowhere}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	testutil.Eventually(t, 10*time.Second, "the broken file is refused", func() bool {
		return strings.Contains(logs.String(), "configuration not reloaded; the one in force stays")
	})
	if served() {
		t.Fatalf("a refused reload changed the firewall\n%s", logs.String())
	}
}
