package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/moatmq/moat/internal/admin"
	"github.com/moatmq/moat/internal/limits"
)

const banUsage = `Usage: moat ban [flags] list | add TARGET | remove TARGET

Manage the brute-force defence's bans, kept in DATA_DIR/bans.json. When a
broker runs with that data directory, the command goes through its admin
socket and applies at once; otherwise it edits the file, which a broker
started later reads. TARGET is an IP
address, a CIDR prefix (10.0.0.0/8, 2001:db8::/48) or user:NAME.

Commands:
  list            list active bans
  add TARGET      ban TARGET (see --for and --reason)
  remove TARGET   lift TARGET's ban and forget its offences

Flags:
`

// banCmd runs "moat ban". It returns 0 on success, 1 when the command
// failed (remove: no such ban), 2 on a usage error.
func banCmd(args []string) int {
	fl := flag.NewFlagSet("moat ban", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	fl.Usage = func() {
		fmt.Fprint(os.Stderr, banUsage)
		fl.PrintDefaults()
	}
	dd := addDataDirFlags(fl, "take data_dir from this configuration file")
	dur := fl.Duration("for", 24*time.Hour, "add: length of the ban")
	reason := fl.String("reason", "banned by an operator", "add: reason recorded with the ban")
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		fl.Usage()
		return 2
	}
	cfg, err := dd.load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat ban:", err)
		return 2
	}
	cmd, rest := pos[0], pos[1:]
	want := map[string]int{"list": 0, "add": 1, "remove": 1}
	n, known := want[cmd]
	if !known {
		fmt.Fprintf(os.Stderr, "moat ban: unknown command %q\n\n", cmd)
		fl.Usage()
		return 2
	}
	if len(rest) != n {
		fmt.Fprintf(os.Stderr, "moat ban: %s takes %d argument(s)\n", cmd, n)
		return 2
	}
	if cmd != "list" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return banFail(err)
		}
	}
	if path := cfg.AdminSocket(); path != "" {
		if code, done := banViaBroker(admin.NewClient(path), cmd, rest, *dur, *reason); done {
			return code
		}
	}
	b, err := limits.NewBruteForce(limits.BruteForceOptions{BansFile: cfg.BansFile()})
	if err != nil {
		return banFail(err)
	}
	switch cmd {
	case "list":
		var list []admin.BanInfo
		for _, ban := range b.Bans() {
			list = append(list, admin.BanInfo{Target: ban.Target, Until: ban.Until, Reason: ban.Reason, Offences: ban.Offences})
		}
		return banList(list)
	case "add":
		if err := b.Ban(rest[0], *dur, *reason); err != nil {
			return banFail(err)
		}
		fmt.Printf("banned %s for %s\n", rest[0], *dur)
		return 0
	default:
		if !b.Unban(rest[0]) {
			fmt.Fprintf(os.Stderr, "moat ban: %s is not banned\n", rest[0])
			return 1
		}
		fmt.Printf("lifted the ban of %s\n", rest[0])
		return 0
	}
}

// banViaBroker runs the command through a running broker's admin socket,
// so that its change and the broker's own bans cannot overwrite each
// other. done is false when no broker answers (the file is used then).
func banViaBroker(c *admin.Client, cmd string, rest []string, d time.Duration, reason string) (code int, done bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	switch cmd {
	case "list":
		var bans []admin.BanInfo
		if bans, err = c.Bans(ctx); err == nil {
			return banList(bans), true
		}
	case "add":
		if err = c.Ban(ctx, rest[0], d, reason); err == nil {
			fmt.Printf("banned %s for %s\n", rest[0], d)
			return 0, true
		}
	default:
		if err = c.Unban(ctx, rest[0]); err == nil {
			fmt.Printf("lifted the ban of %s\n", rest[0])
			return 0, true
		}
	}
	if errors.Is(err, admin.ErrNoBroker) {
		return 0, false
	}
	return banFail(err), true
}

func banList(bans []admin.BanInfo) int {
	if len(bans) == 0 {
		fmt.Println("no active bans")
		return 0
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tUNTIL\tOFFENCES\tREASON")
	for _, ban := range bans {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", ban.Target, ban.Until.UTC().Format(time.RFC3339), ban.Offences, ban.Reason)
	}
	if err := tw.Flush(); err != nil {
		return banFail(err)
	}
	return 0
}

func banFail(err error) int {
	fmt.Fprintln(os.Stderr, "moat ban:", err)
	return 1
}
