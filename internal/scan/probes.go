package scan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/packet"
)

// judgeDeadline is the longest pre-CONNECT idle time that is not a
// finding; doctor uses the same bound for mqtt.connect_timeout.
const judgeDeadline = 30 * time.Second

// identity is who the scanner's ACL probes connect as.
type identity int

const (
	asAnonymous identity = iota // no credentials
	asRandom                    // credentials the broker cannot know
	asAccount                   // the operator's account
)

func (id identity) String() string {
	return [...]string{"an anonymous client", "a client with random credentials", "the supplied account"}[id]
}

// exposure is the severity of an access-control hole: critical on a
// target outside loopback, high on loopback (only local users reach it).
func exposure(t *Target) *doctor.Severity {
	if t.addr.Addr().IsLoopback() {
		return sevp(doctor.SeverityHigh)
	}
	return sevp(doctor.SeverityCritical)
}

// inventory collects what one target answered, for IDScanInventory.
type inventory struct {
	mu    sync.Mutex
	items []string
}

func (inv *inventory) addf(format string, args ...any) {
	inv.mu.Lock()
	inv.items = append(inv.items, fmt.Sprintf(format, args...))
	inv.mu.Unlock()
}

// target scans one target: transport, TLS, MQTT access control, then the
// opt-in probes; the idle probe runs beside them.
func (s *scanner) target(ctx context.Context, t *Target) {
	s.steps = nil
	s.step(t, stepDetect)
	tr, err := s.detect(ctx, t)
	if err != nil {
		s.mu.Lock()
		s.res.Failed = append(s.res.Failed, t.String()+": "+err.Error())
		s.mu.Unlock()
		return
	}
	inv := &inventory{}
	inv.addf("%s", tr)
	s.steps = s.plan(tr)
	var wg sync.WaitGroup
	if s.o.IdleWait > 0 && !tr.ws {
		wg.Go(func() { s.idleProbe(ctx, t, inv) })
	}
	if tr.tls {
		s.tlsChecks(ctx, t, inv)
	}
	if tr.ws {
		s.step(t, stepOrigin)
		s.wsChecks(ctx, t, tr)
	}
	if spoken := s.mqttChecks(ctx, t, tr, inv); len(spoken) > 0 && !tr.tls {
		sev := sevp(doctor.SeverityCritical)
		msg := "the broker speaks " + tr.String() + " to a non-loopback address: passwords and messages cross the network in clear"
		if t.addr.Addr().IsLoopback() {
			sev = sevp(doctor.SeverityLow)
			msg = "the broker speaks " + tr.String() + " (on loopback, only local clients see the traffic)"
		}
		s.add(t, doctor.IDPlainText, sev, doctor.Finding{Message: msg})
	}
	if ctx.Err() == nil && s.o.IdleWait > 0 && !tr.ws {
		s.step(t, stepIdle)
	}
	wg.Wait()
	s.add(t, doctor.IDScanInventory, nil, doctor.Finding{Message: strings.Join(inv.items, "; ")})
}

// detect finds how t is reached: as its scheme says, or for host:port by
// trying a TLS handshake, then a plain MQTT CONNECT.
func (s *scanner) detect(ctx context.Context, t *Target) (transport, error) {
	switch t.Scheme {
	case "ws", "wss":
		tr := transport{ws: true, tls: t.Scheme == "wss"}
		conn, err := s.dialWS(ctx, t, tr, nil)
		if err != nil {
			return tr, fmt.Errorf("no WebSocket answer: %v", err)
		}
		conn.Close()
		return tr, nil
	}
	conn, err := s.dialTCP(ctx, t)
	if err != nil {
		return transport{}, fmt.Errorf("cannot connect: %v", err)
	}
	conn.Close()
	switch t.Scheme {
	case "tls":
		return transport{tls: true}, nil
	case "tcp":
		return transport{}, nil
	}
	if conn, err := s.dial(ctx, t, transport{tls: true}, nil); err == nil {
		conn.Close()
		return transport{tls: true}, nil
	}
	se, err := s.open(ctx, t, transport{}, connectSpec{version: packet.V311, clientID: s.clientID()})
	if err != nil {
		return transport{}, errors.New("neither a TLS handshake nor an MQTT CONNECT was answered")
	}
	if se.accepted() {
		se.disconnect()
	}
	return transport{}, nil
}

// idleProbe opens a connection that sends nothing and measures when the
// broker drops it (the pre-CONNECT deadline, TLS handshake included).
func (s *scanner) idleProbe(ctx context.Context, t *Target, inv *inventory) {
	conn, err := s.dialTCP(ctx, t)
	if err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	start := time.Now()
	until := start.Add(s.o.IdleWait)
	if cd, ok := ctx.Deadline(); ok && cd.Before(until) {
		until = cd
	}
	_ = conn.SetReadDeadline(until)
	// A broker may answer the silence (a TLS alert): read and drop at
	// most a few KiB until it closes.
	_, err = io.Copy(io.Discard, io.LimitReader(conn, 4<<10))
	took := time.Since(start).Round(100 * time.Millisecond)
	switch {
	case ctx.Err() != nil:
	case err == nil || !isTimeout(err):
		inv.addf("a connection that sends nothing is dropped after %s", took)
		if took > judgeDeadline {
			s.add(t, doctor.IDLimitConnect, nil, doctor.Finding{
				Message: fmt.Sprintf("a connection that never sends CONNECT is kept for %s", took)})
		}
	case took >= judgeDeadline:
		s.add(t, doctor.IDLimitConnect, nil, doctor.Finding{
			Message: fmt.Sprintf("a connection that never sends CONNECT was still open after %s", took)})
	default:
		s.note(t, "a connection that sends nothing was still open when the idle probe stopped after %s; "+
			"wait at least %s (--idle-wait) to judge the CONNECT deadline", took, judgeDeadline+time.Second)
	}
}

// probeSession is the connection the ACL probes use, who it is and how
// to connect as it again.
type probeSession struct {
	se   *session
	who  identity
	spec connectSpec
}

// mqttChecks probes authentication, protocol versions and, with whatever
// identity gets in, access control. It returns the protocol versions the
// broker answered.
func (s *scanner) mqttChecks(ctx context.Context, t *Target, tr transport, inv *inventory) []string {
	s.step(t, stepAuth)
	a := s.authenticate(ctx, t, tr)
	if len(a.spoken) == 0 {
		s.note(t, "no CONNECT was answered (MQTT 5 and 3.1.1): MQTT probes skipped")
		return nil
	}
	s.step(t, stepMQTT31)
	s.mqtt31(ctx, t, tr, &a.spoken)
	slices.Sort(a.spoken) // "3.1" < "3.1.1" < "5.0"
	inv.addf("MQTT versions answered: %s", strings.Join(a.spoken, ", "))
	if a.caps != nil {
		s.capabilities(t, a.caps)
	}
	if a.probe == nil {
		hint := "; pass --username and --password to probe an ordinary account"
		if s.o.Username != "" {
			hint = ", the supplied account too"
		}
		s.note(t, "no identity could connect (anonymous and random credentials refused%s): access-control probes skipped", hint)
		if s.o.Intrusive {
			s.intrusiveAuth(ctx, t, tr, a.v, a.checksCreds)
		}
		return a.spoken
	}
	defer a.probe.se.disconnect()
	hashGranted := s.readChecks(ctx, t, a.probe)
	if s.o.Publish {
		s.writeChecks(ctx, t, a.probe)
	}
	if s.o.Intrusive {
		s.intrusive(ctx, t, tr, a.probe, hashGranted)
		s.intrusiveAuth(ctx, t, tr, a.v, a.checksCreds)
	}
	return a.spoken
}

// authResult is what the authentication probes learned.
type authResult struct {
	probe       *probeSession   // the first identity that got in; nil when none did
	spoken      []string        // protocol versions answered
	caps        *packet.Connack // an accepted MQTT 5 CONNACK
	v           packet.Version  // MQTT 5 when answered, else 3.1.1
	checksCreds bool            // random credentials were refused
}

// authenticate tries, in order: no credentials with MQTT 5 and 3.1.1;
// random credentials when both were refused; the supplied account when
// nothing got in. It reports anonymous access and any credentials, and
// keeps the first accepted connection for the access-control probes.
func (s *scanner) authenticate(ctx context.Context, t *Target, tr transport) authResult {
	var a authResult
	keep := func(se *session, who identity, spec connectSpec) {
		switch {
		case !se.accepted():
			return
		case a.probe == nil:
			a.probe = &probeSession{se, who, spec}
		default:
			se.disconnect()
		}
		if spec.version == packet.V5 && a.caps == nil {
			a.caps = se.connack
		}
	}
	var anonOK []string
	for _, v := range []packet.Version{packet.V5, packet.V311} { // MQTT 5 first: the probe session is MQTT 5
		spec := connectSpec{version: v, clientID: s.clientID()}
		se, err := s.open(ctx, t, tr, spec)
		if err != nil {
			continue
		}
		if se.connack.ReasonCode != packet.UnsupportedProtocolVersion {
			a.spoken = append(a.spoken, v.String())
		}
		if se.accepted() {
			anonOK = append(anonOK, v.String())
		}
		keep(se, asAnonymous, spec)
	}
	if len(anonOK) > 0 {
		msg := "the broker accepted a CONNECT without credentials with MQTT " + strings.Join(anonOK, " and ")
		if tr.tls {
			msg += " (TLS without access control: the traffic is encrypted, but anyone may connect)"
		}
		s.add(t, doctor.IDAnonymousExposed, exposure(t), doctor.Finding{Message: msg})
	}
	a.v = packet.V5
	if !slices.Contains(a.spoken, "5.0") {
		a.v = packet.V311
	}
	if len(anonOK) == 0 {
		// Random credentials: a broker that accepts them checks nothing.
		spec := connectSpec{version: a.v, clientID: s.clientID(), hasUser: true, user: "moat-scan-" + s.id, pass: randomSecret()}
		se, err := s.open(ctx, t, tr, spec)
		a.checksCreds = err == nil && !se.accepted()
		if err == nil && se.accepted() {
			s.add(t, doctor.IDAnyCredentials, exposure(t), doctor.Finding{
				Message: "the broker accepted a user name and password it cannot know (random ones)"})
			keep(se, asRandom, spec)
		}
	}
	if a.probe != nil || s.o.Username == "" {
		return a
	}
	spec := connectSpec{version: a.v, clientID: s.clientID(), hasUser: true, user: s.o.Username, pass: s.o.Password}
	se, err := s.open(ctx, t, tr, spec)
	switch {
	case errors.Is(err, errNoAnswer):
		s.note(t, "the supplied account got no CONNACK")
	case err != nil:
		s.note(t, "the supplied account could not connect: %v", err)
	case !se.accepted():
		s.note(t, "the supplied account was refused: %s", se.connack.ReasonCode)
	default:
		keep(se, asAccount, spec)
	}
	return a
}

// mqtt31 tries an MQTT 3.1 (MQIsdp) CONNECT: a broker that answers with
// anything but "unacceptable protocol version" speaks it.
func (s *scanner) mqtt31(ctx context.Context, t *Target, tr transport, spoken *[]string) {
	c := connectSpec{version: packet.V31, clientID: s.clientID()}
	if s.o.Username != "" {
		c.hasUser, c.user, c.pass = true, s.o.Username, s.o.Password
	}
	se, err := s.open(ctx, t, tr, c)
	if err != nil || se.connack.ReasonCode == packet.UnsupportedProtocolVersion {
		return
	}
	if se.accepted() {
		se.disconnect()
	}
	*spoken = append([]string{"3.1"}, *spoken...)
	s.add(t, doctor.IDMQTT31, nil, doctor.Finding{
		Message: fmt.Sprintf("the broker answered an MQTT 3.1 (MQIsdp) CONNECT with %q rather than refusing the protocol",
			se.connack.ReasonCode)})
}

// capabilities reports what an MQTT 5 CONNACK advertises.
func (s *scanner) capabilities(t *Target, c *packet.Connack) {
	p := &c.Properties
	var parts []string
	num := func(id packet.PropID, name string, v uint64, absent string) {
		if p.Has(id) {
			parts = append(parts, fmt.Sprintf("%s %d", name, v))
		} else {
			parts = append(parts, name+" "+absent)
		}
	}
	flag := func(id packet.PropID, name string, v byte) {
		if p.Has(id) && v == 0 {
			parts = append(parts, name+" no")
		} else {
			parts = append(parts, name+" yes")
		}
	}
	num(packet.PropMaximumPacketSize, "maximum packet size", uint64(p.MaximumPacketSize), "not advertised (up to 256 MiB)")
	num(packet.PropReceiveMaximum, "receive maximum", uint64(p.ReceiveMaximum), "not advertised (65535)")
	num(packet.PropTopicAliasMaximum, "topic alias maximum", uint64(p.TopicAliasMaximum), "0")
	num(packet.PropMaximumQoS, "maximum QoS", uint64(p.MaximumQoS), "2")
	num(packet.PropServerKeepAlive, "server keep alive", uint64(p.ServerKeepAlive), "not set")
	flag(packet.PropRetainAvailable, "retain", p.RetainAvailable)
	flag(packet.PropWildcardSubscriptionAvailable, "wildcard subscriptions", p.WildcardSubscriptionAvailable)
	flag(packet.PropSharedSubscriptionAvailable, "shared subscriptions", p.SharedSubscriptionAvailable)
	flag(packet.PropSubscriptionIdentifierAvailable, "subscription identifiers", p.SubscriptionIdentifierAvailable)
	s.add(t, doctor.IDScanCapabilities, nil, doctor.Finding{Message: "CONNACK advertises " + strings.Join(parts, ", ")})
	if !p.Has(packet.PropMaximumPacketSize) {
		s.add(t, doctor.IDLimitPacketSize, nil, doctor.Finding{
			Message: "the MQTT 5 CONNACK advertises no Maximum Packet Size: the broker may accept packets up to 256 MiB"})
	}
	if !p.Has(packet.PropReceiveMaximum) {
		s.add(t, doctor.IDLimitReceiveMax, nil, doctor.Finding{
			Message: "the MQTT 5 CONNACK advertises no Receive Maximum: 65,535 inflight publishes per client"})
	}
}

// readChecks subscribes to "#" and "$SYS/#" with the probe identity,
// counts what arrives within Listen, and unsubscribes at once. A grant
// counts only when something arrived: some brokers (Mosquitto) grant any
// SUBSCRIBE and filter deliveries instead. It reports whether "#" was
// granted in the SUBACK.
func (s *scanner) readChecks(ctx context.Context, t *Target, p *probeSession) bool {
	who := p.who.String()
	if p.who == asAccount {
		who = fmt.Sprintf("the supplied account %q", s.o.Username)
	}
	s.step(t, stepReadHash)
	code, st, err := s.readFilter(t, p, who, "#")
	granted := err == nil && !code.IsError()
	if st.messages > 0 {
		msg := fmt.Sprintf("%s was granted a subscription to \"#\" (%s) and received %s", who, suback(code, err), st.describe())
		if p.who == asAccount {
			s.add(t, doctor.IDACLBroadGrant, nil, doctor.Finding{Message: msg})
		} else {
			s.add(t, doctor.IDACLAllowAll, exposure(t), doctor.Finding{Message: msg})
		}
		if st.retained > 0 {
			s.add(t, doctor.IDScanRetained, nil, doctor.Finding{Message: fmt.Sprintf(
				"%s read retained messages through \"#\" (payloads not shown): %s", who, st.describe())})
		}
		if st.dollar > 0 {
			s.add(t, doctor.IDACLDollarMatch, nil, doctor.Finding{Message: fmt.Sprintf(
				"a subscription to \"#\" delivered %d message(s) on topics starting with $", st.dollar)})
		}
	}
	if ctx.Err() != nil || err != nil {
		return granted // the connection is gone or flooded: no second subscription on it
	}
	s.step(t, stepReadSys)
	code, sys, err := s.readFilter(t, p, who, "$SYS/#")
	if sys.messages == 0 {
		return granted
	}
	s.add(t, doctor.IDACLBroadGrant, nil, doctor.Finding{Message: fmt.Sprintf(
		"%s was granted a subscription to \"$SYS/#\" (%s) and received %s", who, suback(code, err), sys.describe())})
	if sys.version != "" {
		v := fmt.Sprintf("%d bytes; --show-payloads prints it", len(sys.version))
		if s.o.ShowPayloads {
			v = fmt.Sprintf("%q", doctor.Sanitize(sys.version, 128))
		}
		s.add(t, doctor.IDScanVersion, nil, doctor.Finding{Message: "$SYS/broker/version discloses the broker version (" + v + ")"})
	}
	return granted
}

// suback describes how a subscription was granted: its SUBACK, or the
// flood that came before it.
func suback(code packet.ReasonCode, err error) string {
	if errors.Is(err, errCap) {
		return "messages flooded in before the SUBACK"
	}
	return "SUBACK " + code.String()
}

// readFilter subscribes to filter, collects for Listen and unsubscribes.
// When the SUBACK grants the filter but nothing arrives and writes are
// allowed, a canary published to the scanner's own topic tells a real
// grant from one the broker filters at delivery.
func (s *scanner) readFilter(t *Target, p *probeSession, who, filter string) (packet.ReasonCode, *stats, error) {
	st := &stats{}
	code, err := p.se.subscribe(filter, st)
	if err != nil || code.IsError() {
		return code, st, err
	}
	p.se.collect(st)
	if st.messages == 0 && s.o.Publish && filter == "#" {
		st.ownTopic = s.topic("canary")
		if rc, err := p.se.publish(st.ownTopic, []byte("moat-scan canary"), false, st); err == nil && !rc.IsError() {
			p.se.collectOwn(st, s.o.Listen)
		}
	}
	p.se.unsubscribe(filter)
	if st.messages == 0 {
		s.note(t, "%s was granted %q (SUBACK %s) but received nothing within %s: the broker filters deliveries "+
			"(Mosquitto does) or had nothing to send; not reported", who, filter, code, s.o.Listen)
	}
	return code, st, st.err
}

// writeChecks publishes with the probe identity, only to the scanner's own
// topics: a plain message, a retained one (removed again) and one under
// $SYS. A write counts when the broker acknowledged it and, where the
// scanner could subscribe to watch, delivered it.
func (s *scanner) writeChecks(ctx context.Context, t *Target, p *probeSession) {
	sevFor := func(id string) *doctor.Severity {
		if p.who == asAccount {
			return sevp(doctor.SeverityLow)
		}
		r, _ := doctor.Lookup(id)
		return &r.Severity
	}
	who := p.who.String()
	if p.who == asAccount {
		who = fmt.Sprintf("the supplied account %q", s.o.Username)
	}
	se := p.se
	pub := s.topic("publish")
	s.step(t, stepPublish)
	if ok, how := s.tryWrite(se, pub, pub, false); ok {
		s.add(t, doctor.IDScanPublish, sevFor(doctor.IDScanPublish), doctor.Finding{
			Message: fmt.Sprintf("%s published to %s (%s)", who, pub, how)})
	}
	if ctx.Err() != nil {
		return
	}
	ret := s.topic("retain")
	s.step(t, stepRetain)
	if ok, how := s.tryRetain(se, ret); ok {
		s.add(t, doctor.IDScanRetainWrite, sevFor(doctor.IDScanRetainWrite), doctor.Finding{
			Message: fmt.Sprintf("%s set a retained message on %s (%s; removed again)", who, ret, how)})
	}
	if ctx.Err() != nil {
		return
	}
	sys := "$SYS/moat-scan/" + s.id
	s.step(t, stepSysWrite)
	if ok, how := s.tryWrite(se, sys, sys, true); ok {
		s.add(t, doctor.IDScanSysWrite, nil, doctor.Finding{Message: fmt.Sprintf("%s published to %s (%s)", who, sys, how)})
	}
}

// tryWrite publishes once to topic, watching it through filter when the
// broker lets the scanner subscribe. It reports whether the write went
// through and how that was seen. With strict, an acknowledgement alone
// (nothing watched) counts only from MQTT 5, whose PUBACK can refuse.
func (s *scanner) tryWrite(se *session, topic, filter string, strict bool) (bool, string) {
	st := stats{ownTopic: topic}
	code, err := se.subscribe(filter, &st)
	watching := err == nil && !code.IsError()
	rc, err := se.publish(topic, []byte("moat-scan probe"), false, &st)
	if err != nil || rc.IsError() {
		if watching {
			se.unsubscribe(filter)
		}
		return false, ""
	}
	if watching {
		for deadline := time.Now().Add(s.o.Listen); st.own == 0 && time.Now().Before(deadline) && !st.full(s.o); {
			pk, err := se.readUntil(deadline)
			if err != nil {
				break
			}
			if pp, ok := pk.(*packet.Publish); ok {
				se.count(pp, &st)
			}
		}
		se.unsubscribe(filter)
		if st.own > 0 {
			return true, "acknowledged and delivered back to the scanner"
		}
		return false, ""
	}
	if se.v != packet.V5 && strict {
		return false, ""
	}
	if se.v != packet.V5 {
		return true, "acknowledged (MQTT 3.1.1 cannot refuse; not watched)"
	}
	return true, fmt.Sprintf("PUBACK %s; not watched: the scanner may not subscribe there", rc)
}

// tryRetain publishes a retained message, checks with a fresh
// subscription whether the broker kept it, and always clears it.
func (s *scanner) tryRetain(se *session, topic string) (bool, string) {
	var st stats
	rc, err := se.publish(topic, []byte("moat-scan retained probe"), true, &st)
	if err != nil {
		return false, ""
	}
	defer func() { _, _ = se.publish(topic, nil, true, &stats{}) }() // clear it whatever happened
	if rc.IsError() {
		return false, ""
	}
	check := stats{ownTopic: topic}
	code, err := se.subscribe(topic, &check)
	if err != nil || code.IsError() {
		return false, ""
	}
	se.collectOwn(&check, s.o.Listen)
	se.unsubscribe(topic)
	if check.retained > 0 {
		return true, "a new subscription received it as retained"
	}
	return false, ""
}

// collectOwn reads for at most d, until a message on the scanner's own
// topic arrived.
func (se *session) collectOwn(st *stats, d time.Duration) {
	for deadline := time.Now().Add(d); st.own == 0 && !st.full(se.s.o); {
		pk, err := se.readUntil(deadline)
		if err != nil {
			return
		}
		if p, ok := pk.(*packet.Publish); ok {
			se.count(p, st)
		}
	}
}

// wsChecks asks whether a WebSocket upgrade from a foreign web page (an
// Origin header the broker cannot expect) is accepted.
func (s *scanner) wsChecks(ctx context.Context, t *Target, tr transport) {
	hdr := http.Header{"Origin": []string{"https://moat-scan.invalid"}}
	conn, err := s.dialWS(ctx, t, tr, hdr)
	if err != nil {
		return
	}
	conn.Close()
	s.add(t, doctor.IDWSAnyOrigin, nil, doctor.Finding{
		Message: "the WebSocket endpoint accepted an upgrade with Origin https://moat-scan.invalid: any web page may connect from its visitors' browsers"})
}

// randomSecret is a password nobody has.
func randomSecret() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
