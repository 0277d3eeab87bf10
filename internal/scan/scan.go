// Package scan is `moat scan`: a bounded, safe-by-default black-box audit
// of a running MQTT broker (Moat, Mosquitto, EMQX, ...) over the network.
//
// Safe means:
//   - no brute force and no flood: a handful of connections, one after the
//     other (the pre-CONNECT idle probe runs beside them);
//   - no write unless Options.Publish or Options.Intrusive: then only to
//     random topics the scanner owns, under moat-scan/<id>/ (and one
//     $SYS/moat-scan/<id> probe), and a retained test message is removed
//     again; the one exception is Options.SignedTopic, a topic the
//     operator names for the signed-topic probe;
//   - payloads are never kept or printed, only topic names, counts and
//     sizes (the broker version from $SYS only with Options.ShowPayloads);
//   - every probe is bounded in time (Options.ProbeTimeout, Listen,
//     IdleWait), messages (MaxMessages), bytes (MaxBytes, and a 1 MiB
//     packet limit) and attempts; the whole run by MaxDuration;
//   - targets outside loopback and private ranges are refused unless
//     Options.AllowPublic.
//
// Findings use the IDs of internal/doctor, shared with moat doctor where a
// configured setting and an observed behaviour match.
package scan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/topic"
)

// Defaults of Options.
const (
	DefaultProbeTimeout = 5 * time.Second
	DefaultListen       = 2 * time.Second
	DefaultIdleWait     = 31 * time.Second
	DefaultMaxDuration  = 3 * time.Minute
	DefaultMaxMessages  = 1000
	DefaultMaxBytes     = 4 << 20
	// MaxPacket is the largest packet the scanner reads (and advertises
	// as its MQTT 5 Maximum Packet Size); a larger one ends the probe.
	MaxPacket = 1 << 20
	// MaxTargets bounds one run.
	MaxTargets = 64
)

// Options configure a scan. The zero value scans with the defaults,
// anonymously, without writing.
type Options struct {
	// Username and Password are an ordinary account the operator
	// supplies: the scan uses it when anonymous and random credentials
	// are refused, and reports what it may read and write. Use a
	// low-privilege account: an administrator may rightly read "#".
	Username, Password string
	// Username2 and Password2 are a second account, for the intrusive
	// client-id takeover and session hijack probes. The will,
	// shared-subscription and signed-topic probes use it to watch and
	// publish: give it read and write on moat-scan/# (and read on
	// SignedTopic) so that they can tell "enforced" from "not seen".
	Username2, Password2 string
	// CAFile verifies the broker's certificate instead of the system
	// roots; ServerName is the name verified (default: the target host).
	CAFile, ServerName string
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile, KeyFile string
	// AllowPublic scans targets outside loopback and private ranges.
	AllowPublic bool
	// Publish allows writes to the scanner's own topics: unauthorized
	// publish, retain (removed again) and $SYS write probes.
	Publish bool
	// Intrusive adds the opt-in probes (and implies Publish): default
	// credentials (a tiny list), a brute-force lockout probe (at most 10
	// failures with a user that does not exist), shared-subscription and
	// will-message ACL bypass, client-id takeover and session hijack
	// (with both accounts), maximum packet size enforcement, PROXY
	// protocol spoofing, a small malformed-input set and, with
	// SignedTopic, signed-topic enforcement.
	Intrusive bool
	// SignedTopic is a topic the operator says must be signed (no
	// wildcard): with Intrusive, the scanner publishes one unsigned
	// message and one with a garbage signature there, and reports a
	// broker that accepts or delivers either. Use a test topic under the
	// same signed rule as the real commands: a broker that does not
	// enforce signatures delivers the probes to whoever listens.
	SignedTopic string
	// ShowPayloads prints the broker version read from $SYS.
	ShowPayloads bool

	ProbeTimeout time.Duration // each connect, handshake, read or write
	Listen       time.Duration // how long a subscription collects messages
	// IdleWait is how long the idle probe waits for the broker to drop a
	// connection that sends nothing; 0 means DefaultIdleWait, negative
	// skips the probe.
	IdleWait    time.Duration
	MaxDuration time.Duration // the whole run
	MaxMessages int           // per subscription
	MaxBytes    int64         // per subscription

	// Progress, when set, is called at each step (from the goroutine
	// that called Run).
	Progress func(Step)
	// Resolver resolves host names; nil is net.DefaultResolver.
	Resolver *net.Resolver
}

func (o *Options) applyDefaults() {
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	if o.Listen <= 0 {
		o.Listen = DefaultListen
	}
	if o.IdleWait == 0 {
		o.IdleWait = DefaultIdleWait
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	if o.MaxMessages <= 0 {
		o.MaxMessages = DefaultMaxMessages
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Intrusive {
		o.Publish = true
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
}

// Result is what a run found.
type Result struct {
	Findings []doctor.Finding
	// Notes say what was skipped or could not be decided.
	Notes []string
	// Failed lists targets that could not be scanned, with the reason.
	Failed []string
}

// Target is one parsed target: host:port, or a URL with scheme mqtt, tcp,
// mqtts, tls, ws or wss.
type Target struct {
	Raw    string
	Scheme string // "" (detect TLS or plain), "tcp", "tls", "ws" or "wss"
	Host   string
	Port   int
	Path   string // ws and wss
	addr   netip.AddrPort
}

// String names the target as findings show it.
func (t *Target) String() string {
	hp := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	switch t.Scheme {
	case "ws", "wss":
		return t.Scheme + "://" + hp + t.Path
	case "tls":
		return "mqtts://" + hp
	case "tcp":
		return "mqtt://" + hp
	}
	return hp
}

// ParseTarget reads "host:port" or a URL: mqtt:// and tcp:// (plain,
// default port 1883), mqtts:// and tls:// (default 8883), ws:// (80) and
// wss:// (443) with a path (default /mqtt).
func ParseTarget(s string) (*Target, error) {
	if s == "" || len(s) > 1024 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("invalid target %q: want HOST:PORT or a URL such as mqtts://host:8883", doctor.Sanitize(s, 80))
	}
	t := &Target{Raw: s}
	if !strings.Contains(s, "://") {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return nil, fmt.Errorf("invalid target %q: want HOST:PORT (e.g. 127.0.0.1:1883, [::1]:8883) or a URL", s)
		}
		t.Host = host
		if t.Port, err = parsePort(port); err != nil {
			return nil, fmt.Errorf("target %q: %w", s, err)
		}
		return t, checkHost(t)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid target %q: %v", s, err)
	}
	defaults := map[string]struct {
		scheme string
		port   int
	}{"mqtt": {"tcp", 1883}, "tcp": {"tcp", 1883}, "mqtts": {"tls", 8883}, "tls": {"tls", 8883},
		"ssl": {"tls", 8883}, "ws": {"ws", 80}, "wss": {"wss", 443}}
	d, ok := defaults[strings.ToLower(u.Scheme)]
	if !ok {
		return nil, fmt.Errorf("target %q: unsupported scheme %q (want mqtt, mqtts, ws or wss)", s, u.Scheme)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("target %q: credentials, query or fragment in the URL; pass credentials with --username", s)
	}
	t.Scheme, t.Host, t.Port = d.scheme, u.Hostname(), d.port
	if p := u.Port(); p != "" {
		if t.Port, err = parsePort(p); err != nil {
			return nil, fmt.Errorf("target %q: %w", s, err)
		}
	}
	switch {
	case t.Scheme == "ws" || t.Scheme == "wss":
		t.Path = u.EscapedPath()
		if t.Path == "" {
			t.Path = "/mqtt"
		}
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("target %q: a path only applies to ws:// and wss://", s)
	}
	return t, checkHost(t)
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q: want 1 to 65535", p)
	}
	return n, nil
}

func checkHost(t *Target) error {
	if t.Host == "" {
		return fmt.Errorf("target %q: no host", t.Raw)
	}
	if a, err := netip.ParseAddr(t.Host); err == nil && (a.IsUnspecified() || a.IsMulticast()) {
		return fmt.Errorf("target %q: %s is not a host address", t.Raw, a)
	}
	return nil
}

// allowedAddr reports whether a may be scanned without AllowPublic:
// loopback, private (RFC 1918, unique local) or link-local.
func allowedAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}

// Run scans each target in turn and returns every finding, sorted. It
// returns an error, before any probe, when a target is invalid, does not
// resolve, or resolves outside loopback and private ranges without
// Options.AllowPublic. A target that does not answer is listed in
// Result.Failed.
func Run(ctx context.Context, targets []string, o Options) (*Result, error) {
	o.applyDefaults()
	if len(targets) == 0 {
		return nil, errors.New("no target: give HOST:PORT or a URL")
	}
	if len(targets) > MaxTargets {
		return nil, fmt.Errorf("%d targets: at most %d per run", len(targets), MaxTargets)
	}
	if o.SignedTopic != "" {
		if !o.Intrusive {
			return nil, errors.New("the signed-topic probe is intrusive: it needs Intrusive")
		}
		if err := topic.ValidateName(o.SignedTopic, topic.Limits{}); err != nil || strings.HasPrefix(o.SignedTopic, "$") {
			return nil, fmt.Errorf("signed topic %q: want a topic name without wildcards, not starting with $", doctor.Sanitize(o.SignedTopic, 80))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.MaxDuration)
	defer cancel()
	var parsed []*Target
	for _, s := range targets {
		t, err := ParseTarget(s)
		if err != nil {
			return nil, err
		}
		if err := resolve(ctx, t, o); err != nil {
			return nil, err
		}
		parsed = append(parsed, t)
	}
	s := &scanner{o: o, res: &Result{}}
	var raw [4]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	s.id = hex.EncodeToString(raw[:])
	for _, t := range parsed {
		if ctx.Err() != nil {
			s.res.Failed = append(s.res.Failed, t.String()+": not scanned: the run reached its time limit")
			continue
		}
		s.target(ctx, t)
	}
	doctor.Sort(s.res.Findings)
	return s.res, nil
}

// resolve pins t to one address, refusing public ones unless allowed.
// Every address of the name must be allowed, so that a name cannot point
// the scanner at a public host through one of several records.
func resolve(ctx context.Context, t *Target, o Options) error {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(t.Host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		rctx, cancel := context.WithTimeout(ctx, o.ProbeTimeout)
		defer cancel()
		if addrs, err = o.Resolver.LookupNetIP(rctx, "ip", t.Host); err != nil || len(addrs) == 0 {
			return fmt.Errorf("target %s: cannot resolve %s: %v", t, t.Host, err)
		}
	}
	for _, a := range addrs {
		if !o.AllowPublic && !allowedAddr(a) {
			return fmt.Errorf("target %s: %s is a public address; scan only brokers you are authorized to test, "+
				"and pass --allow-public to scan outside loopback and private ranges", t, a.Unmap())
		}
	}
	t.addr = netip.AddrPortFrom(addrs[0].Unmap(), uint16(t.Port))
	return nil
}

// scanner is one run.
type scanner struct {
	o   Options
	id  string // random, names the scanner's topics and client ids
	mu  sync.Mutex
	res *Result
	n   int // client ids handed out
	// steps is the plan of the target being scanned, for Progress.
	steps []string
}

// add records a finding about t at the catalog's severity, or at sev.
func (s *scanner) add(t *Target, id string, sev *doctor.Severity, f doctor.Finding) {
	f.Target = t.String()
	if sev != nil {
		f = doctor.Complete(id, *sev, f)
	} else {
		f = doctor.New(id, f)
	}
	s.mu.Lock()
	s.res.Findings = append(s.res.Findings, f)
	s.mu.Unlock()
}

// note records a remark about t.
func (s *scanner) note(t *Target, format string, args ...any) {
	s.mu.Lock()
	s.res.Notes = append(s.res.Notes, t.String()+": "+fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// plan lists the steps of a target reached over tr, in the order they
// run, for Progress. A step that turns out not to apply is skipped.
func (s *scanner) plan(tr transport) []string {
	var p []string
	if tr.tls {
		p = append(p, stepTLSVersions, stepWeakSuites, stepCertificate)
	}
	if tr.ws {
		p = append(p, stepOrigin)
	}
	p = append(p, stepAuth, stepMQTT31, stepReadHash, stepReadSys)
	if s.o.Publish {
		p = append(p, stepPublish, stepRetain, stepSysWrite)
	}
	if s.o.Intrusive {
		p = append(p, stepShared, stepWill)
		if s.o.SignedTopic != "" {
			p = append(p, stepSigned)
		}
		p = append(p, stepOversize, stepTakeover, stepMalformed, stepProxy, stepDefaultCreds, stepBruteForce)
	}
	if s.o.IdleWait > 0 && !tr.ws {
		p = append(p, stepIdle)
	}
	return p
}

// Step names, as the progress line shows them.
const (
	stepDetect       = "detecting the transport"
	stepTLSVersions  = "tls versions"
	stepWeakSuites   = "weak cipher suites"
	stepCertificate  = "certificate"
	stepOrigin       = "websocket origin"
	stepAuth         = "authentication"
	stepMQTT31       = "mqtt 3.1"
	stepReadHash     = "subscribe #"
	stepReadSys      = "subscribe $SYS/#"
	stepPublish      = "publish"
	stepRetain       = "retain"
	stepSysWrite     = "$SYS write"
	stepShared       = "shared subscription"
	stepWill         = "will message"
	stepSigned       = "signed topic"
	stepOversize     = "packet size"
	stepTakeover     = "client-id takeover"
	stepMalformed    = "malformed input"
	stepProxy        = "proxy header"
	stepDefaultCreds = "default credentials"
	stepBruteForce   = "brute-force lockout"
	stepIdle         = "idle connection"
)

// step reports the step name of t to Options.Progress.
func (s *scanner) step(t *Target, name string) {
	if s.o.Progress == nil {
		return
	}
	st := Step{Target: t.String(), Name: name}
	if i := slices.Index(s.steps, name); i >= 0 {
		st.N, st.Total = i+1, len(s.steps)
	}
	s.o.Progress(st)
}

// clientID returns a fresh client id: moat-scan-<id>-<n>, at most 23
// bytes so that MQTT 3.1 accepts it.
func (s *scanner) clientID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return fmt.Sprintf("moat-scan-%s-%d", s.id, s.n)
}

// topic returns a topic under the scanner's own prefix.
func (s *scanner) topic(leaf string) string { return "moat-scan/" + s.id + "/" + leaf }

func sevp(v doctor.Severity) *doctor.Severity { return &v }
