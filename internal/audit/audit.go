// Package audit defines Moat's security event record, the Sink seam that
// the tamper-evident audit log (internal/audit/auditlog) and tests
// implement, and the log's line format.
//
// # Events
//
// The broker, the listeners, the brute-force defence, the configuration
// reloader and the admin API describe what happened as an Event and hand
// it to a Sink. Record must not block: the broker calls it on hot refusal
// paths, so an Event is a small value of strings, an address and a reason
// code, and a sink that cannot keep up drops and counts.
//
// No secrets: an Event never carries a password, a token, a key, an
// authentication payload or a message payload, and Detail is written for
// an operator to read ("method JWT: token expired", "will topic a/b"),
// never a dump of a packet. The log writes fields as given; it cannot tell
// a secret from a name, so callers must not pass one.
//
// # Line format, version 1
//
// The audit log is a file of records, one JSON object per line, each line
// ending with a single "\n". The keys appear in exactly this order, all of
// them in every record:
//
//	v               format version, the number 1
//	seq             record number: 1 for the first record of a chain, then
//	                +1 for every record, across rotated files
//	time            when the event happened, RFC 3339 with nanoseconds, UTC
//	                ("2026-01-02T03:04:05.123456789Z", trailing zeros of the
//	                fraction dropped as Go's time.RFC3339Nano does)
//	kind            the Kind, a stable dotted name ("auth.failure")
//	listener        the listener's name, "" when none applies
//	remote          the peer's address "ip:port" ("[v6]:port"), an address
//	                without a port in audit.suppressed records, "" if unknown
//	client_id       the MQTT client identifier, "" if none yet
//	identity        the authenticated (or claimed) identity, "" if none
//	method          the authentication method, "" when none applies
//	reason          the MQTT reason code as a number (0-255)
//	reason_name     its name ("bad user name or password")
//	detail          free text for an operator; never a secret or a payload
//	count           audit.suppressed: how many events the record stands
//	                for; 0 in every other record
//	suppressed_kind audit.suppressed: the kind of those events, "" when
//	                they were of several or unknown kinds
//	prev            lowercase hex SHA-256 of the previous record's line,
//	                exactly as stored, without its "\n"; 64 zeros ("0000...")
//	                in the first record of a chain
//
// Example (one line, wrapped here):
//
//	{"v":1,"seq":42,"time":"2026-01-02T03:04:05.123456789Z","kind":"auth.failure",
//	"listener":"tls","remote":"203.0.113.7:51234","client_id":"sensor-1",
//	"identity":"alice","method":"password","reason":134,
//	"reason_name":"bad user name or password","detail":"wrong password",
//	"count":0,"suppressed_kind":"","prev":"9f86d081884c7d65..."}
//
// The encoding is canonical and defined here, not by a JSON library:
// strings are UTF-8 (invalid bytes become U+FFFD); '"' and '\' are escaped
// with a backslash; \n, \r and \t use their short escapes; every other
// control character (U+0000-U+001F, U+007F-U+009F) and U+2028, U+2029 are
// written as \u00XX / \u2028 with lowercase hex; everything else is
// written as is. Strings are cut (at a character boundary, with "…") to
// 256 bytes, detail to 1024, so a line stays well under MaxLineSize.
// ParseRecord accepts exactly the lines this encoding produces, so a line
// that parses is byte for byte what a writer wrote for its fields.
//
// A new key, a removed key or a change of encoding makes a new version.
//
// # The chain
//
// Each record's prev is the SHA-256 of the previous line, so altering,
// removing, inserting or reordering a record breaks the chain at the next
// one. The chain continues across rotation: the first record of a new
// file chains to the last record of the file before it. What the chain
// cannot show (an edit to the very last record, records cut from the end,
// or an attacker who rewrites a whole tail and recomputes every hash) and
// the defences for it (a close record, shipping records to syslog or a
// SIEM as they are written) are described in docs/audit.md.
package audit

import (
	"net/netip"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// Kind is the type of a security event. Values are stable: they appear in
// audit files, syslog and metrics labels.
type Kind string

// Event kinds that the broker and its parts record.
const (
	// ConnectionAccepted: a client completed CONNECT and got a session.
	ConnectionAccepted Kind = "connection.accepted"
	// ConnectionRefused: a CONNECT was refused; Reason says why.
	ConnectionRefused Kind = "connection.refused"
	// ClientDisconnected: the server closed a connection with a reason
	// (credential expired, keep-alive timeout, ...).
	ClientDisconnected Kind = "connection.closed"
	// AuthFailure: an authentication attempt failed; Method names the
	// method, Reason and Detail say why.
	AuthFailure Kind = "auth.failure"
	// ACLDenied: the ACL refused a subscribe, publish, delivery, retain or
	// will; Detail names the action and topic.
	ACLDenied Kind = "acl.denied"
	// ProtocolViolation: a malformed or forbidden packet closed the
	// connection (the malformed-packet disconnect).
	ProtocolViolation Kind = "protocol.violation"
	// SessionTakeover: a connection took over a session held by another
	// connection. Older callers also use it, with an error Reason, for a
	// refused takeover; new code records SessionTakeoverRefused.
	SessionTakeover Kind = "session.takeover"
	// SessionTakeoverRefused: a CONNECT tried to take over a session that
	// belongs to another identity and was refused.
	SessionTakeoverRefused Kind = "session.takeover_refused"
	// BanApplied: the brute-force defence or an operator banned an
	// address or a user name; Detail holds the target and the length.
	BanApplied Kind = "ban.applied"
	// BanLifted: a ban was lifted by an operator or expired.
	BanLifted Kind = "ban.lifted"
	// TLSHandshakeFailed: a TLS handshake failed (protocol, cipher,
	// deadline); Detail holds the error.
	TLSHandshakeFailed Kind = "tls.handshake_failed"
	// TLSCertificateProblem: a client certificate was refused (expired,
	// revoked, unknown CA, wrong usage) or a served certificate or CRL
	// could not be loaded.
	TLSCertificateProblem Kind = "tls.certificate_problem"
	// QuotaExceeded: a client went over a quota (connections, sessions,
	// subscriptions, retained messages, queue).
	QuotaExceeded Kind = "limit.quota"
	// RateLimited: a client or address went over a rate (messages, bytes,
	// connections per second).
	RateLimited Kind = "limit.rate"
	// ConfigReloaded: a configuration reload was applied; Detail lists what
	// changed.
	ConfigReloaded Kind = "config.reloaded"
	// ConfigReloadFailed: a reload was refused and the running
	// configuration kept; Detail holds the error.
	ConfigReloadFailed Kind = "config.reload_failed"
	// AdminAction: an operator changed state through the admin API or a
	// command (purge, kick, ban); Identity is the operator.
	AdminAction Kind = "admin.action"
)

// Kinds that only the audit log writes. A Kind starting with "audit." is
// reserved to it: a sink refuses such events from callers.
const (
	// Suppressed stands for events that were not written one by one: Count
	// says how many, SuppressedKind of which kind, Detail why (repeated,
	// rate limit, queue full, syslog, write failed, invalid).
	Suppressed Kind = "audit.suppressed"
	// LogOpened: the log was opened; the chain starts or resumes here.
	LogOpened Kind = "audit.opened"
	// LogClosed: the log was closed cleanly; the last record of a chain
	// whose broker stopped cleanly.
	LogClosed Kind = "audit.closed"
	// LogRecovered: the log was opened over a damaged file (an incomplete
	// or broken last record) or after a write error; Detail says what was
	// found and where the damaged file was moved.
	LogRecovered Kind = "audit.recovered"
)

// Event is one security-relevant record. Detail never holds a secret or a
// payload. Time may be zero: the sink stamps it.
type Event struct {
	Time     time.Time
	Kind     Kind
	Listener string
	Remote   netip.AddrPort
	ClientID string
	Identity string
	// Method is the authentication method ("password", "JWT",
	// "SCRAM-SHA-256", "certificate"), "" when none applies.
	Method string
	Reason packet.ReasonCode
	Detail string
}

// Sink receives events. Record must not block the broker: a sink that
// cannot keep up drops and counts.
type Sink interface {
	Record(e Event)
}

// Discard drops every event; the sink when no audit log is configured.
type Discard struct{}

// Record implements Sink.
func (Discard) Record(Event) {}

var _ Sink = Discard{}
