package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/moatmq/moat/internal/admin"
)

const adminUsage = `Usage: moat admin token [flags] add NAME | remove NAME | list

Manage the bearer tokens of the HTTPS admin listener (admin.listen). The
tokens file (admin.tokens_file, default DATA_DIR/admin-tokens, mode 0600)
holds only their SHA-256; "add" prints the new token once. A running
broker reads the file again when it changes.

Flags:
`

// adminCmd runs "moat admin". It returns 0 on success, 1 when the
// command failed, 2 on a usage error.
func adminCmd(args []string) int {
	fl := flag.NewFlagSet("moat admin", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	fl.Usage = func() {
		fmt.Fprint(os.Stderr, adminUsage)
		fl.PrintDefaults()
	}
	dd := addDataDirFlags(fl, "take admin.tokens_file and data_dir from this configuration file")
	file := fl.String("tokens", "", "the tokens file (overrides --config and --data-dir)")
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) < 2 || pos[0] != "token" {
		fl.Usage()
		return 2
	}
	cmd, rest := pos[1], pos[2:]
	want := map[string]int{"add": 1, "remove": 1, "list": 0}
	if n, known := want[cmd]; !known || len(rest) != n {
		fl.Usage()
		return 2
	}
	path := *file
	if path == "" {
		cfg, err := dd.load()
		if err != nil {
			fmt.Fprintln(os.Stderr, "moat admin:", err)
			return 2
		}
		path = cfg.AdminTokensFile()
	}
	switch cmd {
	case "add":
		token, err := admin.AddToken(path, rest[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, "moat admin:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "token %q added to %s; it is shown only now:\n", rest[0], path)
		fmt.Println(token)
	case "remove":
		if err := admin.RemoveToken(path, rest[0]); err != nil {
			fmt.Fprintln(os.Stderr, "moat admin:", err)
			return 1
		}
		fmt.Printf("removed token %q\n", rest[0])
	default:
		t, err := admin.NewTokens(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "moat admin:", err)
			return 1
		}
		names, err := t.Names()
		if err != nil {
			fmt.Fprintln(os.Stderr, "moat admin:", err)
			return 1
		}
		if len(names) == 0 {
			fmt.Println("no tokens")
		}
		for _, n := range names {
			fmt.Println(n)
		}
	}
	return 0
}
