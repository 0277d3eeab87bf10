package auditlog

import (
	"bufio"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/audit"
)

// rfc5424 matches the messages the log sends.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) moat (\d+) (\S+) \[meta sequenceId="(\d+)"\] (\{.*\})$`)

// syslogMsg is a parsed message.
type syslogMsg struct {
	pri           int
	time          time.Time
	host, procid  string
	msgid         string
	seqID         uint64
	msg           string
	rawTimeFormat string
}

func parseSyslog(t *testing.T, b []byte) syslogMsg {
	t.Helper()
	m := rfc5424.FindSubmatch(b)
	if m == nil {
		t.Fatalf("not an RFC 5424 message: %q", b)
	}
	pri, _ := strconv.Atoi(string(m[1]))
	ts, err := time.Parse(time.RFC3339Nano, string(m[2]))
	if err != nil {
		t.Fatalf("timestamp %q: %v", m[2], err)
	}
	seq, _ := strconv.ParseUint(string(m[6]), 10, 64)
	return syslogMsg{pri: pri, time: ts, host: string(m[3]), procid: string(m[4]), msgid: string(m[5]),
		seqID: seq, msg: string(m[7]), rawTimeFormat: string(m[2])}
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, _ := openTest(t, Options{Syslog: &SyslogOptions{Network: "udp", Address: pc.LocalAddr().String(),
		Hostname: "broker-1", Facility: "auth"}})
	l.Record(authFailure("203.0.113.7", 4000))
	l.Record(audit.Event{Kind: audit.ConfigReloadFailed, Detail: "acl.file: line 3: bad rule"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, l.o.Path)
	recs := readRecords(t, l.o.Path)
	if err := pc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	for i := range lines {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		m := parseSyslog(t, buf[:n])
		if m.msg != string(lines[i]) {
			t.Fatalf("message %d carries\n%s\nnot\n%s", i, m.msg, lines[i])
		}
		if want := 4*8 + Severity(recs[i].Kind); m.pri != want {
			t.Errorf("%s: PRI %d, want %d", recs[i].Kind, m.pri, want)
		}
		if m.host != "broker-1" || m.procid != strconv.Itoa(os.Getpid()) || m.msgid != string(recs[i].Kind) ||
			m.seqID != recs[i].Seq || !m.time.Equal(recs[i].Time.Truncate(time.Microsecond)) ||
			len(m.rawTimeFormat) != len("2006-01-02T15:04:05.000000Z") {
			t.Errorf("header of message %d: %+v", i, m)
		}
	}
	if s := l.Stats(); s.SyslogSent != uint64(len(lines)) || s.SyslogDropped != 0 {
		t.Fatalf("stats: %+v", s)
	}
	if Severity(audit.AuthFailure) != SevWarning || Severity(audit.ConfigReloadFailed) != SevError ||
		Severity(audit.ConnectionAccepted) != SevInfo {
		t.Fatal("severity table")
	}
}

func TestSyslogHeaderFields(t *testing.T) {
	m := lineMeta{seq: 2147483648, kind: audit.Kind(strings.Repeat("k", 40)), time: time.Unix(0, 1500).UTC()}
	got := string(appendSyslog(nil, 16, "host name\n", "", m, []byte(`{"v":1}`)))
	want := `<134>1 1970-01-01T00:00:00.000001Z hostname moat - ` + strings.Repeat("k", 32) +
		` [meta sequenceId="1"] {"v":1}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for name, code := range map[string]int{"": 16, "local7": 23, "auth": 4, "authpriv": 10} {
		if f, err := ParseFacility(name); err != nil || f != code {
			t.Errorf("ParseFacility(%q) = %d, %v", name, f, err)
		}
	}
}

// readFramed reads one octet-counted message.
func readFramed(r *bufio.Reader) ([]byte, error) {
	n, err := r.ReadString(' ')
	if err != nil {
		return nil, err
	}
	size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	_, err = io.ReadFull(r, b)
	return b, err
}

func TestSyslogTCPReconnects(t *testing.T) {
	saved := syslogMinBackoff
	syslogMinBackoff = 0
	t.Cleanup(func() { syslogMinBackoff = saved })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	l, _ := openTest(t, Options{Syslog: &SyslogOptions{Network: "tcp", Address: ln.Addr().String()}})
	deadline := time.After(10 * time.Second)
	var first net.Conn
	select {
	case first = <-conns:
	case <-deadline:
		t.Fatal("no connection")
	}
	b, err := readFramed(bufio.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if m := parseSyslog(t, b); m.msgid != string(audit.LogOpened) || m.seqID != 1 {
		t.Fatalf("first message: %+v", m)
	}
	first.Close()
	// Keep recording until the log dials again (polling, not sleeping).
	var second net.Conn
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for i := 0; second == nil; i++ {
		l.Record(authFailure(ipN(i), 1))
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case second = <-conns:
		case <-poll.C:
		case <-deadline:
			t.Fatal("the log did not reconnect")
		}
	}
	defer second.Close()
	l.Record(audit.Event{Kind: audit.BanApplied, Detail: "after reconnect"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(second)
	for seen := false; !seen; {
		b, err := readFramed(r)
		if err != nil {
			t.Fatalf("reading after reconnect: %v", err)
		}
		seen = strings.Contains(parseSyslog(t, b).msg, "after reconnect")
	}
}

func TestSyslogDownDropsAndCounts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	l, _ := openTest(t, Options{Syslog: &SyslogOptions{Network: "tcp", Address: addr}})
	for i := range 5 {
		l.Record(authFailure(ipN(i), 1))
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().SyslogDropped < 6 { // opened + 5
		if time.Now().After(deadline) {
			t.Fatalf("stats: %+v", l.Stats())
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var reported uint64
	for _, r := range readRecords(t, l.o.Path) {
		if r.Kind == audit.Suppressed && strings.HasPrefix(r.Detail, "syslog") {
			reported += r.Count
		}
	}
	if s := l.Stats(); reported < 6 || reported > s.SyslogDropped {
		t.Fatalf("reported %d syslog drops; stats %+v", reported, s)
	}
}
