package auditlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/moatmq/moat/internal/audit"
)

// ProblemKind names what Verify found.
type ProblemKind string

// Problems: evidence that the log is not what the writer wrote.
const (
	// Malformed: a line is not a record of the format (or is too long).
	Malformed ProblemKind = "malformed"
	// Altered: a record's SHA-256 does not match the next record's prev,
	// or the first record of a chain has a non-zero prev.
	Altered ProblemKind = "altered"
	// Removed: seq skips; records are missing (inside a file, or a whole
	// file between two others).
	Removed ProblemKind = "removed"
	// Reordered: seq goes backwards or records appear out of order; two
	// files start at the same seq.
	Reordered ProblemKind = "reordered"
	// Truncated: the last line of the newest file is incomplete (no
	// newline): the file was cut, or the broker crashed while writing and
	// has not reopened it since.
	Truncated ProblemKind = "truncated"
	// Empty: no records at all.
	Empty ProblemKind = "empty"
)

// Warnings: what the chain cannot prove either way, and recoveries.
const (
	// Unclosed: the chain does not end with an audit.closed record: the
	// broker is running or did not stop cleanly, or records were cut from
	// the end.
	Unclosed ProblemKind = "unclosed"
	// Reopened: an audit.opened record follows a record that is not
	// audit.closed: an unclean stop, or records cut from the end while the
	// broker was stopped.
	Reopened ProblemKind = "reopened"
	// Recovered: the writer recovered from a damaged file or a write
	// error (an audit.recovered record).
	Recovered ProblemKind = "recovered"
	// NoStart: the chain does not start at seq 1; the earlier records
	// (rotated away, or not given) are not checked.
	NoStart ProblemKind = "no_start"
	// EmptyFile: a file given holds no record.
	EmptyFile ProblemKind = "empty_file"
)

// Problem locates one finding: the file, the 1-based line (0: the file as
// a whole), the seq of the record concerned (0: unknown), and what.
type Problem struct {
	Kind ProblemKind
	File string
	Line int
	Seq  uint64
	Msg  string
}

// Error formats the problem as "FILE:LINE: seq N: KIND: MSG".
func (p *Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Seq > 0 {
		loc += fmt.Sprintf(": seq %d", p.Seq)
	}
	return fmt.Sprintf("%s: %s: %s", loc, p.Kind, p.Msg)
}

// maxWarnings bounds Report.Warnings.
const maxWarnings = 100

// Report describes a verified chain.
type Report struct {
	// Files is how many files were given; Records how many records were
	// verified.
	Files   int
	Records uint64
	// FirstSeq and LastSeq are the first and last seq verified.
	FirstSeq, LastSeq uint64
	// Genesis is true when the chain starts at seq 1 with a zero prev.
	Genesis bool
	// Closed is true when the last record is audit.closed.
	Closed bool
	// Warnings lists findings that are not proof of tampering (at most
	// 100; OmittedWarnings counts the rest).
	Warnings        []Problem
	OmittedWarnings int
}

// Verify checks that the given files (the live file and rotated ones, in
// any order; they are sorted by their first seq) hold one unbroken chain:
// every line is a record, seq rises by one, each prev is the SHA-256 of
// the line before, across files. It returns the first problem as a
// *Problem error, with the report of what was verified before it; other
// errors are I/O errors. Findings that prove nothing (the chain does not
// start at 1, does not end with a close record, recovered after a crash)
// are warnings in the report.
func Verify(paths ...string) (Report, error) {
	var srcs []source
	seen := make(map[string]bool)
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return Report{}, err
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		srcs = append(srcs, source{name: p, open: func() (io.ReadCloser, error) { return os.Open(p) }})
	}
	return verify(srcs)
}

// source is one file to verify.
type source struct {
	name  string
	open  func() (io.ReadCloser, error)
	first uint64
}

// point is a record's place, or an incomplete line's.
type point struct {
	file string
	line int
	seq  uint64
	n    int // bytes, for an incomplete line
}

func (p point) String() string { return fmt.Sprintf("%s:%d", p.file, p.line) }

type verifier struct {
	rep   Report
	have  bool
	last  point // the last record verified
	hash  string
	kind  audit.Kind
	gap   *point // a record after a seq gap, judged at the next record
	trunc *point // an incomplete last line, judged at the next record
}

func verify(srcs []source) (Report, error) {
	v := &verifier{rep: Report{Files: len(srcs)}}
	var files []source
	for _, s := range srcs {
		first, err := firstSeq(s)
		if err != nil {
			return v.rep, err
		}
		if first == 0 {
			v.warn(EmptyFile, point{file: s.name}, "the file holds no record")
			continue
		}
		s.first = first
		files = append(files, s)
	}
	slices.SortStableFunc(files, func(a, b source) int { return cmpU64(a.first, b.first) })
	for i := 1; i < len(files); i++ {
		if files[i].first == files[i-1].first {
			return v.rep, &Problem{Kind: Reordered, File: files[i].name, Line: 1, Seq: files[i].first,
				Msg: fmt.Sprintf("it starts at the same seq as %s (two chains, or a copy)", files[i-1].name)}
		}
	}
	for _, s := range files {
		if err := v.file(s); err != nil {
			return v.rep, err
		}
	}
	if err := v.end(); err != nil {
		return v.rep, err
	}
	return v.rep, nil
}

// firstSeq reads a file's first record: its seq, 0 for an empty file, a
// *Problem when the first line is not a record.
func firstSeq(s source) (uint64, error) {
	rc, err := s.open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	line, complete, err := newLineReader(rc).next()
	switch {
	case errors.Is(err, io.EOF):
		return 0, nil
	case errors.Is(err, errLineTooLong):
		return 0, &Problem{Kind: Malformed, File: s.name, Line: 1, Msg: err.Error()}
	case err != nil:
		return 0, err
	case !complete:
		return 0, &Problem{Kind: Truncated, File: s.name, Line: 1,
			Msg: fmt.Sprintf("the only line is incomplete (%d bytes, no newline)", len(line))}
	}
	r, err := audit.ParseRecord(line)
	if err != nil {
		return 0, &Problem{Kind: Malformed, File: s.name, Line: 1, Msg: "not a record: " + err.Error()}
	}
	return r.Seq, nil
}

// file verifies one file's lines in order.
func (v *verifier) file(s source) error {
	rc, err := s.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	lr := newLineReader(rc)
	for {
		line, complete, err := lr.next()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, errLineTooLong):
			return &Problem{Kind: Malformed, File: s.name, Line: lr.n, Seq: v.last.seq + 1, Msg: err.Error()}
		case err != nil:
			return err
		case !complete:
			v.trunc = &point{file: s.name, line: lr.n, n: len(line)}
			return nil
		}
		r, err := audit.ParseRecord(line)
		if err != nil {
			return &Problem{Kind: Malformed, File: s.name, Line: lr.n, Seq: v.last.seq + 1,
				Msg: "not a record (the seq shown is the one expected): " + err.Error()}
		}
		if err := v.record(point{file: s.name, line: lr.n, seq: r.Seq}, &r, audit.LineHash(line)); err != nil {
			return err
		}
	}
}

// record verifies one record against the one before it.
func (v *verifier) record(at point, r *audit.Record, hash string) error {
	if t := v.trunc; t != nil {
		v.trunc = nil
		if !v.have || r.Kind != audit.LogRecovered || r.Seq != v.last.seq+1 || r.Prev != v.hash {
			return v.truncated(*t)
		}
		v.warn(Recovered, *t, fmt.Sprintf("the last line is incomplete (%d bytes, no newline): a crash while "+
			"writing, or a cut; the log recovered at seq %d (%s): %s", t.n, r.Seq, at, r.Detail))
	} else if r.Kind == audit.LogRecovered {
		v.warn(Recovered, at, r.Detail)
	}
	if g := v.gap; g != nil {
		if at.seq > v.last.seq && at.seq < g.seq {
			return &Problem{Kind: Reordered, File: g.file, Line: g.line, Seq: g.seq,
				Msg: fmt.Sprintf("it comes before seq %d (%s): records are out of order", at.seq, at)}
		}
		return v.removed()
	}
	if !v.have {
		v.rep.FirstSeq = r.Seq
		if r.Seq == 1 {
			if r.Prev != audit.ZeroHash {
				return &Problem{Kind: Altered, File: at.file, Line: at.line, Seq: 1,
					Msg: "the first record of a chain must have a prev of 64 zeros"}
			}
			v.rep.Genesis = true
		} else {
			v.warn(NoStart, at, fmt.Sprintf("the chain starts at seq %d: the records before it (rotated away, "+
				"or not given) are not checked, and their removal cannot be seen", r.Seq))
		}
	} else {
		switch {
		case r.Seq == v.last.seq+1:
			if r.Prev != v.hash {
				return &Problem{Kind: Altered, File: v.last.file, Line: v.last.line, Seq: v.last.seq,
					Msg: fmt.Sprintf("its SHA-256 does not match the prev of seq %d (%s): this record was "+
						"altered (or that prev was)", r.Seq, at)}
			}
		case r.Seq > v.last.seq+1:
			v.gap = &at
			return nil
		default:
			return &Problem{Kind: Reordered, File: at.file, Line: at.line, Seq: r.Seq,
				Msg: fmt.Sprintf("the seq goes backwards after seq %d (%s): records reordered or repeated",
					v.last.seq, v.last)}
		}
		if r.Kind == audit.LogOpened && v.kind != audit.LogClosed {
			v.warn(Reopened, at, fmt.Sprintf("the log was reopened after seq %d (%s), which is not a close "+
				"record: the broker did not stop cleanly, or records were cut from the end while it was stopped",
				v.last.seq, v.last))
		}
	}
	v.have, v.last, v.hash, v.kind = true, at, hash, r.Kind
	v.rep.Records++
	v.rep.LastSeq = r.Seq
	return nil
}

// end judges what the last record left pending.
func (v *verifier) end() error {
	if v.gap != nil {
		return v.removed()
	}
	if v.trunc != nil {
		return v.truncated(*v.trunc)
	}
	if !v.have {
		return &Problem{Kind: Empty, Msg: "no records"}
	}
	v.rep.Closed = v.kind == audit.LogClosed
	if !v.rep.Closed {
		v.warn(Unclosed, v.last, "the chain ends without a close record: the broker is running or did not "+
			"stop cleanly, or records were cut from the end (which the chain alone cannot show)")
	}
	return nil
}

func (v *verifier) removed() error {
	g := v.gap
	missing := fmt.Sprintf("record seq %d is", v.last.seq+1)
	if g.seq-v.last.seq > 2 {
		missing = fmt.Sprintf("records seq %d to %d are", v.last.seq+1, g.seq-1)
	}
	where := "in the file"
	if g.file != v.last.file {
		where = fmt.Sprintf("between %s and %s (a file is missing, or was cut)", v.last.file, g.file)
	}
	return &Problem{Kind: Removed, File: g.file, Line: g.line, Seq: v.last.seq + 1,
		Msg: fmt.Sprintf("%s missing %s: seq %d (%s) is followed by seq %d", missing, where,
			v.last.seq, v.last, g.seq)}
}

func (v *verifier) truncated(t point) error {
	msg := fmt.Sprintf("the last line is incomplete (%d bytes, no newline): the file was cut, or the broker "+
		"crashed while writing it", t.n)
	if v.have {
		msg += fmt.Sprintf("; the chain is intact up to seq %d", v.last.seq)
	}
	return &Problem{Kind: Truncated, File: t.file, Line: t.line, Seq: v.last.seq + 1, Msg: msg}
}

func (v *verifier) warn(k ProblemKind, at point, msg string) {
	if len(v.rep.Warnings) >= maxWarnings {
		v.rep.OmittedWarnings++
		return
	}
	v.rep.Warnings = append(v.rep.Warnings, Problem{Kind: k, File: at.file, Line: at.line, Seq: at.seq, Msg: msg})
}
