package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/moatmq/moat/internal/admin"
)

const retainedUsage = `Usage: moat retained [flags] list FILTER | purge FILTER

Show or delete a running broker's retained messages, through its local
admin socket (DATA_DIR/admin.sock, or admin.socket). FILTER is a topic
filter: "sensors/#", "site/+/config". As for subscribers, "#" and "+" do
not match $ topics. The list shows who set each message and when, never
its payload.

Commands:
  list FILTER    list the retained messages whose topic matches FILTER
  purge FILTER   delete them (audited)

Flags:
`

// retainedCmd runs "moat retained". It returns 0 on success, 1 when the
// broker could not be reached or refused, 2 on a usage error.
func retainedCmd(args []string) int {
	fl := flag.NewFlagSet("moat retained", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	fl.Usage = func() {
		fmt.Fprint(os.Stderr, retainedUsage)
		fl.PrintDefaults()
	}
	dd := addDataDirFlags(fl, "find the admin socket through this configuration file")
	socket := fl.String("socket", "", "the admin socket (overrides --config and --data-dir)")
	limit := fl.Int("limit", 1000, fmt.Sprintf("list: show at most this many (1 to %d)", admin.MaxListed))
	asJSON := fl.Bool("json", false, "list: print JSON")
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) != 2 || (pos[0] != "list" && pos[0] != "purge") {
		fl.Usage()
		return 2
	}
	path := *socket
	if path == "" {
		cfg, err := dd.load()
		if err != nil {
			fmt.Fprintln(os.Stderr, "moat retained:", err)
			return 2
		}
		if path = cfg.AdminSocket(); path == "" {
			fmt.Fprintln(os.Stderr, "moat retained: admin.disable_socket is set; the broker serves no admin socket")
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := admin.NewClient(path)
	filter := pos[1]
	if pos[0] == "purge" {
		n, err := c.PurgeRetained(ctx, filter)
		if err != nil {
			fmt.Fprintln(os.Stderr, "moat retained:", err)
			return 1
		}
		fmt.Printf("purged %d retained message(s) matching %q\n", n, filter)
		return 0
	}
	list, err := c.Retained(ctx, filter, *limit)
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat retained:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(list)
		return 0
	}
	return printRetained(list, filter)
}

func printRetained(list *admin.RetainedList, filter string) int {
	if list.Total == 0 {
		fmt.Printf("no retained messages match %q\n", filter)
		return 0
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tQOS\tSIZE\tSET BY\tSET AT\tEXPIRES")
	for _, m := range list.Messages {
		by, expires := m.SetBy, "never"
		if by == "" {
			by = "(broker)"
		}
		if !m.Expires.IsZero() {
			expires = m.Expires.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%q\t%d\t%d\t%q\t%s\t%s\n", m.Topic, m.QoS, m.Size, by, m.SetAt.UTC().Format(time.RFC3339), expires)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "moat retained:", err)
		return 1
	}
	if len(list.Messages) < list.Total {
		fmt.Printf("(%d of %d shown; see --limit)\n", len(list.Messages), list.Total)
	}
	return 0
}
