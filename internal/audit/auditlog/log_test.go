package auditlog

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
)

func TestChainRoundTrip(t *testing.T) {
	l, clock := openTest(t, Options{})
	events := []audit.Event{
		authFailure("203.0.113.7", 1000),
		{Kind: audit.ConnectionAccepted, Listener: "tls", ClientID: "a", Identity: "alice"},
		{Kind: audit.ACLDenied, ClientID: "a", Identity: "alice", Reason: packet.NotAuthorized, Detail: "publish x/y"},
		{Kind: audit.AdminAction, Identity: "root", Detail: "purge #", Time: time.Date(2029, 5, 6, 7, 8, 9, 10, time.UTC)},
		{Kind: audit.ConfigReloaded, Detail: "acl.file"},
	}
	for _, e := range events {
		l.Record(e)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Seq != 6 || s.Written != 6 {
		t.Fatalf("stats after flush: %+v", s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	path := l.o.Path
	lines := readLines(t, path)
	recs := readRecords(t, path)
	if len(recs) != len(events)+2 || recs[0].Kind != audit.LogOpened || recs[len(recs)-1].Kind != audit.LogClosed {
		t.Fatalf("records: %+v", recs)
	}
	prev := audit.ZeroHash
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.Prev != prev {
			t.Fatalf("record %d: seq %d prev %s, want %d %s", i, r.Seq, r.Prev, i+1, prev)
		}
		prev = audit.LineHash(lines[i])
	}
	if got := recs[1]; got.Kind != audit.AuthFailure || got.Remote != "203.0.113.7:1000" || got.Method != "password" ||
		got.ReasonName != "bad user name or password" || !got.Time.Equal(clock.Now()) {
		t.Errorf("auth failure record: %+v", got)
	}
	if got := recs[4]; !got.Time.Equal(events[3].Time) {
		t.Errorf("event time not kept: %v", got.Time)
	}
	rep := mustVerify(t, path)
	if rep.Records != 7 || rep.FirstSeq != 1 || rep.LastSeq != 7 || !rep.Genesis || !rep.Closed || len(rep.Warnings) != 0 {
		t.Fatalf("report: %+v", rep)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v %v", st.Mode(), err)
	}
	st, err = os.Stat(filepath.Dir(path))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode: %v %v", st.Mode(), err)
	}
}

func TestResumeAfterReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	for i := range 3 {
		l, _ := openTest(t, Options{Path: path})
		l.Record(authFailure(ipN(i), 1))
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	recs := readRecords(t, path)
	if len(recs) != 9 {
		t.Fatalf("%d records", len(recs))
	}
	if recs[3].Kind != audit.LogOpened || recs[3].Detail != "opened; the chain resumes after seq 3" {
		t.Fatalf("second open: %+v", recs[3])
	}
	rep := mustVerify(t, path)
	if rep.Records != 9 || !rep.Closed || len(rep.Warnings) != 0 {
		t.Fatalf("report: %+v", rep)
	}

	// An unclean stop (no close record) is resumed, and shows as a warning.
	lines := readLines(t, path)
	writeLines(t, path, lines[:len(lines)-1])
	l, _ := openTest(t, Options{Path: path})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep = mustVerify(t, path)
	if len(rep.Warnings) != 1 || rep.Warnings[0].Kind != Reopened || rep.Warnings[0].Seq != 9 {
		t.Fatalf("warnings: %+v", rep.Warnings)
	}
}

// writeLines writes lines, each with a newline, to path.
func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReopenDamagedTail(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(lines [][]byte) []byte
		verify  ProblemKind // "" when the set verifies (with a Recovered warning)
		resumed uint64      // the seq the new file chains to
	}{
		{"incomplete last line", func(ls [][]byte) []byte { return append(join(ls), ls[1][:40]...) }, "", 4},
		{"garbage last line", func(ls [][]byte) []byte { return append(join(ls), "garbage\n"...) }, Malformed, 4},
		{"last record does not chain", func(ls [][]byte) []byte {
			ls[2] = []byte(strings.Replace(string(ls[2]), "wrong password", "right password", 1))
			return join(ls)
		}, Altered, 3},
		{"only garbage", func([][]byte) []byte { return []byte("{\"v\":1,") }, Truncated, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.log")
			l, _ := openTest(t, Options{Path: path})
			l.Record(authFailure("192.0.2.1", 1))
			l.Record(authFailure("192.0.2.2", 1))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(readLines(t, path)), 0o600); err != nil {
				t.Fatal(err)
			}
			l, _ = openTest(t, Options{Path: path})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			files := logFiles(t, dir)
			if len(files) != 2 {
				t.Fatalf("files: %v", files)
			}
			recs := readRecords(t, path)
			if recs[0].Kind != audit.LogRecovered || recs[0].Seq != tc.resumed+1 ||
				!strings.Contains(recs[0].Detail, filepath.Base(files[0])) {
				t.Fatalf("first record of the new file: %+v", recs[0])
			}
			rep, err := Verify(files...)
			var p *Problem
			switch {
			case tc.verify == "" && err != nil:
				t.Fatalf("Verify: %v", err)
			case tc.verify == "":
				if len(rep.Warnings) != 1 || rep.Warnings[0].Kind != Recovered || rep.Warnings[0].File != files[0] {
					t.Fatalf("warnings: %+v", rep.Warnings)
				}
			case !errors.As(err, &p) || p.Kind != tc.verify:
				t.Fatalf("Verify: %v, want a %s problem", err, tc.verify)
			}
		})
	}
}

func join(lines [][]byte) []byte {
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	return b
}

func TestRotationBySize(t *testing.T) {
	dir := t.TempDir()
	const maxSize = 2000
	l, _ := openTest(t, Options{Path: filepath.Join(dir, "audit.log"), MaxSize: maxSize, MaxFiles: -1})
	for i := range 60 {
		l.Record(authFailure(ipN(i), 1))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := logFiles(t, dir)
	if len(files) < 5 {
		t.Fatalf("only %d files", len(files))
	}
	var total int
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil || st.Size() > maxSize || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
		total += len(readLines(t, f))
	}
	rand.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	rep := mustVerify(t, files...)
	if rep.Records != 62 || int(rep.Records) != total || rep.Files != len(files) || !rep.Genesis || !rep.Closed {
		t.Fatalf("report: %+v", rep)
	}

	// Removing a middle file is a gap between files.
	ordered := logFiles(t, dir)
	if err := os.Remove(ordered[2]); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(logFiles(t, dir)...)
	var p *Problem
	if !errors.As(err, &p) || p.Kind != Removed || p.File != ordered[3] || p.Line != 1 {
		t.Fatalf("Verify without %s: %v", ordered[2], err)
	}
}

func TestRotationKeepsMaxFiles(t *testing.T) {
	dir := t.TempDir()
	// An unrelated file in the directory is left alone.
	other := filepath.Join(dir, "audit-notes.log")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, _ := openTest(t, Options{Path: filepath.Join(dir, "audit.log"), MaxSize: 1000, MaxFiles: 2})
	for i := range 40 {
		l.Record(authFailure(ipN(i), 1))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := logFiles(t, dir)
	if len(files) != 3 {
		t.Fatalf("files: %v", files)
	}
	rep := mustVerify(t, files...)
	if rep.Genesis || rep.LastSeq != 42 || len(rep.Warnings) != 1 || rep.Warnings[0].Kind != NoStart {
		t.Fatalf("report: %+v", rep)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatal(err)
	}
}

func TestRotationByAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, clock := openTest(t, Options{Path: path, MaxAge: time.Hour})
	l.Record(authFailure("192.0.2.1", 1))
	clock.Add(59 * time.Minute)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(logFiles(t, dir)); n != 1 {
		t.Fatalf("rotated too early: %d files", n)
	}
	clock.Add(time.Minute)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	files := logFiles(t, dir)
	if len(files) != 2 || len(readLines(t, path)) != 0 {
		t.Fatalf("not rotated by age: %v", files)
	}
	if !strings.Contains(filepath.Base(files[0]), "audit-20300102T040405Z-1.log") {
		t.Errorf("rotated name: %s", files[0])
	}
	l.Record(authFailure("192.0.2.2", 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, path)
	if recs[0].Seq != 3 || recs[0].Kind != audit.AuthFailure {
		t.Fatalf("new file: %+v", recs)
	}
	if rep := mustVerify(t, files...); rep.Records != 4 || len(rep.Warnings) != 0 {
		t.Fatalf("report: %+v", rep)
	}

	// Reopening finds the age of the live file from its first record.
	l, clock = openTest(t, Options{Path: path, MaxAge: time.Hour})
	clock.Add(2 * time.Hour)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(logFiles(t, dir)); n != 3 {
		t.Fatalf("%d files after reopening an old file", n)
	}
}

// failingFile fails writes while fail is set.
type failingFile struct {
	logFile
	fail *atomic.Bool
}

func (f failingFile) Write(p []byte) (int, error) {
	if f.fail.Load() {
		return 0, errors.New("injected write error")
	}
	return f.logFile.Write(p)
}

func TestWriteErrorRecovers(t *testing.T) {
	var fail atomic.Bool
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	o := Options{Path: path, openFile: func(name string, flag int, perm os.FileMode) (logFile, error) {
		f, err := openOSFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return failingFile{f, &fail}, nil
	}}
	l, clock := openTest(t, o)
	fail.Store(true)
	l.Record(authFailure("192.0.2.1", 1))
	if err := l.Flush(); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("Flush: %v", err)
	}
	l.Record(authFailure("192.0.2.2", 1))
	if err := l.Flush(); err == nil {
		t.Fatal("still broken, and Flush says nothing")
	}
	fail.Store(false)
	clock.Add(retryAfter)
	if err := l.Flush(); err != nil {
		t.Fatalf("not recovered: %v", err)
	}
	if s := l.Stats(); s.Lost != 2 {
		t.Fatalf("stats: %+v", s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, path)
	kinds := []audit.Kind{audit.LogOpened, audit.LogRecovered, audit.Suppressed, audit.LogClosed}
	if len(recs) != len(kinds) {
		t.Fatalf("records: %+v", recs)
	}
	for i, k := range kinds {
		if recs[i].Kind != k {
			t.Fatalf("record %d: %+v, want %s", i, recs[i], k)
		}
	}
	if recs[2].Count != 2 || !strings.HasPrefix(recs[2].Detail, "write failed") {
		t.Fatalf("loss record: %+v", recs[2])
	}
	if !strings.Contains(recs[1].Detail, "injected write error") {
		t.Fatalf("recovery record: %+v", recs[1])
	}
	rep := mustVerify(t, path)
	if len(rep.Warnings) != 1 || rep.Warnings[0].Kind != Recovered {
		t.Fatalf("report: %+v", rep)
	}
}

func TestInvalidKindsRefused(t *testing.T) {
	l, _ := openTest(t, Options{})
	for _, k := range []audit.Kind{"", "audit.closed", "Auth Failure", "a..b", "a.", ".a", audit.Kind(strings.Repeat("a", 65))} {
		l.Record(audit.Event{Kind: k})
	}
	l.Record(audit.Event{Kind: "custom.kind_1"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var custom, invalid uint64
	for _, r := range readRecords(t, l.o.Path) {
		switch {
		case r.Kind == "custom.kind_1":
			custom++
		case r.Kind == audit.Suppressed && strings.HasPrefix(r.Detail, "invalid"):
			invalid += r.Count
		case r.Kind != audit.LogOpened && r.Kind != audit.LogClosed:
			t.Errorf("unexpected record %+v", r)
		}
	}
	if custom != 1 || invalid != 7 {
		t.Fatalf("%d custom records, %d invalid counted", custom, invalid)
	}
	if s := l.Stats(); s.Invalid != 7 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.log")
	for _, o := range []Options{
		{},
		{Path: p, MaxSize: -1},
		{Path: p, Window: -1},
		{Path: p, Syslog: &SyslogOptions{Network: "http", Address: "x"}},
		{Path: p, Syslog: &SyslogOptions{Network: "udp"}},
		{Path: p, Syslog: &SyslogOptions{Network: "udp", Address: "x:1", Facility: "local9"}},
	} {
		if l, err := Open(o); err == nil {
			l.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}
