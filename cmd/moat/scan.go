package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/scan"
)

const scanUsage = `Usage:
  moat scan [flags] TARGET...

scan audits running MQTT brokers (Moat, Mosquitto, EMQX, ...) from the
outside: transport and TLS, anonymous and random logins, what "#" and
$SYS/# reveal (topic names, counts and sizes; never payloads), and the
MQTT 5 limits the broker advertises. Only scan brokers you are authorized
to test. docs/scanning.md lists every check, what it sends and its ID.

A TARGET is HOST:PORT (TLS or plain text is detected) or a URL:
mqtt://HOST[:1883], mqtts://HOST[:8883], ws://HOST[:80]/PATH,
wss://HOST[:443]/PATH. Targets outside loopback and private ranges are
refused without --allow-public.

By default nothing is written to the broker. --publish allows writes to
the scanner's own random topics (moat-scan/<id>/..., and one under $SYS);
a retained test message is removed again. --intrusive adds default
credentials, a brute-force lockout probe (at most 10 failed logins: a
broker with a defence may ban the scanning address), client-id takeover
and session hijack (with --username2), shared-subscription and will
ACL bypass, packet size enforcement, PROXY header spoofing, a few
malformed packets and, with --signed-topic, signed-topic enforcement.

The report is a table on standard output (--details: each finding with
why and fix; --json, --format sarif for machines). A progress line goes
to standard error when it is a terminal, or with --progress.

Exit status: 0 when no finding is at or above --fail-on (default high),
1 when one is, 2 for a usage error, a refused target, or a target that
could not be scanned (the report is still printed).

Flags:
`

// scanCmd runs "moat scan".
func scanCmd(args []string) int {
	fl := flag.NewFlagSet("moat scan", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	fl.Usage = func() {
		fmt.Fprint(os.Stderr, scanUsage)
		fl.PrintDefaults()
	}
	var o scan.Options
	fl.StringVar(&o.Username, "username", "", "an ordinary (low-privilege) account to probe access control with")
	pwFile := fl.String("password-file", "", "file holding --username's password (first line)")
	fl.StringVar(&o.Password, "password", "", "--username's password (visible to other local users; prefer --password-file)")
	fl.StringVar(&o.Username2, "username2", "", "--intrusive: a second account, for takeover and hijack, and to watch the bypass probes (give it read and write on moat-scan/#)")
	pw2File := fl.String("password2-file", "", "file holding --username2's password (first line)")
	fl.StringVar(&o.Password2, "password2", "", "--username2's password (prefer --password2-file)")
	fl.StringVar(&o.CAFile, "cafile", "", "CA certificates (PEM) that verify the broker; default the system roots")
	fl.StringVar(&o.ServerName, "server-name", "", "name the broker's certificate must hold; default the target host")
	fl.StringVar(&o.CertFile, "cert", "", "client certificate (PEM) for brokers that require mutual TLS")
	fl.StringVar(&o.KeyFile, "key", "", "the client certificate's key (PEM)")
	fl.BoolVar(&o.AllowPublic, "allow-public", false, "scan targets outside loopback and private address ranges")
	fl.BoolVar(&o.Publish, "publish", false, "allow writes to the scanner's own topics (moat-scan/<id>/...)")
	fl.BoolVar(&o.Intrusive, "intrusive", false, "add the opt-in probes (implies --publish)")
	fl.StringVar(&o.SignedTopic, "signed-topic", "", "--intrusive: a topic that must be signed; an unsigned and a garbage-signed message are published there (use a test topic)")
	fl.BoolVar(&o.ShowPayloads, "show-payloads", false, "print the broker version read from $SYS")
	fl.DurationVar(&o.ProbeTimeout, "timeout", scan.DefaultProbeTimeout, "bound on each connect, handshake, read and write")
	fl.DurationVar(&o.Listen, "listen", scan.DefaultListen, "how long a subscription collects messages")
	fl.DurationVar(&o.IdleWait, "idle-wait", scan.DefaultIdleWait, "how long to wait for the broker to drop a silent connection (negative: skip)")
	fl.DurationVar(&o.MaxDuration, "max-duration", scan.DefaultMaxDuration, "bound on the whole run")
	fl.IntVar(&o.MaxMessages, "max-messages", scan.DefaultMaxMessages, "messages read per subscription at most")
	fl.Int64Var(&o.MaxBytes, "max-bytes", scan.DefaultMaxBytes, "payload bytes read per subscription at most")
	quiet := fl.Bool("quiet", false, "no progress line, even on a terminal")
	progress := fl.Bool("progress", false, "progress lines on standard error even when it is not a terminal")
	details := fl.Bool("details", false, "text report with each finding's message, why and fix instead of the table")
	var rf reportFlags
	rf.register(fl)
	targets, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	format, minSev, failOn, err := rf.parse()
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat scan:", err)
		return 2
	}
	if len(targets) == 0 {
		fmt.Fprint(os.Stderr, "moat scan: no target\n\n")
		fl.Usage()
		return 2
	}
	if err := readSecret(pwFile, &o.Password); err != nil {
		fmt.Fprintln(os.Stderr, "moat scan: --password-file:", err)
		return 2
	}
	if err := readSecret(pw2File, &o.Password2); err != nil {
		fmt.Fprintln(os.Stderr, "moat scan: --password2-file:", err)
		return 2
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		fmt.Fprintln(os.Stderr, "moat scan: --cert and --key go together")
		return 2
	}
	for _, t := range targets {
		if _, err := scan.ParseTarget(t); err != nil {
			fmt.Fprintln(os.Stderr, "moat scan:", err)
			return 2
		}
	}
	if o.MaxMessages <= 0 || o.MaxBytes <= 0 {
		fmt.Fprintln(os.Stderr, "moat scan: --max-messages and --max-bytes must be positive")
		return 2
	}
	if o.SignedTopic != "" && !o.Intrusive {
		fmt.Fprintln(os.Stderr, "moat scan: --signed-topic publishes unsigned messages: it needs --intrusive")
		return 2
	}
	if *quiet && *progress {
		fmt.Fprintln(os.Stderr, "moat scan: --quiet and --progress contradict each other")
		return 2
	}
	var pl *scan.ProgressLine
	if tty := isTerminal(os.Stderr); *progress || (tty && !*quiet) {
		pl = scan.NewProgressLine(os.Stderr, tty)
		o.Progress = pl.Show
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := scan.Run(ctx, targets, o)
	if pl != nil {
		pl.Clear()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat scan:", err)
		return 2
	}
	rep := &doctor.Report{Tool: "moat scan", Version: version, Subject: strings.Join(targets, " "),
		Findings: res.Findings, Notes: res.Notes}
	for _, f := range res.Failed {
		rep.Notes = append(rep.Notes, "not scanned: "+f)
	}
	if format == "text" && !*details {
		code = writeTable(os.Stdout, rep, minSev, failOn)
	} else {
		code = writeReport(os.Stdout, rep, format, "", minSev, failOn, func(doctor.Finding) bool { return true })
	}
	if len(res.Failed) > 0 || ctx.Err() != nil {
		return 2
	}
	return code
}

// writeTable prints r as moat scan's table and returns the exit status,
// as writeReport does for the other formats.
func writeTable(w io.Writer, r *doctor.Report, minSev, failOn doctor.Severity) int {
	code := 0
	if len(doctor.AtLeast(r.Findings, failOn)) > 0 {
		code = 1
	}
	r.Summary = doctor.Summarize(r.Findings)
	r.Findings = doctor.AtLeast(r.Findings, minSev)
	if err := scan.WriteTable(w, r); err != nil {
		fmt.Fprintln(os.Stderr, "moat:", err)
		return 2
	}
	return code
}

// isTerminal reports whether f is a character device (a terminal), so
// that CI logs and redirected output get no progress line.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readSecret replaces *dst with the first line of the file at *path, when
// a path is given; a password flag and a file together are refused.
func readSecret(path *string, dst *string) error {
	if *path == "" {
		return nil
	}
	if *dst != "" {
		return errors.New("give the password or the file, not both")
	}
	f, err := os.Open(*path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	*dst = strings.TrimRight(line, "\r")
	if *dst == "" {
		return errors.New("empty password")
	}
	return nil
}
