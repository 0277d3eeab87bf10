package admin_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/admin"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
	"go.yaml.in/yaml/v3"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// mqttConnect opens an MQTT 3.1.1 connection with client id id and reads
// its CONNACK.
func mqttConnect(t *testing.T, addr, id string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, byte(len(id))}, id...)
	c.Write(append([]byte{0x10, byte(len(body))}, body...))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		t.Fatalf("CONNACK %x: %v", ack, err)
	}
	return c
}

// call makes one request to the API through hc and decodes the answer.
func call(t *testing.T, hc *http.Client, method, url, body string, wantStatus int, out any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %s, want %d\n%s", method, url, resp.Status, wantStatus, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, data)
		}
	}
}

func socketClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
}

// The socket serves the API of a real broker: retained messages, clients
// and their subscriptions, kicks, bans, reloads and the audit tail; bad
// requests get 4xx with a reason; every call is audited with who made it.
func TestSocketAPI(t *testing.T) {
	var cfg *config.Config
	addr, srv := testutil.Start(t, func(c *config.Config) { cfg = c })
	path := cfg.AdminSocket()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi, err)
	}
	b := srv.Broker()
	for _, topic := range []string{"a/1", "a/2", "b/1"} {
		b.Publish(topic, []byte("v"), 1, true)
	}
	c := admin.NewClient(path)
	ctx := t.Context()
	list, err := c.Retained(ctx, "a/#", 1)
	if err != nil || list.Total != 2 || len(list.Messages) != 1 || list.Messages[0].Topic != "a/1" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if n, err := c.PurgeRetained(ctx, "a/#"); err != nil || n != 2 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	for _, tc := range []struct{ filter, want string }{
		{"", `missing "filter"`},
		{"a/#/b", `filter "a/#/b"`},
		{"$share/g/a/#", "shared-subscription"},
	} {
		if _, err := c.Retained(ctx, tc.filter, 10); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("filter %q: %v, want %q", tc.filter, err, tc.want)
		}
	}

	hc := socketClient(path)
	mqttConnect(t, addr, "dev-1")
	mqttConnect(t, addr, "dev-2")
	var clients admin.ClientList
	call(t, hc, "GET", "http://moat/v1/clients?prefix=dev-&limit=1", "", 200, &clients)
	if len(clients.Clients) != 1 || clients.Clients[0].ClientID != "dev-1" || !clients.Clients[0].Connected || clients.Next != "dev-1" {
		t.Fatalf("clients page 1: %+v", clients)
	}
	clients = admin.ClientList{}
	call(t, hc, "GET", "http://moat/v1/clients?prefix=dev-&after=dev-1", "", 200, &clients)
	if len(clients.Clients) != 1 || clients.Clients[0].ClientID != "dev-2" || clients.Next != "" {
		t.Fatalf("clients page 2: %+v", clients)
	}
	call(t, hc, "GET", "http://moat/v1/clients/dev-1/subscriptions", "", 200, nil)
	call(t, hc, "GET", "http://moat/v1/clients/nobody/subscriptions", "", 404, nil)
	call(t, hc, "POST", "http://moat/v1/clients/dev-1/kick", "", 200, nil)
	testutil.Eventually(t, 5*time.Second, "the kicked client is gone", func() bool {
		l, _ := b.Clients(broker.ClientQuery{Prefix: "dev-1", Connected: true})
		return len(l) == 0
	})
	call(t, hc, "POST", "http://moat/v1/clients/dev-1/kick", "", 404, nil)

	call(t, hc, "POST", "http://moat/v1/bans", `{"target":"203.0.113.9","for":"1h","reason":"test"}`, 200, nil)
	var bans struct{ Bans []admin.BanInfo }
	call(t, hc, "GET", "http://moat/v1/bans", "", 200, &bans)
	if len(bans.Bans) != 1 || bans.Bans[0].Target != "203.0.113.9" {
		t.Fatalf("bans: %+v", bans)
	}
	call(t, hc, "POST", "http://moat/v1/bans", `{"target":"nope","for":"1h"}`, 400, nil)
	call(t, hc, "POST", "http://moat/v1/bans", `{"target":"203.0.113.9","for":"1h","extra":1}`, 400, nil)
	call(t, hc, "POST", "http://moat/v1/bans", strings.Repeat("x", 70<<10), 400, nil)
	call(t, hc, "DELETE", "http://moat/v1/bans/203.0.113.9", "", 200, nil)
	call(t, hc, "DELETE", "http://moat/v1/bans/203.0.113.9", "", 404, nil)
	call(t, hc, "POST", "http://moat/v1/reload", "", 200, nil)
	call(t, hc, "GET", "http://moat/v1/nothing", "", 404, nil)
	call(t, hc, "GET", "http://moat/healthz", "", 200, nil)
	call(t, hc, "GET", "http://moat/readyz", "", 200, nil)

	// The audit tail holds the calls, with the operator.
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://moat/v1/audit?tail=200", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"kind":"admin.action"`, `kicked \"dev-1\"`, `banned \"203.0.113.9\" for 1h0m0s`,
		`purged 2 retained`, fmt.Sprintf(`"identity":"local uid %d pid `, os.Getuid())} {
		if !strings.Contains(string(tail), want) {
			t.Errorf("audit tail lacks %s:\n%s", want, tail)
		}
	}
	if srv.AdminAddr() != nil {
		t.Error("an admin listener without admin.listen")
	}
}

// A second broker on the same socket is refused; a stale socket file is
// replaced; a path too long for a socket is refused.
func TestSocketConflicts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	s, err := admin.Listen(path, http.NotFoundHandler(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, err := admin.Listen(path, http.NotFoundHandler(), quiet()); err == nil || !strings.Contains(err.Error(), "another broker") {
		t.Fatalf("second listener: %v", err)
	}
	stale := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	s2, err := admin.Listen(stale, http.NotFoundHandler(), quiet())
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	_ = s2.Close(context.Background())
	if _, err := admin.Listen(filepath.Join(t.TempDir(), strings.Repeat("x", 120)), http.NotFoundHandler(), quiet()); err == nil {
		t.Fatal("a path too long for a socket was accepted")
	}
}

// childEnv makes the test binary act as a client of the socket it names.
const childEnv = "MOAT_ADMIN_TEST_CLIENT"

// TestSocketRefusesOtherUsers: even with the socket file opened to
// everyone, a process of another user is cut off before its request is
// read (SO_PEERCRED). The other user is a child process of this test
// running as nobody, which needs root.
func TestSocketRefusesOtherUsers(t *testing.T) {
	if path := os.Getenv(childEnv); path != "" {
		_, err := admin.NewClient(path).Retained(context.Background(), "#", 1)
		fmt.Println("child result:", err)
		return
	}
	if os.Getuid() != 0 {
		t.Skip("running a client as another user needs root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	answered := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"total":0,"messages":[]}`)) })
	s, err := admin.Listen(path, answered, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a directory only root may enter: run a
	// copy that nobody can execute.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "client.test")
	if err := os.WriteFile(exe, body, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestSocketRefusesOtherUsers$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "child result: ") || strings.Contains(string(out), "child result: <nil>") {
		t.Fatalf("a client of another user was answered:\n%s", out)
	}
	// Root (this process) is answered.
	if _, err := admin.NewClient(path).Retained(t.Context(), "#", 1); err != nil {
		t.Fatalf("the broker's own user: %v", err)
	}
}

// adminPKI is a CA with a server pair for 127.0.0.1 and a client pair.
func adminPKI(t *testing.T) (*testutil.PKI, tls.Certificate) {
	t.Helper()
	p := testutil.NewPKI(t)
	ccrt, ckey, err := p.CA.IssueClient("ops-1", certs.LeafOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client, err := tls.X509KeyPair(ccrt, ckey)
	if err != nil {
		t.Fatal(err)
	}
	return p, client
}

// The HTTPS admin listener: health is public; metrics and the API need a
// token or a client certificate; a wrong token is refused (401), audited
// and counted by the brute-force defence.
func TestAdminListener(t *testing.T) {
	pki, clientCert := adminPKI(t)
	pool := pki.Pool
	tokens := filepath.Join(t.TempDir(), "tokens")
	token, err := admin.AddToken(tokens, "prometheus")
	testutil.Secret(token)
	if err != nil || !strings.HasPrefix(token, admin.TokenPrefix) {
		t.Fatalf("AddToken: %q %v", token, err)
	}
	if fi, err := os.Stat(tokens); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file: %v %v", fi, err)
	}
	if data, _ := os.ReadFile(tokens); strings.Contains(string(data), token) {
		t.Fatal("the tokens file holds the token itself")
	}
	_, srv := testutil.Start(t, func(c *config.Config) {
		c.Admin = config.Admin{Listen: "127.0.0.1:0", Cert: pki.CertFile, Key: pki.KeyFile, ClientCA: pki.CAFile, TokensFile: tokens}
	})
	base := "https://" + srv.AdminAddr().String()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(hc *http.Client, path, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get(hc, "/healthz", ""); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	for _, tc := range []struct {
		path, bearer string
		want         int
	}{
		{"/metrics", "", 401},
		{"/metrics", "moat_wrong", 401},
		{"/v1/clients", "", 401},
		{"/metrics", token, 200},
		{"/v1/clients", token, 200},
	} {
		if code, body := get(hc, tc.path, tc.bearer); code != tc.want {
			t.Errorf("%s with %q: %d, want %d: %s", tc.path, tc.bearer, code, tc.want, body)
		}
	}
	_, metrics := get(hc, "/metrics", token)
	for _, want := range []string{"moat_connections ", "moat_build_info{version=", "go_goroutines", "moat_delivery_latency_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	mtls := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}}}
	if code, _ := get(mtls, "/v1/clients", ""); code != 200 {
		t.Errorf("client certificate: %d", code)
	}
	// Plain HTTP is not served.
	if resp, err := http.Get("http://" + srv.AdminAddr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered")
		}
	}
}

// Every call docs/openapi.yaml describes is served (the answer is the
// API's own JSON or the metrics, never the router's "404 page not found"
// or 405).
func TestOpenAPIDescribesServedRoutes(t *testing.T) {
	root := testutil.ModuleRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var cfg *config.Config
	testutil.Start(t, func(c *config.Config) { cfg = c })
	hc := socketClient(cfg.AdminSocket())
	n := 0
	for path, methods := range doc.Paths {
		for method := range methods {
			url := "http://moat" + strings.NewReplacer("{id}", "nobody", "{target}", "192.0.2.1").Replace(path)
			req, _ := http.NewRequestWithContext(t.Context(), strings.ToUpper(method), url, strings.NewReader("{}"))
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ct := resp.Header.Get("Content-Type")
			served := strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "application/x-ndjson") ||
				(path == "/metrics" && resp.StatusCode == 200)
			if !served || resp.StatusCode == http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %s (%s): documented but not served", method, path, resp.Status, ct)
			}
			n++
		}
	}
	if n < 12 {
		t.Fatalf("only %d calls documented", n)
	}
}
