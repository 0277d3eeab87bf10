package scan

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/moatmq/moat/internal/doctor"
)

// Step is one step of a scan, for a progress display: the N-th of the
// Total steps planned for Target. N and Total are 0 for a step outside
// the plan (detecting the transport, before the plan is known).
type Step struct {
	Target   string
	Name     string
	N, Total int
}

// String is the progress line of st: "scanning 127.0.0.1:1883: tls
// versions (7/23)". The target is sanitized: it may come from the
// command line of someone else's script.
func (st Step) String() string {
	line := "scanning " + doctor.Sanitize(st.Target, 60) + ": " + st.Name
	if st.Total > 0 {
		line += fmt.Sprintf(" (%d/%d)", st.N, st.Total)
	}
	return line
}

// progressWidth is the longest progress line written to a terminal: a
// longer one would wrap, and "\r" then no longer rewrites it.
const progressWidth = 79

// ProgressLine shows steps on standard error: on a terminal as one line
// rewritten in place, elsewhere (when asked for) one line per step. It is
// safe for concurrent use.
type ProgressLine struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	shown bool // a line is on the terminal and must be erased
}

// NewProgressLine returns a display writing to w; tty says whether w is a
// terminal.
func NewProgressLine(w io.Writer, tty bool) *ProgressLine {
	return &ProgressLine{w: w, tty: tty}
}

// Show displays st, replacing the previous step on a terminal.
func (p *ProgressLine) Show(st Step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := st.String()
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	if utf8.RuneCountInString(line) > progressWidth {
		line = string([]rune(line)[:progressWidth-3]) + "..."
	}
	fmt.Fprint(p.w, "\r\x1b[K"+line)
	p.shown = true
}

// Clear erases the line a terminal shows; call it before printing the
// report.
func (p *ProgressLine) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// Column widths of the table: longer text is cut with "...".
const (
	tableTarget   = 40
	tableTitle    = 48
	tableEvidence = 72
)

// WriteTable writes r as a table, one row per finding in the report's
// order (most severe first): ID, severity, target, the rule's title and
// the start of the message as evidence. Notes and the summary follow.
// Text from outside (targets, messages) is sanitized; the full messages,
// why and fix are in the JSON and SARIF formats, or doctor.WriteText.
func WriteTable(w io.Writer, r *doctor.Report) error {
	ew := &errWriter{w: w}
	ew.printf("%s: %s\n\n", r.Tool, doctor.Sanitize(r.Subject, 500))
	if len(r.Findings) == 0 {
		ew.printf("no findings\n")
	} else {
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSEVERITY\tTARGET\tTITLE\tEVIDENCE")
		for _, f := range r.Findings {
			title := f.ID
			if rule, ok := doctor.Lookup(f.ID); ok {
				title = rule.Title
			}
			target := cmpOr(f.Target, f.Location())
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.ID, f.Severity, cell(target, tableTarget), cell(title, tableTitle),
				cell(f.Message, tableEvidence))
		}
		if err := tw.Flush(); err != nil && ew.err == nil {
			ew.err = err
		}
	}
	if len(r.Notes) > 0 {
		ew.printf("\n")
	}
	for _, n := range r.Notes {
		ew.printf("note: %s\n", doctor.Sanitize(n, 500))
	}
	ew.printf("\nsummary: %s\n", r.Summary)
	if len(r.Findings) > 0 {
		ew.printf("why and fix of each finding: --details, --json or --format sarif; every check: docs/scanning.md\n")
	}
	return ew.err
}

// cell makes s one table cell: sanitized, tabs and line breaks removed,
// cut at max runes.
func cell(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return doctor.Sanitize(s, max)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
