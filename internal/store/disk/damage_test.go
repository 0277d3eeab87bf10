package disk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/store/storetest"
)

// tableStore writes n queued messages and closes the store, which leaves
// them in one Pebble table file; it returns that file.
func tableStore(t *testing.T, o Options, n int) string {
	t.Helper()
	s, err := Open(o)
	must(t, err)
	for i := 1; i <= n; i++ {
		must(t, s.Enqueue("c", uint64(i), storetest.Msg("t", i)))
	}
	must(t, s.Close())
	gen, _, err := readActive(o.Dir)
	must(t, err)
	tables, _ := filepath.Glob(filepath.Join(o.Dir, gen, "*.sst"))
	if len(tables) != 1 {
		t.Fatalf("%d table files, want 1", len(tables))
	}
	return tables[0]
}

func TestTruncatedEngineFile(t *testing.T) {
	o := Options{Dir: t.TempDir(), Key: testKey}
	table := tableStore(t, o, 2000)
	fi, err := os.Stat(table)
	must(t, err)
	must(t, os.Truncate(table, fi.Size()/2))
	_, err = Open(o)
	if err == nil || !strings.Contains(err.Error(), filepath.Base(table)) || !strings.Contains(err.Error(), "size mismatch") ||
		!strings.Contains(err.Error(), "restore them from a backup") {
		t.Fatalf("open of a store with a truncated table file: %v", err)
	}
	if _, err := Check(o.Dir, testKey); err == nil {
		t.Fatal("check of a store with a truncated table file passed")
	}
}

func TestCorruptedEngineFile(t *testing.T) {
	o := Options{Dir: t.TempDir(), Key: testKey}
	table := tableStore(t, o, 2000)
	data, err := os.ReadFile(table)
	must(t, err)
	data[len(data)/4] ^= 0xff // inside a data block
	must(t, os.WriteFile(table, data, 0o600))
	s, err := Open(o)
	if err == nil {
		_, err = s.Load()
		s.Close()
	}
	if !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), "moat store check") {
		t.Fatalf("load of a store with a damaged table file: %v", err)
	}
	r, err := Check(o.Dir, testKey)
	must(t, err)
	if r.OK() || !strings.Contains(r.Problems[0].Err, "corruption") {
		t.Fatalf("check report: %+v", r)
	}
}
