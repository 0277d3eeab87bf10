package test

// First run end to end: `moat serve` without a configuration, in an empty
// working directory, creates moat-data/ (a CA and server certificate, an
// admin user whose password is in moat-data/admin-password), serves MQTT
// over TLS (default :8883) and plain MQTT (default 127.0.0.1:1883), and
// requires authentication on both. The test moves both listeners to free
// ports with --tls-address and --plain-address and checks the defaults in
// the help text.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// moatProcess is a running moat binary with its combined output.
type moatProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (m *moatProcess) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.Write(p)
}

func (m *moatProcess) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.String()
}

func (m *moatProcess) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits (SIGKILL after 10 s).
func (m *moatProcess) stop(t testing.TB) {
	t.Helper()
	if m.exited() {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
		t.Errorf("moat did not stop within 10s of SIGTERM\n%s", m.output())
	}
}

// startMoat runs bin serve in dir with HOME set to home.
func startMoat(t *testing.T, bin, dir, home string, args ...string) *moatProcess {
	t.Helper()
	m := &moatProcess{done: make(chan struct{})}
	m.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	m.cmd.Dir = dir
	m.cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	m.cmd.Stdout, m.cmd.Stderr = m, m
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start moat: %v", err)
	}
	go func() { m.err = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() { m.stop(t) })
	return m
}

// buildMoatBinary compiles ./cmd/moat into a temporary directory.
func buildMoatBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH:", err)
	}
	bin := filepath.Join(t.TempDir(), "moat")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/moatmq/moat/cmd/moat").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// connectAuth encodes an MQTT 3.1.1 CONNECT, with user name and password
// when user is not empty.
func connectAuth(id, user, pass string) []byte {
	b := appendStr(nil, "MQTT")
	flags := byte(0x02)
	if user != "" {
		flags |= 0x80 | 0x40
	}
	b = append(b, 4, flags)
	b = appendU16(b, 30)
	b = appendStr(b, id)
	if user != "" {
		b = appendStr(b, user)
		b = appendStr(b, pass)
	}
	return frame(tCONNECT<<4, b)
}

// connackCode sends CONNECT over c and returns the CONNACK return code
// (MQTT 3.1.1: 0 accepted, 4 bad user name or password, 5 not authorized)
// or -1 when the broker closed without one.
func connackCode(t *testing.T, c net.Conn, connect []byte) int {
	t.Helper()
	rc := rawOver(t, c)
	rc.send(connect)
	p, err := rc.read(waitTimeout)
	if err != nil {
		return -1
	}
	if p.Type != tCONNACK || len(p.Body) != 2 {
		t.Fatalf("want CONNACK, got %v", p)
	}
	return int(p.Body[1])
}

// findCAs returns the CA certificates among the PEM files under dir.
func findCAs(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	n := 0
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for {
			var block *pem.Block
			block, data = pem.Decode(data)
			if block == nil {
				return nil
			}
			if block.Type != "CERTIFICATE" {
				continue
			}
			if c, err := x509.ParseCertificate(block.Bytes); err == nil && c.IsCA {
				pool.AddCert(c)
				n++
			}
		}
	})
	if n == 0 {
		t.Fatalf("no CA certificate under %s", dir)
	}
	return pool
}

// TestTransport_FirstRun builds moat and runs `moat serve` in an empty
// directory, then checks what first run promises; a second start keeps
// the generated admin password.
func TestTransport_FirstRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildMoatBinary(t)
	help, _ := runTool(t, 10*time.Second, nil, bin, "serve", "--help")
	for _, want := range []string{"-tls-address", `":8883"`, "-plain-address", `"127.0.0.1:1883"`} {
		if !strings.Contains(help, want) {
			t.Errorf("moat serve --help lacks %s:\n%s", want, help)
		}
	}
	plain, tlsAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	for tlsAddr == plain {
		tlsAddr = "127.0.0.1:" + freePort(t)
	}
	ports := []string{"--tls-address", tlsAddr, "--plain-address", plain}
	dir, home := t.TempDir(), t.TempDir()
	dataDir := filepath.Join(dir, "moat-data")
	pwFile := filepath.Join(dataDir, "admin-password")

	m := startMoat(t, bin, dir, home, ports...)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m.exited() {
			t.Fatalf("moat serve exited on first run: %v\n%s", m.err, m.output())
		}
		c, err := net.DialTimeout("tcp", plain, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moat serve not listening on %s after 15s\n%s", plain, m.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(dataDir); err != nil {
		t.Fatalf("moat serve without a configuration created no moat-data/: %v\n%s", err, m.output())
	}

	fi, err := os.Stat(pwFile)
	if err != nil {
		t.Fatalf("first run wrote no admin password: %v\n%s", err, m.output())
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		t.Errorf("%s has mode %04o; want no access for group and others", pwFile, mode)
	}
	raw, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(raw))
	if len(password) < 16 {
		t.Fatalf("admin password is %d characters; want a generated one of at least 16", len(password))
	}
	roots := findCAs(t, dataDir)

	dialPlain := func(t *testing.T) net.Conn {
		c, err := net.DialTimeout("tcp", plain, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dialSecure := func(t *testing.T) net.Conn {
		host, _, _ := net.SplitHostPort(tlsAddr)
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: waitTimeout}, "tcp", tlsAddr,
			&tls.Config{RootCAs: roots, ServerName: host})
		if err != nil {
			t.Fatalf("TLS to %s verified against the generated CA: %v\n%s", tlsAddr, err, m.output())
		}
		return c
	}
	for _, tr := range []struct {
		name string
		dial func(*testing.T) net.Conn
	}{{"plain", dialPlain}, {"tls", dialSecure}} {
		t.Run(tr.name+"/anonymous-refused", func(t *testing.T) {
			if code := connackCode(t, tr.dial(t), connectAuth("anon", "", "")); code == 0 {
				t.Fatal("anonymous CONNECT accepted on first run")
			}
		})
		t.Run(tr.name+"/wrong-password-refused", func(t *testing.T) {
			if code := connackCode(t, tr.dial(t), connectAuth("wrong", "admin", password+"x")); code == 0 {
				t.Fatal("admin with a wrong password accepted")
			}
		})
		t.Run(tr.name+"/admin-accepted", func(t *testing.T) {
			if code := connackCode(t, tr.dial(t), connectAuth("admin-"+tr.name, "admin", password)); code != 0 {
				t.Fatalf("admin with the password from %s refused: CONNACK %d\n%s", pwFile, code, m.output())
			}
		})
	}
	// The password is in a 0600 file only, never on the console.
	if strings.Contains(m.output(), password) {
		t.Errorf("moat serve printed the admin password")
	}

	// A second start reuses moat-data and keeps the password.
	m.stop(t)
	m2 := startMoat(t, bin, dir, home, ports...)
	deadline = time.Now().Add(15 * time.Second)
	for {
		if m2.exited() {
			t.Fatalf("moat serve exited on second run: %v\n%s", m2.err, m2.output())
		}
		if c, err := net.DialTimeout("tcp", plain, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second run not listening on %s\n%s", plain, m2.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	again, err := os.ReadFile(pwFile)
	if err != nil || strings.TrimSpace(string(again)) != password {
		t.Fatalf("second run changed the admin password file (err %v)", err)
	}
	if code := connackCode(t, dialPlain(t), connectAuth("admin-again", "admin", password)); code != 0 {
		t.Fatalf("second run refused the admin: CONNACK %d\n%s", code, m2.output())
	}
}
