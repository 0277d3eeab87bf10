package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed"
	"github.com/moatmq/moat/internal/smallfile"
	"github.com/moatmq/moat/pkg/mqttsig"
)

const subUsage = `Usage: moat sub -t FILTER... [--verify (--keys FILE | --trust-key FILE...)] [flags]

Subscribe with Moat's own MQTT client and print each message: the payload
(with -v, the topic first). With --verify, check every message against a
key registry (the broker's format, from the operator, not from the broker)
and print one line per message:

  verified topic=T identity=I kid=K alg=A epoch=E seq=S issued=TIME age=D retained=B payload="..."
  FAILED topic=T reason=R [identity=I kid=K ...] payload="..."

Reasons: missing (unsigned), malformed, unknown_key, identity,
bad_signature, wrong_topic, retain_mismatch, stale, future, expired,
replayed, too_old, ... (docs/signed-topics.md). Nothing that fails is
printed as verified. With --count N, moat sub exits after N messages, and
with status 1 if any failed; it exits 1 as well when --timeout passes.

Flags:
`

// subFlags are moat sub's own flags.
type subFlags struct {
	topics     multiFlag
	trustKeys  multiFlag
	qos        int
	count      int
	verbose    bool
	verify     bool
	keysFile   string
	operator   string
	maxAge     time.Duration
	timeout    time.Duration
	noRetained bool
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func subCmd(args []string) int {
	fl := flag.NewFlagSet("sub", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprint(fl.Output(), subUsage); fl.PrintDefaults() }
	var cf clientFlags
	var sf subFlags
	addClientFlags(fl, &cf)
	fl.Var(&sf.topics, "t", "topic filter (repeatable; required)")
	fl.IntVar(&sf.qos, "q", 0, "QoS of the subscriptions: 0, 1 or 2")
	fl.IntVar(&sf.count, "count", 0, "exit after this many messages (0: until interrupted)")
	fl.IntVar(&sf.count, "C", 0, "same as --count")
	fl.BoolVar(&sf.verbose, "v", false, "print the topic before the payload (without --verify)")
	fl.BoolVar(&sf.verify, "verify", false, "verify every message's signature")
	fl.StringVar(&sf.keysFile, "keys", "", "--verify: key registry file (JSON, the broker's format)")
	fl.Var(&sf.trustKeys, "trust-key", "--verify: a registry entry file as moat keys export prints it (repeatable)")
	fl.StringVar(&sf.operator, "operator-key", "", "--verify: trust only the keys whose binding this operator public key signed")
	fl.DurationVar(&sf.maxAge, "max-age", mqttsig.DefaultMaxAge, "--verify: refuse messages issued longer ago (negative: any age)")
	fl.DurationVar(&sf.timeout, "timeout", 0, "give up after this long (0: never)")
	fl.BoolVar(&sf.noRetained, "R", false, "do not print retained messages sent on subscribing (stale state)")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "moat sub: "+format+"\n\n", a...)
		fl.Usage()
		return 2
	}
	switch {
	case fl.NArg() > 0:
		return usageErr("unexpected argument %q", fl.Arg(0))
	case len(sf.topics) == 0:
		return usageErr("-t is required")
	case sf.qos < 0 || sf.qos > 2:
		return usageErr("-q must be 0, 1 or 2")
	case sf.count < 0:
		return usageErr("--count must not be negative")
	case sf.verify && (sf.keysFile == "") == (len(sf.trustKeys) == 0):
		return usageErr("--verify needs --keys or --trust-key (not both)")
	case !sf.verify && (sf.keysFile != "" || len(sf.trustKeys) > 0):
		return usageErr("--keys and --trust-key go with --verify")
	}
	if _, err := cf.mqttVersion(); err != nil {
		return usageErr("%v", err)
	}
	var ver *mqttsig.Verifier
	if sf.verify {
		keys, err := loadTrust(sf.keysFile, sf.trustKeys, sf.operator)
		if err != nil {
			return subFail(err)
		}
		if ver, err = mqttsig.NewVerifier(keys, mqttsig.VerifierConfig{MaxAge: sf.maxAge}); err != nil {
			return subFail(err)
		}
	}
	ctx, stop := signalContext()
	defer stop()
	if sf.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sf.timeout)
		defer cancel()
	}
	mc, err := cf.dial(ctx)
	if err != nil {
		return subFail(err)
	}
	defer mc.close()
	if err := mc.subscribe(sf.topics, byte(sf.qos)); err != nil {
		return subFail(err)
	}
	fmt.Fprintf(os.Stderr, "moat sub: subscribed to %s\n", strings.Join(sf.topics, ", "))
	return runSub(ctx, mc, &sf, ver, time.Duration(cf.keepAlive)*time.Second/2)
}

func subFail(err error) int {
	fmt.Fprintf(os.Stderr, "moat sub: %v\n", err)
	return 1
}

// signalContext is cancelled on SIGINT and SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// loadTrust builds the trusted registry from a registry file or from
// entry files, keeping only the bindings an operator key signed when one
// is given.
func loadTrust(keysFile string, entries []string, operator string) (*mqttsig.Keys, error) {
	keys, err := loadKeysOrEntries(keysFile, entries)
	if err != nil || operator == "" {
		return keys, err
	}
	op, err := readPublicKey(operator)
	if err != nil {
		return nil, err
	}
	keys, dropped, err := keys.TrustOperator(op)
	if err != nil {
		return nil, err
	}
	for _, kid := range dropped {
		fmt.Fprintf(os.Stderr, "moat sub: key %q is not bound by the operator key: not trusted\n", kid)
	}
	return keys, nil
}

func loadKeysOrEntries(keysFile string, entries []string) (*mqttsig.Keys, error) {
	if keysFile != "" {
		return mqttsig.LoadKeys(keysFile)
	}
	var b strings.Builder
	b.WriteString(`{"keys": [`)
	for i, path := range entries {
		data, err := smallfile.Read(path, signed.MaxKeyFileSize)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(data)
	}
	b.WriteString("]}")
	k, err := mqttsig.ParseKeys([]byte(b.String()), ".")
	if err != nil {
		return nil, fmt.Errorf("--trust-key %s: %w", strings.Join(entries, ", "), err)
	}
	return k, nil
}

// subscribe subscribes to filters and checks the SUBACK.
func (mc *mqttClient) subscribe(filters []string, qos byte) error {
	p := packet.Subscribe{PacketID: 1}
	for _, f := range filters {
		p.Subscriptions = append(p.Subscriptions, packet.Subscription{Filter: f, QoS: qos})
	}
	if err := mc.send(packet.AppendSubscribe(nil, &p, mc.v)); err != nil {
		return err
	}
	pk, err := mc.read(time.Now().Add(clientTimeout))
	if err != nil {
		return fmt.Errorf("reading SUBACK: %w", err)
	}
	ack, ok := pk.(*packet.Suback)
	if !ok || ack.PacketID != 1 || len(ack.ReasonCodes) != len(filters) {
		return errors.New("no SUBACK answering the SUBSCRIBE")
	}
	for i, code := range ack.ReasonCodes {
		if code.IsError() {
			return fmt.Errorf("subscription to %q refused: %v", filters[i], code)
		}
	}
	return nil
}

// runSub reads messages until --count, the context's end or an error.
func runSub(ctx context.Context, mc *mqttClient, sf *subFlags, ver *mqttsig.Verifier, ping time.Duration) int {
	stopPing := make(chan struct{})
	defer close(stopPing)
	go mc.keepAlive(ping, stopPing)
	go func() { <-ctx.Done(); mc.nc.Close() }() // unblocks the read
	seen, failed := 0, 0
	qos2 := map[uint16]bool{} // QoS 2 packet ids received and not yet released
	for sf.count == 0 || seen < sf.count {
		// With keep alive, a PINGRESP comes every ping interval at least:
		// silence for longer means the broker or the path is gone.
		var deadline time.Time
		if ping > 0 {
			deadline = time.Now().Add(2*ping + clientTimeout)
		}
		pk, err := mc.read(deadline)
		if err != nil {
			if ctx.Err() != nil {
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					fmt.Fprintf(os.Stderr, "moat sub: timed out after %d messages\n", seen)
					return 1
				}
				break
			}
			return subFail(err)
		}
		var p *packet.Publish
		switch x := pk.(type) {
		case *packet.Publish:
			p = x
		case *packet.Pubrel:
			delete(qos2, x.PacketID)
			if err := mc.send(packet.AppendPubcomp(nil, x.PacketID, packet.Success, nil, mc.v)); err != nil {
				return subFail(err)
			}
			continue
		case *packet.Disconnect:
			return subFail(fmt.Errorf("the broker disconnected: %v", x.ReasonCode))
		default:
			continue
		}
		dup := false
		switch p.QoS {
		case 1:
			err = mc.send(packet.AppendPuback(nil, p.PacketID, packet.Success, nil, mc.v))
		case 2:
			dup = qos2[p.PacketID]
			qos2[p.PacketID] = true
			err = mc.send(packet.AppendPubrec(nil, p.PacketID, packet.Success, nil, mc.v))
		}
		if err != nil {
			return subFail(err)
		}
		if dup || (sf.noRetained && p.Retain) {
			continue
		}
		seen++
		if ver == nil {
			if sf.verbose {
				fmt.Printf("%s %s\n", p.Topic, p.Payload)
			} else {
				fmt.Printf("%s\n", p.Payload)
			}
			continue
		}
		if !printVerified(ver, p) {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "moat sub: %d of %d messages failed verification\n", failed, seen)
		return 1
	}
	return 0
}

// printVerified verifies p and prints one line about it; it reports
// whether p verified.
func printVerified(ver *mqttsig.Verifier, p *packet.Publish) bool {
	m := receivedMessage(p)
	var c *mqttsig.Claims
	var err error
	if m == nil {
		err = &mqttsig.VerifyError{Reason: mqttsig.ReasonMalformed} // several moat-sig properties
	} else {
		c, err = ver.Verify(m)
	}
	var b strings.Builder
	if err == nil {
		fmt.Fprintf(&b, "verified topic=%q", p.Topic)
	} else {
		var ve *mqttsig.VerifyError
		if !errors.As(err, &ve) {
			ve = &mqttsig.VerifyError{Reason: mqttsig.ReasonMalformed}
		}
		fmt.Fprintf(&b, "FAILED topic=%q reason=%s", p.Topic, ve.Reason)
		c = ve.Claims
	}
	payload := p.Payload
	if c != nil {
		fmt.Fprintf(&b, " identity=%q kid=%q alg=%s", c.Identity, c.KeyID, c.Alg)
		if c.Sequence {
			fmt.Fprintf(&b, " epoch=%d seq=%d", c.Epoch, c.Seq)
		} else {
			fmt.Fprintf(&b, " nonce=%x", c.Nonce)
		}
		fmt.Fprintf(&b, " issued=%s age=%s", c.IssuedAt.UTC().Format(time.RFC3339),
			time.Since(c.IssuedAt).Round(time.Second))
		if !c.ExpiresAt.IsZero() {
			fmt.Fprintf(&b, " expires=%s", c.ExpiresAt.UTC().Format(time.RFC3339))
		}
		if c.Envelope {
			b.WriteString(" envelope=true")
		}
		payload = c.Payload
	}
	// The payload is quoted: it comes from the network and must not
	// drive the terminal.
	fmt.Fprintf(&b, " retained=%t payload=%q\n", p.Retain, payload)
	os.Stdout.WriteString(b.String())
	return err == nil
}

// receivedMessage converts p for mqttsig; nil when it carries several
// moat-sig properties.
func receivedMessage(p *packet.Publish) *mqttsig.Message {
	pp := &p.Properties
	sig, _, err := mqttsig.SignatureOf(func(yield func(k, v string) bool) {
		for _, u := range pp.UserProperties {
			if !yield(u.Key, u.Value) {
				return
			}
		}
	})
	if err != nil {
		return nil
	}
	return &mqttsig.Message{Topic: p.Topic, Payload: p.Payload, Retain: p.Retain, Signature: sig,
		Properties: signedProps(pp)}
}
