// Package loadgen is Moat's scenario load generator, behind `moat bench`.
// It speaks MQTT through Moat's codec (internal/packet) over sockets like
// any client, and shares no state with the broker: it must never import
// internal/broker or internal/server, so that it measures Moat and other
// brokers (Mosquitto) the same way.
//
// Message scenarios (fan-in, pairs, fan-out, shared subscriptions) stamp
// each payload with the send time, the publisher and a sequence number, so
// that receivers count exactly: distinct deliveries against the expected
// ones (loss), repeats (duplicates, which QoS 2 must never show) and the
// latency, in a bounded log-linear histogram. Connection scenarios hold
// many idle connections (memory per connection) or open and close them as
// fast as they can (connection rate with authentication, cold and warm).
// With the broker's process id, the broker's CPU time and resident memory
// are read from /proc.
//
// Everything is bounded: the number of connections (MaxClients), the
// sequence numbers per publisher (MaxMessages), the latency histogram (a
// fixed array) and the error list.
package loadgen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// Scenario names a load pattern.
type Scenario string

// The scenarios. Config.Clients means a different thing in each; see
// Scenarios.
const (
	FanIn    Scenario = "fanin"    // Clients publishers to one subscriber
	Pairs    Scenario = "pairs"    // Clients publisher/subscriber pairs, one topic each
	FanOut   Scenario = "fanout"   // one publisher to Clients subscribers
	Shared   Scenario = "shared"   // Publishers publishers to Clients consumers of one shared subscription
	Idle     Scenario = "idle"     // Clients idle connections: connection rate, memory per connection
	ConnRate Scenario = "connrate" // Clients workers connecting and disconnecting: cold and warm logins/s
)

// ScenarioInfo describes a scenario for the command's help.
type ScenarioInfo struct {
	Name           Scenario
	Clients        string // what Config.Clients counts
	DefaultClients int
	Summary        string
}

// Scenarios lists every scenario in the order the help shows them.
var Scenarios = []ScenarioInfo{
	{FanIn, "publishers", 10, "N publishers, one topic each, to 1 subscriber of all of them"},
	{Pairs, "pairs", 20, "N publisher/subscriber pairs, one topic per pair"},
	{FanOut, "subscribers", 1000, "1 publisher to N subscribers of its topic"},
	{Shared, "consumers", 4, "--publishers P to N consumers of one shared subscription ($share/GROUP/...)"},
	{Idle, "connections", 10000, "N idle connections: connection rate, broker memory per connection"},
	{ConnRate, "workers", 16, "N workers connecting, authenticating and disconnecting: --users cold logins, then warm ones"},
}

// Bounds on what one run may hold.
const (
	// MaxClients bounds the connections of one run.
	MaxClients = 200_000
	// MaxMessages bounds the messages of one publisher (sequence numbers
	// are tracked exactly up to it).
	MaxMessages = 1 << 28
	// MinPayload is the smallest payload: the send time (8 bytes), the
	// publisher (4) and the sequence number (4).
	MinPayload = 16
	// MaxPayload bounds the payload size.
	MaxPayload = 16 << 20
	// maxErrors bounds the errors kept for the report.
	maxErrors = 20
	// defaultMessageLimit is the per-publisher bound when no message
	// count is given: at a million messages per second, more than a
	// minute.
	defaultMessageLimit = 1 << 26
)

// Config is one run of the generator. The zero value of a field means its
// default, filled by Validate.
type Config struct {
	Scenario Scenario
	// Addr is the broker's host:port. Default 127.0.0.1:1883.
	Addr string
	// Version is the MQTT version: packet.V311 or packet.V5 (default).
	Version packet.Version
	// TLS, when set, makes every connection a TLS connection.
	TLS *tls.Config
	// Username and Password authenticate every client. A "%d" in
	// Username is replaced by the user's number, 0..Users-1, and clients
	// take the users in turn. No Username: no credentials.
	Username string
	Password []byte
	// Users is the number of distinct users (default 1).
	Users int

	// Clients is what the scenario counts (see Scenarios); default the
	// scenario's.
	Clients int
	// Publishers is the number of publishers of the shared scenario
	// (default 1).
	Publishers int
	// QoS of publishes and subscriptions: 0, 1 or 2.
	QoS byte
	// PayloadSize in bytes, at least MinPayload (default MinPayload).
	PayloadSize int
	// Duration of the publishing phase, of the warm connection storm, or
	// of holding idle connections. Default 10 s (idle: 2 s).
	Duration time.Duration
	// Messages per publisher; 0 publishes for Duration.
	Messages int
	// Rate is the total publish rate in messages per second; 0 publishes
	// as fast as the window allows.
	Rate float64
	// Window is how far a publisher may run ahead of its deliveries, in
	// messages; 0 picks a window that keeps each receiver's backlog under
	// the brokers' usual queue bound of 1000 messages; negative disables
	// flow control (the broker may then shed messages).
	Window int
	// Inflight bounds a publisher's unacknowledged QoS 1 and 2 messages,
	// further bounded by the broker's Receive Maximum. Default 256.
	Inflight int
	// Topic is the first topic level of every topic. Default "bench".
	Topic string
	// ClientIDPrefix starts every client id. Default "bench-" and a random
	// run id.
	ClientIDPrefix string
	// KeepAlive sent in CONNECT; idle connections ping at half of it.
	// Default 60 s.
	KeepAlive time.Duration
	// SessionExpiry, when positive, makes every session persistent: MQTT 5
	// clients send it as the Session Expiry Interval (with clean start, so
	// a run starts afresh), MQTT 3.1.1 clients connect with clean session
	// off. A durable broker then stores every QoS 1/2 message it queues.
	SessionExpiry time.Duration
	// Settle, for idle, is how long the broker is left alone before each
	// memory reading (after the warm-up logins, after the first half of
	// the connections, and at least as the holding time), so that a broker
	// that returns the memory of a burst once it is quiet is measured at
	// rest. The pause is not counted in the connection rate or the CPU
	// per connection. Default 0: read at once.
	Settle time.Duration
	// Concurrency is the number of connections opened at a time while
	// setting up. Default 64.
	Concurrency int
	// SourceSpread spreads connections over that many local addresses
	// 127.0.0.2, 127.0.0.3, ... (brokers on an IPv4 loopback address
	// only), to pass the 64k ephemeral ports of one address and a
	// broker's per-address connection limits. 0: the kernel picks the
	// address; negative: automatic (64 on an IPv4 loopback broker,
	// otherwise 0).
	SourceSpread int
	// Drain bounds the wait for the last deliveries after publishing.
	// Default 10 s.
	Drain time.Duration
	// BrokerPID, when set, is the broker process whose CPU time and
	// resident memory are read from /proc.
	BrokerPID int
	// Progress, when set, receives a line per second during the run.
	Progress func(string)
}

// Validate checks c and fills its defaults.
func (c *Config) Validate() error {
	info, ok := scenarioInfo(c.Scenario)
	if !ok {
		return fmt.Errorf("unknown scenario %q (want %s)", c.Scenario, ScenarioNames())
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Addr == "" {
		c.Addr = "127.0.0.1:1883"
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("address %q: %v", c.Addr, err)
	}
	switch c.Version {
	case 0:
		c.Version = packet.V5
	case packet.V311, packet.V5:
	default:
		bad("MQTT version %v: want 3.1.1 or 5", c.Version)
	}
	if c.Username == "" && len(c.Password) > 0 {
		bad("a password needs a user name")
	}
	c.Users = orDefault(c.Users, 1)
	c.Clients = orDefault(c.Clients, info.DefaultClients)
	c.Publishers = orDefault(c.Publishers, 1)
	if c.Publishers != 1 && c.Scenario != Shared {
		bad("--publishers is for the shared scenario only")
	}
	if c.Clients < 1 || c.Users < 1 || c.Publishers < 1 || c.Clients+c.Publishers > MaxClients {
		bad("clients, publishers and users must be at least 1, and at most %d connections in all", MaxClients)
	}
	if c.QoS > 2 {
		bad("QoS %d: want 0, 1 or 2", c.QoS)
	}
	c.PayloadSize = orDefault(c.PayloadSize, MinPayload)
	if c.PayloadSize < MinPayload || c.PayloadSize > MaxPayload {
		bad("payload size %d: want %d..%d bytes", c.PayloadSize, MinPayload, MaxPayload)
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
		if c.Scenario == Idle {
			c.Duration = 2 * time.Second
		}
	}
	if c.Duration < 0 || c.Messages < 0 || c.Messages > MaxMessages || c.Rate < 0 {
		bad("duration, messages (at most %d) and rate must not be negative", MaxMessages)
	}
	c.Inflight = orDefault(c.Inflight, 256)
	if c.Inflight < 1 || c.Inflight > 65535 {
		bad("inflight %d: want 1..65535", c.Inflight)
	}
	if c.Topic == "" {
		c.Topic = "bench"
	}
	if strings.ContainsAny(c.Topic, "+#") || strings.HasPrefix(c.Topic, "$") {
		bad("topic %q: no wildcards, no leading $", c.Topic)
	}
	c.KeepAlive = orDefault(c.KeepAlive, 60*time.Second)
	if c.SessionExpiry < 0 {
		bad("session expiry %v: want 0 (clean sessions) or more", c.SessionExpiry)
	}
	if c.KeepAlive < time.Second || c.KeepAlive > 65535*time.Second {
		bad("keep alive %v: want 1s..65535s", c.KeepAlive)
	}
	c.Concurrency = orDefault(c.Concurrency, 64)
	if c.Concurrency < 1 || c.Concurrency > 10_000 {
		bad("concurrency %d: want 1..10000", c.Concurrency)
	}
	c.Drain = orDefault(c.Drain, 10*time.Second)
	loopback := isLoopback4(c.Addr)
	switch {
	case c.SourceSpread < 0 && loopback:
		c.SourceSpread = 64
	case c.SourceSpread < 0:
		c.SourceSpread = 0
	case c.SourceSpread > 0 && !loopback:
		bad("source spread needs a broker on an IPv4 loopback address (127.x.x.x), not %q", c.Addr)
	case c.SourceSpread > 1<<20:
		bad("source spread %d: at most %d addresses", c.SourceSpread, 1<<20)
	}
	return errors.Join(errs...)
}

// isLoopback4 reports whether addr's host is an IPv4 loopback address.
func isLoopback4(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.To4() != nil && ip.IsLoopback()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func scenarioInfo(s Scenario) (ScenarioInfo, bool) {
	i := slices.IndexFunc(Scenarios, func(in ScenarioInfo) bool { return in.Name == s })
	if i < 0 {
		return ScenarioInfo{}, false
	}
	return Scenarios[i], true
}

// ScenarioNames lists the scenario names, comma-separated.
func ScenarioNames() string {
	names := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		names[i] = string(s.Name)
	}
	return strings.Join(names, ", ")
}

// user returns the user name of client i.
func (c *Config) user(i int) string {
	if !strings.Contains(c.Username, "%d") {
		return c.Username
	}
	return strings.ReplaceAll(c.Username, "%d", fmt.Sprint(i%c.Users))
}
