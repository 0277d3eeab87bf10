package scan

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/packet"
)

// defaultCredentials is the tiny list of well-known pairs the intrusive
// probe tries, once each.
var defaultCredentials = [][2]string{
	{"admin", "admin"}, {"admin", "password"}, {"guest", "guest"}, {"mosquitto", "mosquitto"}, {"test", "test"},
}

// bruteForceAttempts bounds the failures the lockout probe causes.
const bruteForceAttempts = 10

// intrusive runs the opt-in probes that need a connected identity:
// shared-subscription and will bypass, signed-topic enforcement, maximum
// packet size, client-id takeover and session hijack, and the
// malformed-input set.
func (s *scanner) intrusive(ctx context.Context, t *Target, tr transport, p *probeSession, hashGranted bool) {
	s.step(t, stepShared)
	s.sharedProbe(ctx, t, tr, p, hashGranted)
	if ctx.Err() == nil {
		s.step(t, stepWill)
		s.willProbe(ctx, t, tr, p)
	}
	if ctx.Err() == nil && s.o.SignedTopic != "" {
		s.step(t, stepSigned)
		s.signedProbe(ctx, t, tr, p)
	}
	if ctx.Err() == nil {
		s.step(t, stepOversize)
		s.oversize(ctx, t, tr, p)
	}
	if ctx.Err() == nil {
		s.step(t, stepTakeover)
		s.takeover(ctx, t, tr, p.spec.version)
	}
	if ctx.Err() == nil {
		s.step(t, stepMalformed)
		s.malformed(ctx, t, tr, p.spec)
	}
}

// oversize sends one PUBLISH, to the scanner's own topic, 1 KiB above the
// Maximum Packet Size the broker advertised (when it advertised one of
// at most 2 MiB), and reports a broker that acknowledges it.
func (s *scanner) oversize(ctx context.Context, t *Target, tr transport, p *probeSession) {
	props := &p.se.connack.Properties
	if p.se.v != packet.V5 || !props.Has(packet.PropMaximumPacketSize) || props.MaximumPacketSize > 2<<20 {
		s.note(t, "maximum packet size enforcement not probed: it needs MQTT 5 and an advertised maximum of at most 2 MiB")
		return
	}
	spec := p.spec
	spec.clientID = s.clientID()
	se, err := s.open(ctx, t, tr, spec)
	if err != nil || !se.accepted() {
		return
	}
	defer se.close()
	size := int(props.MaximumPacketSize) + 1024
	rc, err := se.publish(s.topic("oversize"), make([]byte, size), false, &stats{})
	if err == nil && !rc.IsError() {
		s.add(t, doctor.IDLimitOversize, nil, doctor.Finding{Message: fmt.Sprintf(
			"the broker advertised a Maximum Packet Size of %d bytes and acknowledged a %d-byte PUBLISH (%s)",
			props.MaximumPacketSize, size, rc)})
	}
}

// takeover checks, with the two supplied accounts, whether the second may
// take over the first one's client id, and resume its persistent session.
func (s *scanner) takeover(ctx context.Context, t *Target, tr transport, v packet.Version) {
	if s.o.Username == "" || s.o.Username2 == "" {
		s.note(t, "client-id takeover and session hijack not probed: they need two accounts (--username, --username2)")
		return
	}
	a := connectSpec{version: v, hasUser: true, user: s.o.Username, pass: s.o.Password}
	b := connectSpec{version: v, hasUser: true, user: s.o.Username2, pass: s.o.Password2}
	// Takeover: B connects with the client id A holds.
	a.clientID = s.clientID()
	b.clientID = a.clientID
	first, err := s.open(ctx, t, tr, a)
	if err != nil || !first.accepted() {
		s.note(t, "takeover not probed: the first account could not connect")
		return
	}
	second, err := s.open(ctx, t, tr, b)
	if err == nil && second.accepted() {
		if dropped(first, s.o.ProbeTimeout) {
			s.add(t, doctor.IDScanTakeover, nil, doctor.Finding{Message: fmt.Sprintf(
				"%q connected with the client id %q held by %q, which was disconnected", s.o.Username2, a.clientID, s.o.Username)})
		}
		second.disconnect()
	}
	first.close()
	// Hijack: A leaves a persistent session, B resumes it.
	a.clientID, a.keepClean, a.sessionExpiry = s.clientID(), true, 300
	b.clientID, b.keepClean = a.clientID, true
	owner, err := s.open(ctx, t, tr, a)
	if err != nil || !owner.accepted() {
		return
	}
	_, _ = owner.subscribe(s.topic("hijack"), &stats{})
	owner.disconnect()
	thief, err := s.open(ctx, t, tr, b)
	if err == nil && thief.accepted() {
		if thief.connack.SessionPresent {
			s.add(t, doctor.IDScanHijack, nil, doctor.Finding{Message: fmt.Sprintf(
				"%q resumed the persistent session %q that %q left (CONNACK session present)", s.o.Username2, a.clientID, s.o.Username)})
		}
		thief.disconnect()
	}
	// Remove the session: connect clean with no expiry.
	a.keepClean, a.sessionExpiry = false, 0
	if cleanup, err := s.open(ctx, t, tr, a); err == nil && cleanup.accepted() {
		cleanup.disconnect()
	}
}

// dropped reports whether the broker closed se (or sent DISCONNECT)
// within d.
func dropped(se *session, d time.Duration) bool {
	until := time.Now().Add(d)
	for {
		pk, err := se.readUntil(until)
		switch {
		case err != nil:
			return !isTimeout(err)
		case pk.Type() == packet.DISCONNECT:
			return true
		}
	}
}

// malformedCases are raw packets a broker must answer by closing the
// connection [MQTT-4.13]. Each goes on a fresh connection after CONNACK.
var malformedCases = []struct {
	name string
	raw  []byte
}{
	{"PUBLISH with a topic that is not UTF-8", []byte{0x30, 0x05, 0x00, 0x02, 0xff, 0xfe, 'x'}},
	{"SUBSCRIBE with reserved flags 0000", []byte{0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}},
	{"PINGREQ with a body", []byte{0xc0, 0x01, 0x00}},
	{"remaining length of five bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}},
	{"PUBLISH with QoS 3", []byte{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01}},
}

// malformed sends each malformed case and then a PINGREQ: a PINGRESP
// means the broker went on with the connection. Afterwards the broker must
// still accept a new connection.
func (s *scanner) malformed(ctx context.Context, t *Target, tr transport, spec connectSpec) {
	var tolerated []string
	for _, c := range malformedCases {
		if ctx.Err() != nil {
			return
		}
		spec.clientID = s.clientID()
		se, err := s.open(ctx, t, tr, spec)
		if err != nil || !se.accepted() {
			continue
		}
		_ = se.write(c.raw)
		_ = se.write(packet.AppendPingreq(nil))
		if answersPing(se, min(s.o.ProbeTimeout, 2*time.Second)) {
			tolerated = append(tolerated, c.name)
		}
		se.close()
	}
	if len(tolerated) > 0 {
		s.add(t, doctor.IDScanMalformed, nil, doctor.Finding{
			Message: "the broker kept the connection open after: " + strings.Join(tolerated, "; ")})
	}
	spec.clientID = s.clientID()
	se, err := s.open(ctx, t, tr, spec)
	if err != nil {
		s.add(t, doctor.IDScanMalformed, sevp(doctor.SeverityHigh), doctor.Finding{
			Message: "after the malformed-input set the broker no longer answers a CONNECT: " + err.Error()})
		return
	}
	if se.accepted() {
		se.disconnect()
	}
}

// answersPing reports whether a PINGRESP arrives within d.
func answersPing(se *session, d time.Duration) bool {
	until := time.Now().Add(d)
	for {
		pk, err := se.readUntil(until)
		if err != nil {
			return false // closed, timed out, or a packet the codec refuses
		}
		switch pk.Type() {
		case packet.PINGRESP:
			return true
		case packet.DISCONNECT:
			return false
		}
	}
}

// intrusiveAuth runs the opt-in probes about logins, last because they
// may get the scanner's address banned: PROXY spoofing, default
// credentials (when the broker checks credentials at all) and the
// brute-force lockout probe.
func (s *scanner) intrusiveAuth(ctx context.Context, t *Target, tr transport, v packet.Version, checksCreds bool) {
	if !tr.ws && ctx.Err() == nil {
		s.step(t, stepProxy)
		s.proxySpoof(ctx, t, tr, v)
	}
	if !checksCreds {
		s.note(t, "default credentials and brute-force lockout not probed: the broker accepted anonymous or random credentials, or refused to answer")
		return
	}
	s.step(t, stepDefaultCreds)
	for _, pair := range defaultCredentials {
		if ctx.Err() != nil {
			return
		}
		se, err := s.open(ctx, t, tr, connectSpec{version: v, clientID: s.clientID(), hasUser: true, user: pair[0], pass: pair[1]})
		if err == nil && se.accepted() {
			s.add(t, doctor.IDDefaultCreds, exposure(t), doctor.Finding{Message: fmt.Sprintf(
				"the broker accepted the well-known user %q with its default password", pair[0])})
			se.disconnect()
		}
	}
	s.bruteForce(ctx, t, tr, v)
}

// bruteForce fails to log in at most bruteForceAttempts times, with a
// user that does not exist, and looks for a defence: a ban or rate code,
// a connection closed before CONNACK, or answers slowing down.
func (s *scanner) bruteForce(ctx context.Context, t *Target, tr transport, v packet.Version) {
	s.step(t, stepBruteForce)
	user := "moat-scan-nouser-" + s.id
	var fastest, slowest time.Duration
	for i := range bruteForceAttempts {
		if ctx.Err() != nil {
			return
		}
		start := time.Now()
		se, err := s.open(ctx, t, tr, connectSpec{version: v, clientID: s.clientID(), hasUser: true, user: user, pass: randomSecret()})
		took := time.Since(start)
		switch {
		case err != nil:
			s.note(t, "brute-force defence seen after %d failed login(s): the connection was closed or timed out without CONNACK", i)
			return
		case se.accepted():
			se.disconnect()
			s.note(t, "the brute-force probe's made-up user was accepted; lockout not judged")
			return
		}
		switch se.connack.ReasonCode {
		case packet.Banned, packet.ConnectionRateExceeded, packet.ServerBusy, packet.QuotaExceeded:
			s.note(t, "brute-force defence seen after %d failed login(s): CONNACK %s", i, se.connack.ReasonCode)
			return
		}
		if i == 0 || took < fastest {
			fastest = took
		}
		slowest = max(slowest, took)
		if slowest >= 2*fastest+200*time.Millisecond {
			s.note(t, "brute-force defence seen: refusals slowed from %s to %s", fastest.Round(time.Millisecond), slowest.Round(time.Millisecond))
			return
		}
	}
	s.add(t, doctor.IDBruteForceOff, nil, doctor.Finding{Message: fmt.Sprintf(
		"%d failed logins in a row were refused at once (slowest %s), without a delay, ban or rate limit",
		bruteForceAttempts, slowest.Round(time.Millisecond))})
}

// proxySpoof sends a PROXY v1 header claiming another source before the
// CONNECT: a broker that answers it honoured (or ignored) a header from a
// source that cannot be one of its balancers.
func (s *scanner) proxySpoof(ctx context.Context, t *Target, tr transport, v packet.Version) {
	family := "TCP4"
	src, dst := "198.51.100.7", "192.0.2.1"
	if t.addr.Addr().Is6() {
		family, src, dst = "TCP6", "2001:db8::7", "2001:db8::1"
	}
	hdr := fmt.Sprintf("PROXY %s %s %s 40000 %d\r\n", family, src, dst, t.Port)
	spec := connectSpec{version: v, clientID: s.clientID(), prefix: []byte(hdr)}
	if s.o.Username != "" {
		spec.hasUser, spec.user, spec.pass = true, s.o.Username, s.o.Password
	}
	se, err := s.open(ctx, t, tr, spec)
	if err != nil {
		return
	}
	if se.accepted() {
		se.disconnect()
	}
	s.add(t, doctor.IDProxyTrustAll, nil, doctor.Finding{Message: fmt.Sprintf(
		"the broker answered a CONNECT sent after a PROXY header from the scanner, which claimed to be %s (CONNACK %s)",
		src, se.connack.ReasonCode)})
}
