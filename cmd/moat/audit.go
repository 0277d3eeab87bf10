package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/moatmq/moat/internal/audit/auditlog"
)

const auditUsage = `Usage: moat audit verify FILE...

Check the hash chain of audit log files: the live audit.log and its
rotated audit-*.log files, in any order (they are sorted by their first
record). Every line must be a record, the seq must rise by one and each
record must carry the SHA-256 of the one before it, across files.

Prints "ok: N records in M files, seq A..B" and exits 0 when the chain
holds (findings that prove nothing either way, such as a chain without a
close record, are printed as warnings on stderr); prints the first problem
(file, line, seq, what) and exits 1 when it does not; exits 2 on a usage
error. See docs/audit.md for what the chain can and cannot show.

Flags:
`

// auditCmd runs "moat audit". It returns 0 when the chain verifies, 1 on
// a problem or an I/O error, 2 on a usage error.
func auditCmd(args []string) int {
	fl := flag.NewFlagSet("moat audit", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	fl.Usage = func() {
		fmt.Fprint(os.Stderr, auditUsage)
		fl.PrintDefaults()
	}
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fl.Usage()
		return 2
	}
	if pos[0] != "verify" {
		fmt.Fprintf(os.Stderr, "moat audit: unknown command %q\n\n", pos[0])
		fl.Usage()
		return 2
	}
	if len(pos) == 1 {
		fmt.Fprint(os.Stderr, "moat audit verify: no files given\n\n")
		fl.Usage()
		return 2
	}
	return auditVerify(pos[1:])
}

func auditVerify(files []string) int {
	rep, err := auditlog.Verify(files...)
	var p *auditlog.Problem
	if errors.As(err, &p) {
		fmt.Printf("FAIL: %v\n", p)
		if rep.Records > 0 {
			fmt.Printf("(%d records verified before it, seq %d..%d)\n", rep.Records, rep.FirstSeq, rep.LastSeq)
		}
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat audit verify:", err)
		return 1
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(os.Stderr, "warning: %v\n", &w)
	}
	if rep.OmittedWarnings > 0 {
		fmt.Fprintf(os.Stderr, "warning: %d more warnings not shown\n", rep.OmittedWarnings)
	}
	fmt.Printf("ok: %d records in %d %s, seq %d..%d\n", rep.Records, rep.Files, plural(rep.Files, "file"),
		rep.FirstSeq, rep.LastSeq)
	return 0
}

// plural returns word, with an "s" unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
