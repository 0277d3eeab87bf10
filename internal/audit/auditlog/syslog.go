package auditlog

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/audit"
)

// SyslogOptions configure the copy of every record sent to a syslog server
// as an RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME moat PROCID MSGID [meta sequenceId="N"] MSG
//
// PRI is facility*8 + severity (severity by kind: see Severity); TIMESTAMP
// is the record's time in UTC with microseconds; PROCID the broker's pid;
// MSGID the record's kind; sequenceId the record's seq, wrapped to
// 1..2147483647 as RFC 5424 section 7.3.1 asks; MSG the record's JSON line,
// exactly as in the file, so a receiver can check the chain too.
//
// Over "udp" and "unixgram" each message is one datagram; over "tcp" and
// "unix" (a stream socket) messages are framed by octet counting ("LEN SP
// MSG", RFC 6587 section 3.4.1). Sending never blocks the log: messages
// wait in a bounded queue; a message that finds the queue full or the
// connection down is dropped and counted, and the count is written to the
// file as an audit.suppressed record. A failed connection is redialled
// with a backoff of 1 s doubling to 30 s.
type SyslogOptions struct {
	// Network is "udp", "tcp", "unix" or "unixgram".
	Network string
	// Address is host:port, or the socket's path.
	Address string
	// Facility is the facility's name: kern, user, mail, daemon, auth,
	// syslog, lpr, news, uucp, cron, authpriv, ftp, local0...local7.
	// "": local0.
	Facility string
	// Hostname is the HOSTNAME field. "": os.Hostname.
	Hostname string
	// QueueSize bounds the messages waiting to be sent. 0: 1024.
	QueueSize int
}

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// ParseFacility returns the code of a syslog facility's name ("" is
// local0).
func ParseFacility(name string) (int, error) {
	if name == "" {
		return facilities["local0"], nil
	}
	f, ok := facilities[name]
	if !ok {
		return 0, fmt.Errorf("unknown syslog facility %q", name)
	}
	return f, nil
}

// Syslog severities (RFC 5424 section 6.2.1).
const (
	SevError   = 3
	SevWarning = 4
	SevNotice  = 5
	SevInfo    = 6
)

// Severity is the syslog severity of a record of kind k: warning for what
// looks like an attack or a loss of records (auth failure, ACL denial,
// protocol violation, refused takeover, ban applied, certificate problem,
// quota and rate, suppressed), error for a failed reload or a recovered
// log, notice for refusals and operator actions, info for the rest.
func Severity(k audit.Kind) int {
	switch k {
	case audit.ConfigReloadFailed, audit.LogRecovered:
		return SevError
	case audit.AuthFailure, audit.ACLDenied, audit.ProtocolViolation, audit.SessionTakeoverRefused,
		audit.BanApplied, audit.TLSCertificateProblem, audit.QuotaExceeded, audit.RateLimited, audit.Suppressed:
		return SevWarning
	case audit.ConnectionRefused, audit.TLSHandshakeFailed, audit.SessionTakeover, audit.BanLifted,
		audit.ConfigReloaded, audit.AdminAction, audit.ClientDisconnected:
		return SevNotice
	}
	return SevInfo
}

// appendSyslog appends one RFC 5424 message.
func appendSyslog(dst []byte, facility int, host, procid string, m lineMeta, line []byte) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(facility*8+Severity(m.kind)), 10)
	dst = append(dst, ">1 "...)
	dst = m.time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, host, 255)
	dst = append(dst, " moat "...)
	dst = appendHeaderField(dst, procid, 128)
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, string(m.kind), 32)
	dst = append(dst, ` [meta sequenceId="`...)
	dst = strconv.AppendUint(dst, (m.seq-1)%2147483647+1, 10)
	dst = append(dst, `"] `...)
	return append(dst, line...)
}

// appendHeaderField writes s as a header field: printable ASCII without
// spaces, at most n bytes, "-" when empty.
func appendHeaderField(dst []byte, s string, n int) []byte {
	start := len(dst)
	for i := 0; i < len(s) && len(dst)-start < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			dst = append(dst, c)
		}
	}
	if len(dst) == start {
		dst = append(dst, '-')
	}
	return dst
}

// syslogMinBackoff is the first wait before redialling (a variable for
// tests).
var syslogMinBackoff = time.Second

// Backoff and deadlines of the syslog connection.
const (
	syslogMaxBackoff   = 30 * time.Second
	syslogDialTimeout  = 5 * time.Second
	syslogWriteTimeout = 5 * time.Second
	syslogCloseTimeout = 2 * time.Second
)

// syslogSender owns the connection to the syslog server; run is its
// goroutine. send is called by the log's writer.
type syslogSender struct {
	network, addr string
	stream        bool
	facility      int
	host, procid  string
	log           *slog.Logger

	ch      chan []byte
	quit    chan struct{}
	done    chan struct{}
	started bool

	sent, dropped atomic.Uint64
	unreported    atomic.Uint64 // drops not yet written to the file

	// Owned by run.
	conn     net.Conn
	backoff  time.Duration
	nextDial time.Time
	down     bool
}

func newSyslog(o SyslogOptions, log *slog.Logger) (*syslogSender, error) {
	s := &syslogSender{network: o.Network, addr: o.Address, log: log, procid: strconv.Itoa(os.Getpid()),
		quit: make(chan struct{}), done: make(chan struct{})}
	switch o.Network {
	case "udp", "unixgram":
	case "tcp", "unix":
		s.stream = true
	default:
		return nil, fmt.Errorf("audit log: syslog network %q is not udp, tcp, unix or unixgram", o.Network)
	}
	if o.Address == "" {
		return nil, errors.New("audit log: syslog needs an address")
	}
	f, err := ParseFacility(o.Facility)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	s.facility = f
	s.host = o.Hostname
	if s.host == "" {
		s.host, _ = os.Hostname()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	s.ch = make(chan []byte, o.QueueSize)
	return s, nil
}

// send formats a record and queues it, or drops and counts it.
func (s *syslogSender) send(m lineMeta, line []byte) {
	msg := appendSyslog(make([]byte, 0, len(line)+128), s.facility, s.host, s.procid, m, line)
	select {
	case s.ch <- msg:
	default:
		s.drop()
	}
}

func (s *syslogSender) drop() {
	s.dropped.Add(1)
	s.unreported.Add(1)
}

func (s *syslogSender) start() {
	s.started = true
	go s.run()
}

func (s *syslogSender) run() {
	defer close(s.done)
	for {
		select {
		case msg := <-s.ch:
			s.deliver(msg, time.Now().Add(syslogWriteTimeout))
		case <-s.quit:
			s.flush()
			return
		}
	}
}

// flush sends what is queued within syslogCloseTimeout, drops the rest,
// and closes the connection.
func (s *syslogSender) flush() {
	deadline := time.Now().Add(syslogCloseTimeout)
	for {
		select {
		case msg := <-s.ch:
			if time.Now().After(deadline) {
				s.drop()
				continue
			}
			s.deliver(msg, deadline)
			continue
		default:
		}
		break
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// close stops run after it has sent what it can.
func (s *syslogSender) close() {
	if !s.started {
		return
	}
	close(s.quit)
	<-s.done
}

// deliver writes one message, dialling first if needed.
func (s *syslogSender) deliver(msg []byte, deadline time.Time) {
	now := time.Now()
	if s.conn == nil {
		if now.Before(s.nextDial) {
			s.drop()
			return
		}
		c, err := net.DialTimeout(s.network, s.addr, min(syslogDialTimeout, max(deadline.Sub(now), time.Millisecond)))
		if err != nil {
			s.fail(err)
			s.drop()
			return
		}
		s.conn = c
	}
	_ = s.conn.SetWriteDeadline(deadline)
	out := msg
	if s.stream {
		out = append(strconv.AppendInt(make([]byte, 0, len(msg)+8), int64(len(msg)), 10), ' ')
		out = append(out, msg...)
	}
	if _, err := s.conn.Write(out); err != nil {
		s.conn.Close()
		s.conn = nil
		s.fail(err)
		s.drop()
		return
	}
	s.sent.Add(1)
	if s.down {
		s.down, s.backoff = false, 0
		s.log.Info("audit log: syslog connection restored", "address", s.addr)
	}
}

// fail schedules the next dial after a doubling backoff.
func (s *syslogSender) fail(err error) {
	s.backoff = min(max(2*s.backoff, syslogMinBackoff), syslogMaxBackoff)
	s.nextDial = time.Now().Add(s.backoff)
	if !s.down {
		s.down = true
		s.log.Warn("audit log: syslog unreachable; records are dropped from syslog and counted until it is back",
			"address", s.addr, "error", err)
	}
}
