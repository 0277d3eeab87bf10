package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/moatmq/moat/internal/errlist"
)

// maxErrors bounds how many problems one load reports; past it the loader
// stops walking the document (a hostile file full of aliases could
// otherwise produce errors without end).
const maxErrors = 100

// FieldError is one problem in a configuration, located as precisely as the
// source allows. File, Line and Column are zero when unknown (a Config built
// in code has no file, and a key the file does not set has no line). Path
// is the key path, such as "listeners[1].address", and is empty for
// problems with the document as a whole.
type FieldError struct {
	File   string
	Line   int
	Column int
	Path   string
	Msg    string
}

// Error formats e as "file:line:col: path: msg", leaving out the parts that
// are unknown.
func (e *FieldError) Error() string {
	var parts []string
	if e.File != "" {
		parts = append(parts, e.File)
	}
	if e.Line > 0 {
		parts = append(parts, strconv.Itoa(e.Line))
		if e.Column > 0 {
			parts = append(parts, strconv.Itoa(e.Column))
		}
	}
	loc := strings.Join(parts, ":")
	switch {
	case loc != "" && e.Path != "":
		return loc + ": " + e.Path + ": " + e.Msg
	case loc != "":
		return loc + ": " + e.Msg
	case e.Path != "":
		return e.Path + ": " + e.Msg
	}
	return e.Msg
}

// Errors is every problem found in one configuration. List is never empty
// and is sorted by position in the file; problems without a line come last.
type Errors = errlist.List[*FieldError]

// collector gathers problems up to maxErrors.
type collector struct {
	list      []*FieldError
	truncated bool
}

func (c *collector) add(fe *FieldError) {
	if len(c.list) >= maxErrors {
		c.truncated = true
		return
	}
	c.list = append(c.list, fe)
}

// addf records a problem at path with no position.
func (c *collector) addf(path, format string, args ...any) {
	c.add(&FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// full reports whether further problems would be dropped; a caller that
// stops looking because of it makes the result say so.
func (c *collector) full() bool {
	if len(c.list) >= maxErrors {
		c.truncated = true
	}
	return c.truncated
}

// err returns nil when nothing was collected, otherwise an *Errors sorted by
// position. file names the source in the "too many errors" note.
func (c *collector) err(file string) error {
	if len(c.list) == 0 {
		return nil
	}
	list := append([]*FieldError(nil), c.list...)
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	list = dedupe(list)
	if c.truncated {
		list = append(list, &FieldError{File: file,
			Msg: fmt.Sprintf("too many errors; stopped after the first %d", maxErrors)})
	}
	return &Errors{List: list}
}

// dedupe drops repeats of the same problem at the same place, which a
// mapping merged by alias into several places can produce.
func dedupe(list []*FieldError) []*FieldError {
	seen := make(map[FieldError]bool, len(list))
	out := list[:0]
	for _, fe := range list {
		if seen[*fe] {
			continue
		}
		seen[*fe] = true
		out = append(out, fe)
	}
	return out
}
