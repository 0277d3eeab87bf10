package disk

import (
	"encoding/hex"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/store/storetest"
)

// The golden files pin the on-disk format (version 1, plus the session
// identity section of version 2): record encodings
// (testdata/records.golden) and a whole store written by this version
// (testdata/store-v1, key testKey). A change that breaks either is a
// format change: raise formatVersion and add a migration, then regenerate
// with: go test -run Golden -update ./internal/store/disk
var update = flag.Bool("update", false, "rewrite the golden files")

func goldenRecords() map[string][]byte {
	return map[string][]byte{
		"message": encodeMessage(nil, storetest.FullMessage("a/b")),
		"small":   encodeMessage(nil, storetest.Msg("t", 1)),
		"session": encodeSession(nil, storetest.FullSession("c")),
		// Format 2.
		"session-identity": encodeSession(nil, storetest.IdentitySession("c")),
		"sealed":           newSealer(testKey).seal(nil, queueKey("c", 1), encodeMessage(nil, storetest.FullMessage("a/b"))),
	}
}

func TestGoldenRecords(t *testing.T) {
	path := filepath.Join("testdata", "records.golden")
	if *update {
		var b strings.Builder
		for _, name := range []string{"message", "small", "session", "sealed", "session-identity"} {
			b.WriteString(name + " " + hex.EncodeToString(goldenRecords()[name]) + "\n")
		}
		must(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	data, err := os.ReadFile(path)
	must(t, err)
	golden := map[string][]byte{}
	for line := range strings.Lines(string(data)) {
		name, h, _ := strings.Cut(strings.TrimSpace(line), " ")
		v, err := hex.DecodeString(h)
		must(t, err)
		golden[name] = v
	}
	now := goldenRecords()
	for _, name := range []string{"message", "small", "session", "session-identity"} {
		if string(golden[name]) != string(now[name]) {
			t.Errorf("%s record encoding changed: a format change (see the comment above)", name)
		}
	}
	m, err := decodeMessage(golden["message"])
	if err != nil || !storetest.Equal(m, storetest.FullMessage("a/b")) {
		t.Errorf("golden message: %v", err)
	}
	s, err := decodeSession("c", golden["session"])
	if err != nil || !storetest.Equal(s, storetest.FullSession("c")) {
		t.Errorf("golden session: %v", err)
	}
	if s, err := decodeSession("c", golden["session-identity"]); err != nil || !storetest.Equal(s, storetest.IdentitySession("c")) {
		t.Errorf("golden session with identity: %v", err)
	}
	plain, err := newSealer(testKey).open(queueKey("c", 1), golden["sealed"])
	must(t, err)
	if m, err := decodeMessage(plain); err != nil || !storetest.Equal(m, storetest.FullMessage("a/b")) {
		t.Errorf("golden sealed record: %v", err)
	}
}

func TestGoldenStore(t *testing.T) {
	golden := filepath.Join("testdata", "store-v1")
	if *update {
		must(t, os.RemoveAll(golden))
		fixture(t, Options{Dir: golden, Key: testKey})
		// Keep only what a store needs: the lock file is recreated.
		must(t, os.Remove(filepath.Join(golden, genName(1), "LOCK")))
	}
	dir := filepath.Join(t.TempDir(), "store")
	must(t, os.CopyFS(dir, os.DirFS(golden)))
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o700)
		}
		return err
	}))
	want := fixture(t, Options{Dir: filepath.Join(t.TempDir(), "fresh"), Key: testKey})
	r, err := Check(dir, testKey)
	must(t, err)
	if !r.OK() || r.Format != 1 || r.Queued != 3 {
		t.Fatalf("check of the golden store: %+v", r)
	}
	sameSnapshot(t, loadDir(t, Options{Dir: dir, Key: testKey}), want)
}
