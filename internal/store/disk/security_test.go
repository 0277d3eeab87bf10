package disk

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/store"
	"github.com/moatmq/moat/internal/store/storetest"
)

var otherKey = bytes.Repeat([]byte{0x17}, KeySize)

// fixture writes a small store in dir and returns its snapshot.
func fixture(t *testing.T, o Options) *store.Snapshot {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.SaveSession(storetest.FullSession("c")))
	for seq := uint64(1); seq <= 3; seq++ {
		must(t, s.Enqueue("c", seq, storetest.Msg("t", int(seq))))
	}
	must(t, s.SetRetained(storetest.FullMessage("r")))
	snap, err := s.Load()
	must(t, err)
	must(t, s.Close())
	return snap
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func loadDir(t *testing.T, o Options) *store.Snapshot {
	t.Helper()
	s, err := Open(o)
	must(t, err)
	defer s.Close()
	snap, err := s.Load()
	must(t, err)
	return snap
}

func sameSnapshot(t *testing.T, got, want *store.Snapshot) {
	t.Helper()
	if len(got.Sessions) != len(want.Sessions) || len(got.Retained) != len(want.Retained) {
		t.Fatalf("snapshot: %d sessions %d retained, want %d and %d", len(got.Sessions), len(got.Retained), len(want.Sessions), len(want.Retained))
	}
	for i := range want.Sessions {
		g, w := got.Sessions[i], want.Sessions[i]
		if g.ClientID != w.ClientID || !storetest.Equal(g.Session, w.Session) || len(g.Queue) != len(w.Queue) {
			t.Fatalf("session %q differs", w.ClientID)
		}
		for j := range w.Queue {
			if g.Queue[j].Seq != w.Queue[j].Seq || !storetest.Equal(g.Queue[j].Msg, w.Queue[j].Msg) {
				t.Fatalf("queue of %q differs at %d", w.ClientID, j)
			}
		}
	}
	for i := range want.Retained {
		if !storetest.Equal(got.Retained[i], want.Retained[i]) {
			t.Fatalf("retained %q differs", want.Retained[i].Topic)
		}
	}
}

// rawEngine opens the live generation of a closed store directly.
func rawEngine(t *testing.T, o Options) engine {
	t.Helper()
	gen, _, err := readActive(o.Dir)
	must(t, err)
	eng, err := o.openEngine(filepath.Join(o.Dir, gen), false)
	must(t, err)
	return eng
}

func rawGet(t *testing.T, eng engine, key []byte) []byte {
	t.Helper()
	v, err := eng.get(key)
	must(t, err)
	return v
}

func rawSet(t *testing.T, eng engine, key, val []byte) {
	t.Helper()
	b := &kvBatch{}
	b.set(key, val)
	must(t, eng.write(b, true))
}

func TestWrongKey(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Key: testKey}
	want := fixture(t, o)
	before := treeDigest(t, dir)

	_, err := Open(Options{Dir: dir, Key: otherKey})
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "wrong store key") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrKeyRequired) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := Check(dir, otherKey); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("check with a wrong key: %v", err)
	}
	if after := treeDigest(t, dir); after != before {
		t.Fatal("opening with a wrong key changed the files")
	}
	sameSnapshot(t, loadDir(t, o), want)

	clear := t.TempDir()
	fixture(t, Options{Dir: clear})
	if _, err := Open(Options{Dir: clear, Key: testKey}); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("key for a clear store: %v", err)
	}
}

// treeDigest summarises the names, sizes and contents of dir's files.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	must(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		b.WriteString(p + "\x00" + string(data) + "\x00")
		return err
	}))
	return b.String()
}

func TestEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Key: testKey})
	must(t, err)
	m := storetest.Msg("secret/topic", 1)
	m.Payload = []byte("the-secret-payload")
	must(t, s.Enqueue("the-client", 1, m))
	must(t, s.SetRetained(m))
	sess := storetest.FullSession("the-client")
	sess.Identity = "the-identity"
	must(t, s.SaveSession(sess))
	must(t, s.Close())
	all := treeDigest(t, dir)
	for _, secret := range []string{"the-secret-payload", "the-identity", "a/+/c", "application/json"} {
		if strings.Contains(all, secret) {
			t.Errorf("%q is readable on disk", secret)
		}
	}
}

func TestCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Key: testKey}
	fixture(t, o)
	e := rawEngine(t, o)
	k := queueKey("c", 2)
	v := rawGet(t, e, k)
	v[len(v)-20] ^= 1 // a bit of the ciphertext
	rawSet(t, e, k, v)
	must(t, e.close())

	s, err := Open(o)
	must(t, err) // the damage is in a data record: Open succeeds, Load names it
	_, err = s.Load()
	must(t, s.Close())
	if !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), `record queue "c" seq 2 is corrupted`) ||
		!strings.Contains(err.Error(), "moat store check") {
		t.Fatalf("Load of a corrupted record: %v", err)
	}

	r, err := Check(dir, testKey)
	must(t, err)
	if r.OK() || r.ProblemCount != 1 || r.Problems[0].Record != `queue "c" seq 2` || r.Queued != 2 || r.Sessions != 1 || r.Retained != 1 {
		t.Fatalf("check report: %+v", r)
	}
	into := filepath.Join(t.TempDir(), "recovered")
	rr, err := Recover(dir, testKey, into)
	must(t, err)
	if rr.ProblemCount != 1 || rr.Queued != 2 || rr.Sessions != 1 || rr.Retained != 1 {
		t.Fatalf("recover report: %+v", rr)
	}
	snap := loadDir(t, Options{Dir: into, Key: testKey})
	if got := snap.Sessions[0].Queue; len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 3 {
		t.Fatalf("recovered queue: %+v", got)
	}
	if r, err := Check(into, testKey); err != nil || !r.OK() {
		t.Fatalf("check of the recovered store: %+v %v", r, err)
	}
	if _, err := Recover(dir, testKey, into); err == nil {
		t.Fatal("recover into an existing store")
	}
}

func TestMovedAndDowngradedRecords(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Key: testKey}
	fixture(t, o)
	e := rawEngine(t, o)
	// A valid value moved to another key fails: the key is authenticated.
	rawSet(t, e, queueKey("c", 2), rawGet(t, e, queueKey("c", 1)))
	must(t, e.close())
	s, err := Open(o)
	must(t, err)
	if _, err := s.Load(); !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("moved record: %v", err)
	}
	must(t, s.Close())

	// A plain record in an encrypted store is refused.
	e = rawEngine(t, o)
	k := queueKey("c", 2)
	rawSet(t, e, k, sealPlain(nil, k, encodeMessage(nil, storetest.Msg("t", 2))))
	must(t, e.close())
	s, err = Open(o)
	must(t, err)
	if _, err := s.Load(); !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), "plain record in an encrypted store") {
		t.Fatalf("downgraded record: %v", err)
	}
	must(t, s.Close())
}

func TestClearStoreChecksums(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir}
	fixture(t, o)
	e := rawEngine(t, o)
	k := retainedKey("r")
	v := rawGet(t, e, k)
	v[3] ^= 0x40
	rawSet(t, e, k, v)
	must(t, e.close())
	s, err := Open(o)
	must(t, err)
	defer s.Close()
	if _, err := s.Load(); !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), `record retained "r" is corrupted: checksum mismatch`) {
		t.Fatalf("corrupted clear record: %v", err)
	}
}

func TestFormatVersion(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Key: testKey}
	want := fixture(t, o)

	// v0: no format record. Open migrates.
	e := rawEngine(t, o)
	b := &kvBatch{}
	b.delete(keyFormat)
	must(t, e.write(b, true))
	must(t, e.close())
	sameSnapshot(t, loadDir(t, o), want)
	e = rawEngine(t, o)
	if v, found, err := readFormat(e); err != nil || !found || v != formatVersion {
		t.Fatalf("after migration: format %d %v %v", v, found, err)
	}

	// A newer format is refused, and left alone.
	rawSet(t, e, keyFormat, formatRecord(formatVersion+1))
	must(t, e.close())
	_, err := Open(o)
	if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), fmt.Sprintf("format %d", formatVersion+1)) {
		t.Fatalf("newer format: %v", err)
	}

	// A damaged format record is named.
	e = rawEngine(t, o)
	rawSet(t, e, keyFormat, []byte{envPlain, 1, 2, 3, 4, 5})
	must(t, e.close())
	if _, err := Open(o); !errors.Is(err, ErrCorrupted) || !strings.Contains(err.Error(), "meta/format") {
		t.Fatalf("damaged format record: %v", err)
	}
}

func TestNotAStore(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "unrelated"), []byte("x"), 0o600))
	if _, err := Open(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "no ACTIVE file") {
		t.Fatalf("non-empty directory: %v", err)
	}
	if _, err := Check(filepath.Join(dir, "missing"), nil); err == nil {
		t.Fatal("check of a missing store")
	}
	if _, err := Open(Options{Dir: dir, Key: []byte("short")}); err == nil {
		t.Fatal("short key accepted")
	}
	st := filepath.Join(t.TempDir(), "new")
	s, err := Open(Options{Dir: st})
	must(t, err)
	must(t, s.Close())
	if fi, err := os.Stat(st); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("new store directory: %v %v", fi.Mode(), err)
	}
}

func TestInUse(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	must(t, err)
	defer s.Close()
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v", err)
	}
}

func TestRotateKey(t *testing.T) {
	dir := t.TempDir()
	want := fixture(t, Options{Dir: dir})

	// clear -> key -> other key -> clear
	steps := [][2][]byte{{nil, testKey}, {testKey, otherKey}, {otherKey, nil}}
	for _, st := range steps {
		must(t, RotateKey(dir, st[0], st[1]))
		sameSnapshot(t, loadDir(t, Options{Dir: dir, Key: st[1]}), want)
		if _, err := Open(Options{Dir: dir, Key: st[0]}); err == nil {
			t.Fatal("the old key still opens the store")
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 { // ACTIVE and one generation
			t.Fatalf("after rotation: %d entries", len(entries))
		}
	}
	if err := RotateKey(dir, otherKey, testKey); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("rotation from a wrong old key: %v", err)
	}
	sameSnapshot(t, loadDir(t, Options{Dir: dir}), want)
}

func TestInterruptedRotation(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Key: testKey}
	want := fixture(t, o)
	// A crash during the copy leaves a partial next generation and maybe a
	// temporary ACTIVE: the store is still the old one under the old key.
	next, err := nextGen(dir)
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(dir, next), 0o700))
	must(t, os.WriteFile(filepath.Join(dir, next, "000001.log"), []byte("partial"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, activeFile+".tmp"), []byte(next), 0o600))
	if _, err := Open(Options{Dir: dir, Key: otherKey}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("new key before the switch: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, next)); err != nil {
		t.Fatal("a failed open removed the leftover generation")
	}
	sameSnapshot(t, loadDir(t, o), want)
	if _, err := os.Stat(filepath.Join(dir, next)); !os.IsNotExist(err) {
		t.Fatal("leftover generation not removed")
	}
	must(t, RotateKey(dir, testKey, otherKey))
	sameSnapshot(t, loadDir(t, Options{Dir: dir, Key: otherKey}), want)
}

func TestRelaxedFlush(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Mode: Relaxed, FlushInterval: 5 * time.Millisecond})
	must(t, err)
	defer s.Close()
	must(t, s.Enqueue("c", 1, storetest.Msg("t", 1)))
	must(t, s.Sync()) // at once in relaxed mode
	if !s.dirty.Load() {
		t.Fatal("a relaxed write did not mark the store dirty")
	}
	for i := 0; s.dirty.Load(); i++ {
		if i > 2000 {
			t.Fatal("the flusher never synced")
		}
		sleepMs(1)
	}
}

func TestOptions(t *testing.T) {
	for _, s := range []string{"strict", "relaxed"} {
		m, err := ParseMode(s)
		if err != nil || m.String() != s {
			t.Fatalf("ParseMode(%q) = %v %v", s, m, err)
		}
	}
	if _, err := ParseMode("fast"); err == nil {
		t.Fatal("ParseMode accepted fast")
	}
	if !reflect.DeepEqual(DefaultDir("d"), filepath.Join("d", "store")) {
		t.Fatal("DefaultDir")
	}
	for _, o := range []Options{{}, {Dir: "x", Mode: 9}, {Dir: "x", FlushInterval: -1}} {
		if _, err := Open(o); err == nil {
			t.Fatalf("Open(%+v) succeeded", o)
		}
	}
}

func sleepMs(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }

func TestBackup(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, Key: testKey}
	want := fixture(t, o)
	s, err := Open(o)
	must(t, err)
	defer s.Close()
	// Writers keep writing during the backup.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(100); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Enqueue("other", seq, storetest.Msg("t", int(seq))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	into := filepath.Join(t.TempDir(), "backup")
	must(t, s.Backup(into))
	close(stop)
	<-done
	if err := s.Backup(into); err == nil {
		t.Fatal("backup over an existing directory")
	}
	snap := loadDir(t, Options{Dir: into, Key: testKey})
	if c := find(snap, "c"); c == nil || !storetest.Equal(c.Session, want.Sessions[0].Session) || len(c.Queue) != 3 {
		t.Fatalf("backup lacks the session: %+v", c)
	}
	if _, err := Open(Options{Dir: into, Key: otherKey}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("the backup with another key: %v", err)
	}
}

func find(snap *store.Snapshot, id string) *store.Restored {
	for i := range snap.Sessions {
		if snap.Sessions[i].ClientID == id {
			return &snap.Sessions[i]
		}
	}
	return nil
}
