// Package testutil starts real brokers for tests and offers polling helpers
// in place of sleeps.
package testutil

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/server"
	"github.com/moatmq/moat/internal/testutil/poll"
)

// Start runs a broker with the default configuration, a single TCP listener
// on 127.0.0.1:0 and anonymous access allowed, after mutate (may be nil) has adjusted the configuration.
// It returns the listener address ("127.0.0.1:PORT") and the server; the
// broker is shut down when the test ends. Set MOAT_TEST_LOG=1 to see logs.
func Start(t testing.TB, mutate func(*config.Config)) (string, *server.Server) {
	t.Helper()
	return StartLogged(t, mutate, nil)
}

// StartLogged is Start with the broker's debug log written to logs (may be
// nil); MOAT_TEST_LOG=1 copies it to stderr as well. The data directory is
// a fresh temporary one. When the broker shuts down, its log and audit
// files are checked for every registered Secret.
func StartLogged(t testing.TB, mutate func(*config.Config), logs io.Writer) (string, *server.Server) {
	t.Helper()
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Name: "test", Address: "127.0.0.1:0", Transport: "tcp"}}
	cfg.Auth.AllowAnonymous = true // tests that need authentication turn it off
	cfg.DataDir = t.TempDir()
	if mutate != nil {
		mutate(cfg)
	}
	captured := &capture{}
	var w io.Writer = captured
	if logs != nil {
		w = io.MultiWriter(captured, logs)
	}
	if os.Getenv("MOAT_TEST_LOG") != "" {
		w = io.MultiWriter(w, os.Stderr)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	auditDir := ""
	if f := cfg.AuditFile(); f != "" {
		auditDir = filepath.Dir(f)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		// Every log line and audit record of this broker, against every
		// secret the tests registered so far.
		checkSecrets(t, captured, auditDir)
	})
	return srv.Addrs()[0].String(), srv
}

// Eventually polls cond every 5 ms until it is true or timeout passes, then
// fails the test with msg. It is poll.Until, for tests that start brokers.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	poll.Until(t, timeout, msg, cond)
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod, for tests that build the binary or run go list.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
