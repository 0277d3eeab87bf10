package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/moatmq/moat/internal/loadgen"
	"github.com/moatmq/moat/internal/packet"
)

const benchUsage = `Usage: moat bench SCENARIO [flags]

Load a broker (Moat or any other) over sockets, as MQTT clients do, and
report delivered messages per second, loss, duplicates, latency
percentiles and, with --broker-pid, the broker's CPU time per message and
memory. Every payload carries its send time, publisher and sequence
number, so counts are exact: QoS 1 and 2 must lose nothing and QoS 2 must
deliver exactly once, or the run fails (exit status 1).

Scenarios (N is --clients):
%s
Publishers run ahead of their deliveries by at most --window messages
(by default a window that keeps each receiver's backlog under 800
messages, below the usual broker queue of 1000), or at --rate.

Flags:
`

// benchFlags are the options of moat bench besides the scenario.
type benchFlags struct {
	cfg      loadgen.Config
	tlsOpts  loadgen.TLSOptions
	curves   string
	useTLS   bool
	mqtt     string
	qos      int
	password string
	passFile string
	jsonOut  bool
	progress bool
}

// benchCmd runs 'moat bench'. It returns 0 when the run kept every
// guarantee, 1 when it failed or could not run, 2 on a usage error.
func benchCmd(args []string) int {
	var o benchFlags
	fl := newBenchFlags(&o)
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(os.Stderr, "moat bench: give one scenario:", loadgen.ScenarioNames())
		return 2
	}
	o.cfg.Scenario = loadgen.Scenario(pos[0])
	cfg, err := o.config()
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat bench:", err)
		return 1
	}
	if o.jsonOut {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteText(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat bench:", err)
		return 1
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// newBenchFlags declares the flags of moat bench into o.
func newBenchFlags(o *benchFlags) *flag.FlagSet {
	fl := flag.NewFlagSet("moat bench", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	fl.Usage = func() {
		fmt.Fprintf(os.Stderr, benchUsage, scenarioHelp())
		fl.PrintDefaults()
	}
	c := &o.cfg
	fl.StringVar(&c.Addr, "addr", "127.0.0.1:1883", "broker address, host:port")
	fl.StringVar(&o.mqtt, "mqtt", "5", "MQTT version: 3.1.1 or 5")
	fl.IntVar(&c.Clients, "clients", 0, "N of the scenario (default: the scenario's, see above)")
	fl.IntVar(&c.Publishers, "publishers", 1, "shared: publishers")
	fl.IntVar(&o.qos, "qos", 0, "QoS of publishes and subscriptions: 0, 1 or 2")
	fl.DurationVar(&c.SessionExpiry, "session-expiry", 0, "persistent sessions with this expiry (MQTT 3.1.1: clean session off), so that a durable broker stores what it queues")
	fl.IntVar(&c.PayloadSize, "size", loadgen.MinPayload, fmt.Sprintf("payload size in bytes, at least %d", loadgen.MinPayload))
	fl.DurationVar(&c.Duration, "duration", 0, "publishing time, warm storm (connrate) or holding time (idle) (default 10s; idle 2s)")
	fl.DurationVar(&c.Settle, "settle", 0, "idle: leave the broker alone this long before each memory reading, so that it is measured at rest (not counted in the rates)")
	fl.IntVar(&c.Messages, "messages", 0, "messages per publisher instead of --duration")
	fl.Float64Var(&c.Rate, "rate", 0, "total publish rate, msgs/s (default: as fast as the window allows)")
	fl.IntVar(&c.Window, "window", 0, "messages a publisher may run ahead of its deliveries (default: automatic; -1: none)")
	fl.IntVar(&c.Inflight, "inflight", 256, "unacknowledged QoS 1 and 2 publishes per publisher (at most the broker's Receive Maximum)")
	fl.StringVar(&c.Username, "username", "", "user name; %d in it counts the --users")
	fl.StringVar(&o.password, "password", "", "password (visible to other local users: prefer --password-file)")
	fl.StringVar(&o.passFile, "password-file", "", "file whose first line is the password")
	fl.IntVar(&c.Users, "users", 1, "distinct users (with %d in --username); connrate: the cold logins")
	fl.BoolVar(&o.useTLS, "tls", false, "connect over TLS")
	fl.StringVar(&o.tlsOpts.CAFile, "cafile", "", "TLS: CA certificates that verify the broker (default: the system's)")
	fl.StringVar(&o.tlsOpts.CertFile, "cert", "", "TLS: client certificate (PEM)")
	fl.StringVar(&o.tlsOpts.KeyFile, "key", "", "TLS: client certificate's key (PEM)")
	fl.StringVar(&o.tlsOpts.ServerName, "server-name", "", "TLS: name to verify (default: the host of --addr)")
	fl.BoolVar(&o.tlsOpts.InsecureSkipVerify, "insecure-skip-verify", false, "TLS: accept any broker certificate (tests only)")
	fl.BoolVar(&o.tlsOpts.Resume, "tls-resume", false, "TLS: resume sessions with the broker's session tickets (the first handshake is full)")
	fl.StringVar(&o.tlsOpts.MaxVersion, "tls-max-version", "", "TLS: highest version to offer, 1.2 or 1.3 (default 1.3)")
	fl.StringVar(&o.curves, "tls-curves", "", "TLS: key exchange groups to offer, comma-separated: X25519MLKEM768, X25519, P256, P384, P521 (default: Go's)")
	fl.IntVar(&c.SourceSpread, "spread", -1, "local addresses 127.0.0.2.. to spread connections over, to pass per-address limits (-1: 64 when --addr is on 127.0.0.0/8)")
	fl.IntVar(&c.Concurrency, "concurrency", 64, "connections opened at a time while setting up")
	fl.DurationVar(&c.KeepAlive, "keepalive", 60*time.Second, "keep alive sent in CONNECT")
	fl.DurationVar(&c.Drain, "drain", 10*time.Second, "longest wait for the last deliveries")
	fl.StringVar(&c.Topic, "topic", "bench", "first topic level")
	fl.StringVar(&c.ClientIDPrefix, "client-prefix", "", "client id prefix (default: bench-RUNID-)")
	fl.IntVar(&c.BrokerPID, "broker-pid", 0, "broker process to read CPU time and memory of (/proc)")
	fl.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	fl.BoolVar(&o.progress, "progress", false, "print progress to standard error every second")
	return fl
}

// scenarioHelp lists the scenarios for the usage text.
func scenarioHelp() string {
	var b strings.Builder
	for _, s := range loadgen.Scenarios {
		fmt.Fprintf(&b, "  %-9s %s (N: %s, default %d)\n", s.Name, s.Summary, s.Clients, s.DefaultClients)
	}
	return b.String()
}

// config turns the flags into a loadgen configuration.
func (o *benchFlags) config() (loadgen.Config, error) {
	c := o.cfg
	switch o.mqtt {
	case "3.1.1", "4":
		c.Version = packet.V311
	case "5", "5.0":
		c.Version = packet.V5
	default:
		return c, fmt.Errorf("--mqtt %q: want 3.1.1 or 5", o.mqtt)
	}
	if o.qos < 0 || o.qos > 2 {
		return c, fmt.Errorf("--qos %d: want 0, 1 or 2", o.qos)
	}
	c.QoS = byte(o.qos)
	if o.progress {
		c.Progress = func(s string) { fmt.Fprintln(os.Stderr, s) }
	}
	switch {
	case o.password != "" && o.passFile != "":
		return c, errors.New("give --password or --password-file, not both")
	case o.password != "":
		c.Password = []byte(o.password)
	case o.passFile != "":
		pw, err := readPasswordFile(o.passFile)
		if err != nil {
			return c, err
		}
		c.Password = pw
	}
	t := o.tlsOpts
	if o.curves != "" {
		t.Curves = strings.Split(o.curves, ",")
	}
	if !o.useTLS {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify ||
			t.Resume || t.MaxVersion != "" || len(t.Curves) > 0 {
			return c, errors.New("--cafile, --cert, --key, --server-name, --insecure-skip-verify, --tls-resume, --tls-max-version and --tls-curves need --tls")
		}
		return c, nil
	}
	tc, err := t.Config(c.Addr)
	if err != nil {
		return c, fmt.Errorf("TLS: %w", err)
	}
	c.TLS = tc
	return c, nil
}

// readPasswordFile returns the first line of path.
func readPasswordFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("%s: empty password", path)
	}
	return []byte(line), nil
}
