package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// The check finds a registered secret in a log or an audit file, and
// ignores short strings.
func TestCheckSecrets(t *testing.T) {
	Secret("s3cret-value-for-the-check")
	Secret("short")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit.log"), []byte(`{"detail":"s3cret-value-for-the-check"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &capture{}
	log.Write([]byte("msg=short ok\n"))
	rec := &recordingTB{TB: t}
	checkSecrets(rec, log, dir)
	if rec.errors != 1 {
		t.Fatalf("%d findings, want 1 (the audit file)", rec.errors)
	}
	secrets.Delete("s3cret-value-for-the-check")
}

// recordingTB counts Errorf calls instead of failing.
type recordingTB struct {
	testing.TB
	errors int
}

func (r *recordingTB) Errorf(string, ...any) { r.errors++ }
func (r *recordingTB) Helper()               {}
