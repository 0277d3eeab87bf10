package auditlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/audit"
)

// chainPos is where a chain stands: the last record's seq and the hash of
// its line. The zero seq with ZeroHash is a fresh chain.
type chainPos struct {
	seq  uint64
	hash string
}

var freshChain = chainPos{hash: audit.ZeroHash}

// errLineTooLong reports a line over audit.MaxLineSize.
var errLineTooLong = fmt.Errorf("line longer than %d bytes", audit.MaxLineSize)

// lineReader reads a log line by line within the line limit.
type lineReader struct {
	br *bufio.Reader
	n  int // lines read
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, audit.MaxLineSize+1)}
}

// next returns the next line without its newline, valid until the next
// call; complete is false for a last line without a newline. It returns
// io.EOF after the last line and errLineTooLong (then stops) for a line
// over the limit.
func (lr *lineReader) next() (line []byte, complete bool, err error) {
	line, err = lr.br.ReadSlice('\n')
	switch {
	case err == nil:
		lr.n++
		return line[:len(line)-1], true, nil
	case errors.Is(err, bufio.ErrBufferFull):
		lr.n++
		return nil, false, errLineTooLong
	case errors.Is(err, io.EOF) && len(line) > 0:
		lr.n++
		return line, false, nil
	}
	return nil, false, err
}

// fileState is what inspect found in a log file.
type fileState struct {
	size      int64
	firstSeq  uint64    // seq of the first record; 0 when none is intact
	firstTime time.Time // its time
	pos       chainPos  // the last intact record
	damage    string    // why the tail does not check out; "" when it does
}

// inspect checks a log file's ends cheaply: the first line parses, the
// last line is complete, parses and chains to the one before it. When
// they do not, it reads the whole file to find the last record that still
// chains from the first. A missing file is an empty state.
func inspect(path string) (fileState, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fileState{}, nil
	}
	if err != nil {
		return fileState{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fileState{}, err
	}
	s := fileState{size: st.Size()}
	if s.size == 0 {
		return s, nil
	}
	first, _, err := newLineReader(f).next()
	if err != nil && !errors.Is(err, errLineTooLong) {
		return s, err
	}
	if r, perr := audit.ParseRecord(first); err == nil && perr == nil {
		s.firstSeq, s.firstTime = r.Seq, r.Time
	} else {
		s.damage = "the first record does not parse"
	}
	if s.damage == "" {
		s.damage, err = checkTail(f, s.size, &s.pos)
		if err != nil {
			return s, err
		}
	}
	if s.damage == "" {
		return s, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return s, err
	}
	s.firstSeq, s.firstTime, s.pos = scanIntact(f)
	return s, nil
}

// checkTail reads the end of f and reports why its last record cannot be
// trusted to chain onto, or "" and the record's position.
func checkTail(f *os.File, size int64, pos *chainPos) (string, error) {
	n := min(size, 2*(audit.MaxLineSize+1))
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil {
		return "", err
	}
	if buf[len(buf)-1] != '\n' {
		return "the last line is incomplete (no newline)", nil
	}
	buf = buf[:len(buf)-1]
	i := bytes.LastIndexByte(buf, '\n')
	if i < 0 && n < size {
		return "the last line is too long", nil
	}
	last := buf[i+1:]
	r, err := audit.ParseRecord(last)
	if err != nil {
		return "the last record does not parse: " + err.Error(), nil
	}
	if i >= 0 {
		before := buf[:i]
		j := bytes.LastIndexByte(before, '\n')
		if j >= 0 || n == size {
			p, err := audit.ParseRecord(before[j+1:])
			if err != nil || r.Seq != p.Seq+1 || r.Prev != audit.LineHash(before[j+1:]) {
				return "the last record does not chain to the one before it", nil
			}
		}
	}
	*pos = chainPos{seq: r.Seq, hash: audit.LineHash(last)}
	return "", nil
}

// scanIntact reads a log from the start and returns its first record and
// the last one that chains without a break from it.
func scanIntact(r io.Reader) (firstSeq uint64, firstTime time.Time, pos chainPos) {
	lr := newLineReader(r)
	for {
		line, complete, err := lr.next()
		if err != nil || !complete {
			return firstSeq, firstTime, pos
		}
		rec, err := audit.ParseRecord(line)
		if err != nil {
			return firstSeq, firstTime, pos
		}
		if firstSeq == 0 {
			firstSeq, firstTime = rec.Seq, rec.Time
		} else if rec.Seq != pos.seq+1 || rec.Prev != pos.hash {
			return firstSeq, firstTime, pos
		}
		pos = chainPos{seq: rec.Seq, hash: audit.LineHash(line)}
	}
}

// rotatedFile is one rotated file of the log, found by its name.
type rotatedFile struct {
	path string
	seq  uint64 // the first record's seq, from the name
	n    int    // collision suffix
}

// naming derives rotated names from the live file's path:
// DIR/audit.log rotates to DIR/audit-20260102T030405Z-1234.log, where
// 1234 is the seq of the file's first record (and a ".N" before the
// extension if that name exists).
type naming struct {
	dir, stem, ext string
	re             *regexp.Regexp
}

const rotateStamp = "20060102T150405Z"

func newNaming(path string) naming {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(stem) + `-\d{8}T\d{6}Z-(\d{1,20})(?:\.(\d{1,9}))?` +
		regexp.QuoteMeta(ext) + `$`)
	return naming{dir: filepath.Dir(path), stem: stem, ext: ext, re: re}
}

// free returns a rotated name for a file whose first record is seq that
// no file has yet.
func (nm naming) free(seq uint64, now time.Time) (string, error) {
	stem := fmt.Sprintf("%s-%s-%d", nm.stem, now.UTC().Format(rotateStamp), seq)
	for i := 0; i < 1000; i++ {
		name := stem + nm.ext
		if i > 0 {
			name = stem + "." + strconv.Itoa(i) + nm.ext
		}
		p := filepath.Join(nm.dir, name)
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("no free rotated name for %s", stem)
}

// list returns the rotated files, oldest (lowest first seq) first.
func (nm naming) list() ([]rotatedFile, error) {
	ents, err := os.ReadDir(nm.dir)
	if err != nil {
		return nil, err
	}
	var out []rotatedFile
	for _, e := range ents {
		m := nm.re.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		out = append(out, rotatedFile{path: filepath.Join(nm.dir, e.Name()), seq: seq, n: n})
	}
	slices.SortFunc(out, func(a, b rotatedFile) int {
		if a.seq != b.seq {
			return cmpU64(a.seq, b.seq)
		}
		if a.n != b.n {
			return a.n - b.n
		}
		return strings.Compare(a.path, b.path)
	})
	return out, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// prune deletes the oldest rotated files beyond keep (keep < 0: none).
func (nm naming) prune(keep int) error {
	if keep < 0 {
		return nil
	}
	files, err := nm.list()
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files[:max(0, len(files)-keep)] {
		if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncDir makes a rename or create in dir durable. Platforms that cannot
// sync a directory are not an error.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
