package scan

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/packet"
)

// The will, shared-subscription and signed-topic probes need to see
// whether a message reached a topic. A watcher is a connection subscribed
// there. The helper watcher is the second account when the operator gave
// one, else the probe identity: it is "verified" once a message it
// published itself came back, which proves that it would have seen the
// probe's message too; only then may a probe conclude "not delivered".

// watcher is a connection subscribed to one filter, counting what
// arrives on one topic (stats.own) without keeping payloads.
type watcher struct {
	se     *session
	who    string
	filter string
	code   packet.ReasonCode // the SUBACK
	st     stats
}

// watch connects with spec (a fresh client id) and subscribes to filter,
// counting messages on topic. It returns nil when the connection is
// refused, and the watcher with its refusing SUBACK code (closed) when
// the subscription is.
func (s *scanner) watch(ctx context.Context, t *Target, tr transport, spec connectSpec, who, filter, topic string) *watcher {
	spec.clientID = s.clientID()
	spec.willTopic, spec.willPayload = "", nil
	se, err := s.open(ctx, t, tr, spec)
	if err != nil || !se.accepted() {
		return nil
	}
	w := &watcher{se: se, who: who, filter: filter, st: stats{ownTopic: topic}}
	code, err := se.subscribe(filter, &w.st)
	w.code = code
	if err != nil || code.IsError() {
		se.close()
		if err != nil {
			return nil
		}
		return w
	}
	return w
}

// granted reports whether w's subscription stands.
func (w *watcher) granted() bool { return w != nil && !w.code.IsError() }

// wait reads for at most d until a new message arrives on w's topic, and
// reports whether one did.
func (w *watcher) wait(d time.Duration) bool {
	if !w.granted() {
		return false
	}
	w.st.own = 0
	w.se.collectOwn(&w.st, d)
	return w.st.own > 0
}

// verify publishes a message to w's topic over w's own connection and
// reports whether it came back: w would have seen another one there.
func (w *watcher) verify(d time.Duration) bool {
	if !w.granted() {
		return false
	}
	w.st.own = 0
	rc, err := w.se.publish(w.st.ownTopic, []byte("moat-scan watcher check"), false, &w.st)
	if err != nil || rc.IsError() {
		return false
	}
	if w.st.own > 0 {
		return true
	}
	return w.wait(d)
}

func (w *watcher) close() {
	if w.granted() {
		w.se.unsubscribe(w.filter)
		w.se.disconnect()
	}
}

// helperSpec returns who watches and publishes for a probe: the second
// account when given, else the probe identity itself.
func (s *scanner) helperSpec(p *probeSession) (connectSpec, string) {
	if s.o.Username2 != "" {
		return connectSpec{version: p.spec.version, hasUser: true, user: s.o.Username2, pass: s.o.Password2},
			fmt.Sprintf("the second account %q", s.o.Username2)
	}
	return p.spec, s.who(p)
}

// who names the probe identity in messages.
func (s *scanner) who(p *probeSession) string {
	if p.who == asAccount {
		return fmt.Sprintf("the supplied account %q", s.o.Username)
	}
	return p.who.String()
}

// helperHint ends an inconclusive note.
const helperHint = "; give --username2 an account that may read and write moat-scan/# to decide"

// sharedProbe asks whether a shared subscription reads what a plain one
// may not. First the cheap form: "#" refused in the SUBACK but
// "$share/moat-scan/#" granted. Then, on the scanner's own topic T, the
// probe identity subscribes to T and, on another connection, to
// $share/moat-scan-<id>/T; the helper publishes one message to T.
// Reported: the shared subscription received it while the plain one did
// not (high), or it was granted where the plain one was refused and
// nothing showed that deliveries are filtered (medium). At most three
// connections, one message, each wait bounded by Listen.
func (s *scanner) sharedProbe(ctx context.Context, t *Target, tr transport, p *probeSession, hashGranted bool) {
	who := s.who(p)
	if !hashGranted {
		var st stats
		code, err := p.se.subscribe("$share/moat-scan/#", &st)
		if err == nil && !code.IsError() {
			p.se.unsubscribe("$share/moat-scan/#")
			s.add(t, doctor.IDACLSharedBypass, nil, doctor.Finding{Message: fmt.Sprintf(
				"%s was refused \"#\" but granted \"$share/moat-scan/#\" (SUBACK %s)", who, code)})
			return
		}
	}
	topic := s.topic("shared")
	shared := "$share/moat-scan-" + s.id + "/" + topic
	sw := s.watch(ctx, t, tr, p.spec, who, shared, topic)
	if sw == nil {
		s.note(t, "shared-subscription probe inconclusive: the probe identity could not connect again")
		return
	}
	defer sw.close()
	if !sw.granted() {
		s.note(t, "shared-subscription probe: %q was refused (SUBACK %s): not bypassed", shared, sw.code)
		return
	}
	pw := s.watch(ctx, t, tr, p.spec, who, topic, topic)
	if pw != nil {
		defer pw.close()
	}
	hw, hwho := pw, who // the probe identity helps itself unless a second account was given
	if s.o.Username2 != "" {
		var hspec connectSpec
		hspec, hwho = s.helperSpec(p)
		if hw = s.watch(ctx, t, tr, hspec, hwho, topic, topic); hw != nil {
			defer hw.close()
		}
	}
	switch {
	case hw.granted():
		hw.verify(s.o.Listen) // the helper's message is the canary
	case pw.granted():
		_, _ = pw.se.publish(topic, []byte("moat-scan shared-subscription canary"), false, &pw.st)
	}
	viaShared := sw.wait(s.o.Listen)
	viaPlain := pw.granted() && (pw.st.own > 0 || pw.wait(min(s.o.Listen, time.Second)))
	routed := hw.granted() && hw.st.own > 0
	plainCode := "refused"
	if pw != nil {
		plainCode = "SUBACK " + pw.code.String()
	}
	switch {
	case viaPlain:
		s.note(t, "shared-subscription probe: %s may read %s directly; a shared subscription there proves nothing", who, topic)
	case viaShared:
		s.add(t, doctor.IDACLSharedBypass, nil, doctor.Finding{Message: fmt.Sprintf(
			"%s received a message on %s through %q, while its plain subscription to it (%s) received nothing",
			who, topic, shared, plainCode)})
	case pw != nil && !pw.granted():
		filtered := ""
		if routed {
			filtered = "; the message was not delivered to it, so the broker filters deliveries"
		}
		s.add(t, doctor.IDACLSharedBypass, sevp(doctor.SeverityMedium), doctor.Finding{Message: fmt.Sprintf(
			"%s was refused %q (%s) but granted %q (SUBACK %s)%s", who, topic, plainCode, shared, sw.code, filtered)})
	case routed:
		s.note(t, "shared-subscription probe: %q was granted but delivered nothing that %s saw published: not bypassed", shared, hwho)
	default:
		s.note(t, "shared-subscription probe inconclusive: %q was granted, and no message could be published to %s%s", shared, topic, helperHint)
	}
}

// willProbe asks whether a will goes where its client may not publish.
// The probe identity connects with a QoS 0 will on the scanner's topic W
// (a refused CONNECT settles it: the broker authorizes wills), publishes
// one message to W directly (delivered: it may publish there, nothing to
// prove), then drops the connection without DISCONNECT. The will
// delivered to the helper is a finding; not delivered is "enforced" only
// when the helper is verified. At most three connections and three
// messages; each wait bounded by Listen.
func (s *scanner) willProbe(ctx context.Context, t *Target, tr transport, p *probeSession) {
	who, topic := s.who(p), s.topic("will")
	spec := p.spec
	spec.clientID = s.clientID()
	spec.willTopic, spec.willPayload = topic, []byte("moat-scan will probe")
	se, err := s.open(ctx, t, tr, spec)
	switch {
	case errors.Is(err, errNoAnswer):
		s.note(t, "will probe: a CONNECT with a will on %s got no CONNACK (the broker closed it): not bypassed", topic)
		return
	case err != nil:
		s.note(t, "will probe inconclusive: %v", err)
		return
	case !se.accepted():
		s.note(t, "will probe: a CONNECT with a will on %s was refused (CONNACK %s): the broker authorizes wills at CONNECT",
			topic, se.connack.ReasonCode)
		return
	}
	defer se.close()
	hspec, hwho := s.helperSpec(p)
	hw := s.watch(ctx, t, tr, hspec, hwho, topic, topic)
	if !hw.granted() {
		se.disconnect() // a normal DISCONNECT discards the will
		s.note(t, "will probe inconclusive: the broker accepted a will on %s, and %s may not subscribe there to see it%s", topic, hwho, helperHint)
		return
	}
	defer hw.close()
	rc, err := se.publish(topic, []byte("moat-scan will probe: direct publish"), false, &stats{})
	if err != nil {
		s.note(t, "will probe inconclusive: the direct publish failed: %v", err)
		return
	}
	if hw.wait(s.o.Listen) {
		se.disconnect()
		s.note(t, "will probe: %s may publish to %s directly; a will there proves nothing", who, topic)
		return
	}
	direct := "was not delivered"
	if se.v == packet.V5 && rc.IsError() {
		direct = "was refused (PUBACK " + rc.String() + ")"
	}
	se.close() // no DISCONNECT: the broker must now send the will
	if hw.wait(s.o.Listen) {
		s.add(t, doctor.IDACLWillBypass, exposure(t), doctor.Finding{Message: fmt.Sprintf(
			"%s set a will on %s, where its own PUBLISH %s; when its connection dropped, the broker delivered the will to %s",
			who, topic, direct, hwho)})
		return
	}
	if hw.verify(s.o.Listen) {
		s.note(t, "will probe: the broker accepted a will on %s at CONNECT but did not deliver it (its PUBLISH there %s): not bypassed", topic, direct)
		return
	}
	s.note(t, "will probe inconclusive: no will arrived on %s, but %s did not see its own message there either%s", topic, hwho, helperHint)
}

// signedProbe publishes, with the probe identity, one unsigned message
// and (MQTT 5) one with a garbage moat-sig user property to the topic the
// operator says must be signed, QoS 1, not retained, and watches it with
// the helper. A broker that acknowledges (MQTT 5 PUBACK below 0x80) or
// delivers either one does not enforce signatures there. Two messages, two
// connections, each wait bounded by Listen.
func (s *scanner) signedProbe(ctx context.Context, t *Target, tr transport, p *probeSession) {
	topic, who := s.o.SignedTopic, s.who(p)
	hspec, hwho := s.helperSpec(p)
	hw := s.watch(ctx, t, tr, hspec, hwho, topic, topic)
	if hw != nil {
		defer hw.close()
	}
	spec := p.spec
	spec.clientID = s.clientID()
	se, err := s.open(ctx, t, tr, spec)
	if err != nil || !se.accepted() {
		s.note(t, "signed-topic probe inconclusive: the probe identity could not connect again")
		return
	}
	defer se.disconnect()
	garbage := make([]byte, 64)
	_, _ = rand.Read(garbage)
	cases := []struct {
		name  string
		props packet.Properties
	}{{name: "an unsigned message"}}
	if se.v == packet.V5 {
		cases = append(cases, struct {
			name  string
			props packet.Properties
		}{"a message with a garbage signature", packet.Properties{UserProperties: []packet.UserProperty{
			{Key: "moat-sig", Value: base64.RawURLEncoding.EncodeToString(garbage)}}}})
	}
	var through, held []string
	for _, c := range cases {
		if ctx.Err() != nil {
			return
		}
		pub := &packet.Publish{Topic: topic, Payload: []byte("moat-scan signed-topic probe " + s.id + ": not signed, ignore"),
			Properties: c.props}
		rc, err := se.publishProps(pub, &stats{})
		if err != nil {
			s.note(t, "signed-topic probe: %s to %s ended the connection (%v)", c.name, topic, err)
			return
		}
		acked := se.v == packet.V5 && !rc.IsError()
		delivered := hw.wait(s.o.Listen)
		var what []string
		if acked {
			what = append(what, "PUBACK "+rc.String())
		}
		if delivered {
			what = append(what, "delivered to "+hwho)
		}
		switch {
		case len(what) > 0:
			through = append(through, fmt.Sprintf("%s (%s)", c.name, joinAnd(what)))
		case se.v == packet.V5:
			held = append(held, fmt.Sprintf("%s: PUBACK %s", c.name, rc))
		}
	}
	switch {
	case len(through) > 0:
		s.add(t, doctor.IDSignedPolicy, nil, doctor.Finding{Message: fmt.Sprintf(
			"%s, which must be signed, took from %s %s", topic, who, joinAnd(through))})
	case len(held) > 0:
		s.note(t, "signed-topic probe: %s refused %s (a refusal by the ACL looks the same: publish with an account allowed there)",
			topic, joinAnd(held))
	default:
		s.note(t, "signed-topic probe inconclusive: MQTT 3.1.1 cannot refuse a PUBLISH, and %s saw nothing on %s; "+
			"give --username2 an account that may read it", hwho, topic)
	}
}

// joinAnd joins parts as "a, b and c".
func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	out := parts[0]
	for _, p := range parts[1 : len(parts)-1] {
		out += ", " + p
	}
	return out + " and " + parts[len(parts)-1]
}
