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
to test. docs/doctor.md lists every check, what it sends and its ID.

A TARGET is HOST:PORT (TLS or plain text is detected) or a URL:
mqtt://HOST[:1883], mqtts://HOST[:8883], ws://HOST[:80]/PATH,
wss://HOST[:443]/PATH. Targets outside loopback and private ranges are
refused without --allow-public.

By default nothing is written to the broker. --publish allows writes to
the scanner's own random topics (moat-scan/<id>/..., and one under $SYS);
a retained test message is removed again. --intrusive adds default
credentials, a brute-force lockout probe (at most 10 failed logins: a
broker with a defence may ban the scanning address), client-id takeover
and session hijack (with --username2), shared-subscription bypass, packet
size enforcement, PROXY header spoofing and a few malformed packets.

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
	fl.StringVar(&o.Username2, "username2", "", "--intrusive: a second account, for client-id takeover and session hijack")
	pw2File := fl.String("password2-file", "", "file holding --username2's password (first line)")
	fl.StringVar(&o.Password2, "password2", "", "--username2's password (prefer --password2-file)")
	fl.StringVar(&o.CAFile, "cafile", "", "CA certificates (PEM) that verify the broker; default the system roots")
	fl.StringVar(&o.ServerName, "server-name", "", "name the broker's certificate must hold; default the target host")
	fl.StringVar(&o.CertFile, "cert", "", "client certificate (PEM) for brokers that require mutual TLS")
	fl.StringVar(&o.KeyFile, "key", "", "the client certificate's key (PEM)")
	fl.BoolVar(&o.AllowPublic, "allow-public", false, "scan targets outside loopback and private address ranges")
	fl.BoolVar(&o.Publish, "publish", false, "allow writes to the scanner's own topics (moat-scan/<id>/...)")
	fl.BoolVar(&o.Intrusive, "intrusive", false, "add the opt-in probes (implies --publish)")
	fl.BoolVar(&o.ShowPayloads, "show-payloads", false, "print the broker version read from $SYS")
	fl.DurationVar(&o.ProbeTimeout, "timeout", scan.DefaultProbeTimeout, "bound on each connect, handshake, read and write")
	fl.DurationVar(&o.Listen, "listen", scan.DefaultListen, "how long a subscription collects messages")
	fl.DurationVar(&o.IdleWait, "idle-wait", scan.DefaultIdleWait, "how long to wait for the broker to drop a silent connection (negative: skip)")
	fl.DurationVar(&o.MaxDuration, "max-duration", scan.DefaultMaxDuration, "bound on the whole run")
	fl.IntVar(&o.MaxMessages, "max-messages", scan.DefaultMaxMessages, "messages read per subscription at most")
	fl.Int64Var(&o.MaxBytes, "max-bytes", scan.DefaultMaxBytes, "payload bytes read per subscription at most")
	quiet := fl.Bool("quiet", false, "no progress lines on standard error")
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
	if !*quiet {
		o.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := scan.Run(ctx, targets, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat scan:", err)
		return 2
	}
	rep := &doctor.Report{Tool: "moat scan", Version: version, Subject: strings.Join(targets, " "),
		Findings: res.Findings, Notes: res.Notes}
	for _, f := range res.Failed {
		rep.Notes = append(rep.Notes, "not scanned: "+f)
	}
	code = writeReport(os.Stdout, rep, format, "", minSev, failOn, func(doctor.Finding) bool { return true })
	if len(res.Failed) > 0 || ctx.Err() != nil {
		return 2
	}
	return code
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
