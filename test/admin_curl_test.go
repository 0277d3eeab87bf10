package test

// The HTTPS admin API with curl, the real peer: every endpoint with a good
// token, a bad token and none; malformed requests get 4xx with a reason.

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/admin"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

func TestAdmin_CurlEveryEndpoint(t *testing.T) {
	curl := requireTool(t, "curl", "curl")
	pki := testutil.NewPKI(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	token, err := admin.AddToken(tokens, "ops")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Secret(token)
	addr, srv := testutil.Start(t, func(c *config.Config) {
		c.Admin = config.Admin{Listen: "127.0.0.1:0", Cert: pki.CertFile, Key: pki.KeyFile, TokensFile: tokens}
	})
	c := dialRaw(t, addr, true)
	c.connect(rawConnect{Version: 5, ClientID: "dev-1", Clean: true, KeepAlive: 30})
	base := "https://" + srv.AdminAddr().String()
	// run calls the API from the loopback address src: failed logins are
	// counted per address by the brute-force defence, which would slow a
	// test that fails many from one.
	run := func(src, bearer, method, path, body string) (int, string) {
		t.Helper()
		args := []string{"-sS", "--path-as-is", "--interface", src, "--cacert", pki.CAFile, "-X", method,
			"-o", "-", "-w", "\n%{http_code}", base + path}
		if bearer != "" {
			args = append(args, "-H", "Authorization: Bearer "+bearer)
		}
		if body != "" {
			args = append(args, "-H", "Content-Type: application/json", "--data-binary", body)
		}
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s %s: %v\n%s", method, path, err, out)
		}
		s := strings.TrimSpace(string(out))
		i := strings.LastIndexByte(s, '\n')
		code, _ := strconv.Atoi(s[i+1:])
		return code, s[:max(i, 0)]
	}
	for _, ep := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/metrics", "", 200},
		{"GET", "/v1/clients", "", 200},
		{"GET", "/v1/clients/dev-1/subscriptions", "", 200},
		{"GET", "/v1/bans", "", 200},
		{"POST", "/v1/bans", `{"target":"198.51.100.0/24","for":"1h"}`, 200},
		{"DELETE", "/v1/bans/198.51.100.0/24", "", 200},
		{"GET", "/v1/retained?filter=%23", "", 200},
		{"DELETE", "/v1/retained?filter=nothing/%23", "", 200},
		{"POST", "/v1/reload", "", 200},
		{"GET", "/v1/audit?tail=5", "", 200},
		{"POST", "/v1/clients/dev-1/kick", "", 200},
	} {
		src := "127.0.1." + strconv.Itoa(len(ep.path)%200+1)
		if code, _ := run(src, "", ep.method, ep.path, ep.body); code != 401 {
			t.Errorf("%s %s without a token: %d, want 401", ep.method, ep.path, code)
		}
		if code, _ := run(src, "moat_not-a-token", ep.method, ep.path, ep.body); code != 401 {
			t.Errorf("%s %s with a bad token: %d, want 401", ep.method, ep.path, code)
		}
		if code, body := run("127.0.0.1", token, ep.method, ep.path, ep.body); code != ep.want {
			t.Errorf("%s %s with the token: %d, want %d: %s", ep.method, ep.path, code, ep.want, body)
		}
	}
	for _, h := range []string{"/healthz", "/readyz"} {
		if code, _ := run("127.0.0.1", "", "GET", h, ""); code != 200 {
			t.Errorf("%s without a token: %d", h, code)
		}
	}
	// Malformed requests: 4xx with a reason.
	for _, bad := range []struct {
		method, path, body, want string
	}{
		{"POST", "/v1/bans", `{"target":`, "body"},
		{"POST", "/v1/bans", `{"target":"192.0.2.1","for":"1h","admin":true}`, "unknown field"},
		{"POST", "/v1/bans", `{"target":"192.0.2.1","for":"1h"}` + strings.Repeat(" ", 70<<10), "larger than"},
		{"GET", "/v1/clients/../../etc/passwd/subscriptions", "", "path"},
		{"GET", "/v1/clients/%2e%2e%2fetc/subscriptions", "", "path"},
		{"GET", "/v1/retained?filter=a/%23/b", "", "filter"},
		{"GET", "/v1/clients?limit=-3", "", "want a number"},
	} {
		code, body := run("127.0.0.1", token, bad.method, bad.path, bad.body)
		if code < 400 || code > 499 || !strings.Contains(body, bad.want) {
			t.Errorf("%s %s: %d %s, want 4xx mentioning %q", bad.method, bad.path, code, body, bad.want)
		}
	}
}
