package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Secrets that tests hand to brokers (passwords, tokens, keys) are
// registered here; every broker Start runs is checked, when it shuts down,
// for any registered secret in its log and its audit files. Over a whole
// test run, that greps every log and audit record for every secret used.
var secrets sync.Map // string -> struct{}

// minSecretLen keeps short, common strings ("pw", "x") out of the check,
// where they would match by accident.
const minSecretLen = 8

// Secret registers s as a secret no log or audit record may contain, and
// returns it.
func Secret(s string) string {
	if len(s) >= minSecretLen {
		secrets.Store(s, struct{}{})
	}
	return s
}

// maxCapturedLog bounds the log kept per broker for the check.
const maxCapturedLog = 16 << 20

// capture keeps the first maxCapturedLog bytes written to it.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxCapturedLog - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// checkSecrets fails t if the captured log or any audit file under
// auditDir holds a registered secret.
func checkSecrets(t testing.TB, log *capture, auditDir string) {
	t.Helper()
	log.mu.Lock()
	texts := map[string]string{"the broker log": log.buf.String()}
	log.mu.Unlock()
	if auditDir != "" {
		files, _ := filepath.Glob(filepath.Join(auditDir, "*.log"))
		for _, f := range files {
			if data, err := os.ReadFile(f); err == nil {
				texts[f] = string(data)
			}
		}
	}
	secrets.Range(func(k, _ any) bool {
		s := k.(string)
		for where, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("a registered secret (%.4s...) appears in %s", s, where)
			}
		}
		return true
	})
}
