package auditlog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/audit"
)

// cleanLog writes a closed log of 10 records (seq 1..10) and returns its
// path and lines; line k holds seq k.
func cleanLog(t *testing.T) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _ := openTest(t, Options{Path: path})
	for i := range 8 {
		l.Record(authFailure(ipN(i), 1))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 10 {
		t.Fatalf("%d lines", len(lines))
	}
	return path, lines
}

func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(ls [][]byte) []byte
		kind   ProblemKind // a problem, or a warning when warn
		warn   bool
		line   int
		seq    uint64
		msg    string
	}{
		{name: "intact", mutate: join, kind: "", line: 0},
		{name: "edit a line", mutate: func(ls [][]byte) []byte {
			ls[3] = bytes.Replace(ls[3], []byte("wrong password"), []byte("right password"), 1)
			return join(ls)
		}, kind: Altered, line: 4, seq: 4, msg: "does not match the prev of seq 5"},
		{name: "edit the first record's prev", mutate: func(ls [][]byte) []byte {
			ls[0] = bytes.Replace(ls[0], []byte(`"prev":"0`), []byte(`"prev":"1`), 1)
			return join(ls)
		}, kind: Altered, line: 1, seq: 1},
		{name: "delete a line", mutate: func(ls [][]byte) []byte {
			return join(slices.Delete(ls, 4, 5))
		}, kind: Removed, line: 5, seq: 5, msg: "record seq 5 is missing"},
		{name: "delete two lines", mutate: func(ls [][]byte) []byte {
			return join(slices.Delete(ls, 4, 6))
		}, kind: Removed, line: 5, seq: 5, msg: "records seq 5 to 6 are missing"},
		{name: "swap two lines", mutate: func(ls [][]byte) []byte {
			ls[4], ls[5] = ls[5], ls[4]
			return join(ls)
		}, kind: Reordered, line: 5, seq: 6, msg: "comes before seq 5"},
		{name: "swap distant lines", mutate: func(ls [][]byte) []byte {
			ls[2], ls[6] = ls[6], ls[2]
			return join(ls)
		}, kind: Reordered, line: 3, seq: 7},
		{name: "duplicate a line", mutate: func(ls [][]byte) []byte {
			return join(slices.Insert(ls, 5, ls[4]))
		}, kind: Reordered, line: 6, seq: 5, msg: "goes backwards"},
		{name: "insert a forged record", mutate: func(ls [][]byte) []byte {
			r, err := audit.ParseRecord(ls[3])
			if err != nil {
				t.Fatal(err)
			}
			r.Seq, r.Prev, r.Detail = 5, audit.LineHash(ls[3]), "forged"
			return join(slices.Insert(ls, 4, r.AppendJSON(nil)))
		}, kind: Reordered, line: 6, seq: 5},
		{name: "replace a line with garbage", mutate: func(ls [][]byte) []byte {
			ls[2] = []byte("hello")
			return join(ls)
		}, kind: Malformed, line: 3, seq: 3},
		{name: "reformat a line", mutate: func(ls [][]byte) []byte {
			ls[2] = bytes.Replace(ls[2], []byte(`,"seq":`), []byte(`, "seq":`), 1)
			return join(ls)
		}, kind: Malformed, line: 3, seq: 3, msg: "canonical"},
		{name: "truncate mid-line", mutate: func(ls [][]byte) []byte {
			b := join(ls)
			return b[:len(b)-20]
		}, kind: Truncated, line: 10, seq: 10, msg: "intact up to seq 9"},
		{name: "truncate in the middle", mutate: func(ls [][]byte) []byte {
			return append(join(ls[:5]), ls[5][:30]...)
		}, kind: Truncated, line: 6, seq: 6},
		{name: "truncate at a line boundary", mutate: func(ls [][]byte) []byte {
			return join(ls[:7])
		}, kind: Unclosed, warn: true, line: 7, seq: 7, msg: "without a close record"},
		{name: "remove the close record", mutate: func(ls [][]byte) []byte {
			return join(ls[:9])
		}, kind: Unclosed, warn: true, line: 9, seq: 9},
		{name: "empty", mutate: func([][]byte) []byte { return nil }, kind: Empty},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, lines := cleanLog(t)
			if err := os.WriteFile(path, tc.mutate(lines), 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(path)
			var p *Problem
			if tc.kind == "" || tc.warn {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				switch {
				case tc.kind == "" && len(rep.Warnings) != 0:
					t.Fatalf("warnings: %+v", rep.Warnings)
				case tc.kind == "":
					if rep.Records != 10 || !rep.Closed || !rep.Genesis {
						t.Fatalf("report: %+v", rep)
					}
					return
				case len(rep.Warnings) != 1:
					t.Fatalf("warnings: %+v", rep.Warnings)
				}
				w := rep.Warnings[0]
				p = &w
			} else if !errors.As(err, &p) {
				t.Fatalf("Verify: %v (%+v), want a %s problem", err, rep, tc.kind)
			}
			if p.Kind != tc.kind || p.Line != tc.line || p.Seq != tc.seq || !strings.Contains(p.Msg, tc.msg) {
				t.Fatalf("got %v\nwant %s at line %d seq %d with %q", p, tc.kind, tc.line, tc.seq, tc.msg)
			}
			if tc.line > 0 && (p.File != path || !strings.HasPrefix(p.Error(), path+":")) {
				t.Fatalf("problem names %q: %v", p.File, p)
			}
		})
	}
}

func TestVerifyFileSets(t *testing.T) {
	path, _ := cleanLog(t)
	other, _ := cleanLog(t)
	empty := filepath.Join(t.TempDir(), "empty.log")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The same file twice counts once.
	if rep := mustVerify(t, path, path); rep.Files != 1 || rep.Records != 10 {
		t.Fatalf("report: %+v", rep)
	}
	// An empty file is a warning.
	rep := mustVerify(t, empty, path)
	if rep.Files != 2 || len(rep.Warnings) != 1 || rep.Warnings[0].Kind != EmptyFile || rep.Warnings[0].File != empty {
		t.Fatalf("report: %+v", rep)
	}
	// Two chains are not one.
	var p *Problem
	if _, err := Verify(path, other); !errors.As(err, &p) || p.Kind != Reordered {
		t.Fatalf("two chains: %v", err)
	}
	if _, err := Verify(empty); !errors.As(err, &p) || p.Kind != Empty {
		t.Fatalf("only an empty file: %v", err)
	}
	if _, err := Verify(filepath.Join(t.TempDir(), "missing.log")); err == nil || errors.As(err, &p) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := Verify(); !errors.As(err, &p) || p.Kind != Empty {
		t.Fatalf("no files: %v", err)
	}
}

// bytesSource is an in-memory file for the verifier.
func bytesSource(name string, b []byte) source {
	return source{name: name, open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// FuzzVerify feeds arbitrary content, split into two files, to the
// verifier: it must not panic, and what it accepts must be consistent.
func FuzzVerify(f *testing.F) {
	path, lines := cleanLogF(f)
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, uint16(len(join(lines[:4]))))
	f.Add(good, uint16(0))
	f.Add(good[:len(good)-7], uint16(100))
	f.Add([]byte("{\"v\":1}\n\n\n"), uint16(3))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		cut := min(int(split), len(data))
		rep, err := verify([]source{bytesSource("b", data[cut:]), bytesSource("a", data[:cut])})
		var p *Problem
		if err != nil && !errors.As(err, &p) {
			t.Fatalf("non-problem error from memory: %v", err)
		}
		if err == nil && (rep.Records == 0 || rep.LastSeq-rep.FirstSeq+1 != rep.Records) {
			t.Fatalf("inconsistent report %+v", rep)
		}
	})
}

// cleanLogF is cleanLog for a fuzz target's setup.
func cleanLogF(f *testing.F) (string, [][]byte) {
	path := filepath.Join(f.TempDir(), "audit.log")
	l, err := Open(Options{Path: path, Clock: newClock().Now})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 8 {
		l.Record(authFailure(ipN(i), 1))
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return path, bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}
