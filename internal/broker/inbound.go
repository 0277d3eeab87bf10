package broker

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/topic"
)

// handle dispatches one inbound packet after CONNECT. An error ends the
// connection with its reason.
func (c *conn) handle(pk packet.Packet) error {
	switch p := pk.(type) {
	case *packet.Publish:
		return c.handlePublish(p)
	case *packet.Puback:
		c.sess.acked(p.PacketID, 1)
	case *packet.Pubrec:
		if release, ok := c.sess.received(p.PacketID, p.ReasonCode); ok && release {
			c.sendAck(packet.PUBREL, p.PacketID, 0)
		} else if !ok && c.version == packet.V5 {
			c.sendAck(packet.PUBREL, p.PacketID, packet.PacketIdentifierNotFound)
		}
	case *packet.Pubrel:
		return c.handlePubrel(p)
	case *packet.Pubcomp:
		c.sess.acked(p.PacketID, 2)
	case *packet.Subscribe:
		return c.handleSubscribe(p)
	case *packet.Unsubscribe:
		return c.handleUnsubscribe(p)
	case *packet.Pingreq:
		c.send(&packet.Pingresp{})
	case *packet.Disconnect:
		return c.handleDisconnect(p)
	case *packet.Auth:
		return c.handleAuth(p)
	case *packet.Connect:
		return fail(packet.ProtocolError, "second CONNECT") // [MQTT-3.1.0-2]
	default:
		return fail(packet.ProtocolError, pk.Type().String()+" is not sent by clients")
	}
	return nil
}

// handlePublish runs the inbound PUBLISH flow: topic alias, topic and
// feature checks, authorization, retain, routing, then the acknowledgement.
func (c *conn) handlePublish(p *packet.Publish) error {
	b := c.b
	before := b.writeMark()
	b.metrics.MessagesIn[p.QoS].Add(1)
	if err := c.resolveAlias(p); err != nil {
		return err
	}
	if err := topic.ValidateName(p.Topic, b.lim.Topic); err != nil {
		return fail(packet.TopicNameInvalid, err.Error())
	}
	if p.QoS > b.lim.MaxQoS {
		return fail(packet.QoSNotSupported, "QoS above the maximum") // [MQTT-3.2.2-11]
	}
	if p.Retain && !b.lim.RetainAvailable {
		return fail(packet.RetainNotSupported, "retain is not available") // [MQTT-3.2.2-14]
	}
	if p.QoS == 2 {
		dup, full := c.sess.inQoS2State(p.PacketID, int(b.lim.ReceiveMaximum))
		if dup {
			// Exactly once: a resent PUBLISH before PUBREL is not routed
			// again [MQTT-4.3.3-9].
			c.ackAfter(outItem{kind: outAck, typ: packet.PUBREC, id: p.PacketID}, 0)
			return nil
		}
		if full {
			return fail(packet.ReceiveMaximumExceeded, "more unacknowledged QoS 2 messages than Receive Maximum") // [MQTT-3.3.4-9]
		}
	}
	code := packet.Success
	if p.Properties.Has(packet.PropPayloadFormat) && p.Properties.PayloadFormat == 1 && !utf8.Valid(p.Payload) {
		code = packet.PayloadFormatInvalid // [MQTT-3.3.2-4] checked, as the server may
	}
	m := &session.Message{
		Topic:      p.Topic,
		Payload:    p.Payload,
		QoS:        p.QoS,
		Retain:     p.Retain,
		Properties: forwardable(&p.Properties),
		Publisher:  c.clientID,
		SetBy:      c.identityName(),
	}
	if code == 0 {
		code = b.authorizePublish(c.subject, m)
		if code != 0 {
			b.record(audit.Event{Kind: audit.ACLDenied, Listener: c.info.Listener, Remote: c.info.Remote,
				ClientID: c.clientID, Identity: c.identityName(), Reason: code, Detail: "publish " + p.Topic})
		}
	}
	resent := false
	if code == 0 {
		var disconnect bool
		code, disconnect, resent = c.checkSigned(p, m)
		if disconnect {
			return fail(code, "refused message on signed topic "+p.Topic)
		}
	}
	if code == 0 && !resent && m.Retain && len(m.Payload) > 0 {
		if code = b.checkRetain(m); code != 0 {
			b.record(audit.Event{Kind: audit.ACLDenied, Listener: c.info.Listener, Remote: c.info.Remote,
				ClientID: c.clientID, Identity: c.identityName(), Reason: code, Detail: "retain policy: " + p.Topic})
		}
	}
	if code == 0 && !resent {
		m.Created = time.Now()
		if m.Properties.Has(packet.PropMessageExpiryInterval) {
			if e := m.Created.Add(time.Duration(m.Properties.MessageExpiryInterval) * time.Second); m.Expiry.IsZero() || e.Before(m.Expiry) {
				m.Expiry = e
			}
		}
		if m.Retain {
			if code = b.retain(m); code != 0 {
				b.record(audit.Event{Kind: audit.ACLDenied, Listener: c.info.Listener, Remote: c.info.Remote,
					ClientID: c.clientID, Identity: c.identityName(), Reason: code, Detail: "retained quota: " + p.Topic})
			}
		}
	}
	if code == 0 && !resent {
		if b.router.Route(m) == 0 && c.version == packet.V5 {
			code = packet.NoMatchingSubscribers
		}
	}
	if code == packet.NotAuthorized && c.version != packet.V5 && b.lim.DisconnectDeniedPublish {
		// 3.1.1 has no way to say no but closing [MQTT-3.3.5-2].
		return fail(packet.NotAuthorized, "publish to "+p.Topic+" not authorized")
	}
	switch p.QoS {
	case 1:
		c.ackAfter(outItem{kind: outAck, typ: packet.PUBACK, id: p.PacketID, code: c.ackCode(code)}, b.markSince(before))
	case 2:
		if !code.IsError() {
			c.sess.inQoS2Add(p.PacketID)
		}
		c.ackAfter(outItem{kind: outAck, typ: packet.PUBREC, id: p.PacketID, code: c.ackCode(code)}, b.markSince(before))
	}
	return nil
}

// ackCode is the reason code for PUBACK/PUBREC; 3.1.1 has none.
func (c *conn) ackCode(code packet.ReasonCode) packet.ReasonCode {
	if c.version != packet.V5 {
		return 0
	}
	return code
}

// resolveAlias applies an inbound topic alias [MQTT-3.3.2-12].
func (c *conn) resolveAlias(p *packet.Publish) error {
	if !p.Properties.Has(packet.PropTopicAlias) {
		return nil
	}
	a := p.Properties.TopicAlias
	if a == 0 || a > c.b.lim.TopicAliasMaximum { // [MQTT-3.3.2-8] [MQTT-3.3.2-9]
		return fail(packet.TopicAliasInvalid, "topic alias out of range")
	}
	if p.Topic != "" {
		if c.aliasIn == nil {
			c.aliasIn = make(map[uint16]string)
		}
		c.aliasIn[a] = strings.Clone(p.Topic) // do not pin the packet buffer
		return nil
	}
	t, ok := c.aliasIn[a]
	if !ok {
		return fail(packet.ProtocolError, "unknown topic alias")
	}
	p.Topic = t
	return nil
}

func (c *conn) handlePubrel(p *packet.Pubrel) error {
	before := c.b.writeMark()
	code := packet.Success
	if !c.sess.inQoS2Remove(p.PacketID) {
		code = packet.PacketIdentifierNotFound
	}
	// The id may be reused after PUBCOMP: its release must be durable
	// first, or a restart would take the next message for a resend.
	c.ackAfter(outItem{kind: outAck, typ: packet.PUBCOMP, id: p.PacketID, code: c.ackCode(code)}, c.b.markSince(before))
	return nil
}

func (c *conn) handleDisconnect(p *packet.Disconnect) error {
	if c.version == packet.V5 && p.Properties.Has(packet.PropSessionExpiryInterval) {
		s := c.sess
		s.mu.Lock()
		wasZero := s.expiry == 0
		s.mu.Unlock()
		if wasZero && p.Properties.SessionExpiryInterval != 0 {
			return fail(packet.ProtocolError, "session expiry set on DISCONNECT after 0 at CONNECT") // [MQTT-3.14.2-2]
		}
		e := min(time.Duration(p.Properties.SessionExpiryInterval)*time.Second, c.b.lim.MaxSessionExpiry)
		s.mu.Lock()
		s.expiry = e
		_ = s.saveLocked()
		s.mu.Unlock()
	}
	c.normalClose = true
	c.sendWillAnew = p.ReasonCode == packet.DisconnectWithWill
	return errClosed
}

// handleSubscribe answers each filter with its own reason code.
func (c *conn) handleSubscribe(p *packet.Subscribe) error {
	b := c.b
	before := b.writeMark()
	var subID uint32
	if p.Properties.Has(packet.PropSubscriptionIdentifier) {
		if !b.lim.SubscriptionIdentifiers {
			return fail(packet.SubscriptionIdentifiersNotSupported, "subscription identifiers are disabled")
		}
		subID = p.Properties.SubscriptionIdentifiers[0]
	}
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	var retained []*subscription
	for i := range p.Subscriptions {
		sub, isNew, code := c.subscribeOne(&p.Subscriptions[i], subID)
		codes[i] = code
		if sub != nil && !code.IsError() && sub.shared == "" {
			rh := sub.opts.RetainHandling
			if rh == 0 || (rh == 1 && isNew) { // [MQTT-3.3.1-9] [MQTT-3.3.1-10]
				retained = append(retained, sub)
			}
		}
	}
	// A granted subscription of a persistent session is on disk before
	// SUBACK: messages acknowledged to publishers from now on are queued
	// for it across a crash.
	if err := c.syncBeforeControl(before); err != nil {
		return err
	}
	c.send(&packet.Suback{PacketID: p.PacketID, ReasonCodes: codes})
	for _, sub := range retained {
		b.sendRetained(sub)
	}
	return nil
}

// subscribeOne validates, authorizes and stores one filter.
func (c *conn) subscribeOne(req *packet.Subscription, subID uint32) (*subscription, bool, packet.ReasonCode) {
	b := c.b
	filter := req.Filter
	group, inner, shared, err := topic.ParseShared(filter)
	switch {
	case err != nil:
		return nil, false, packet.TopicFilterInvalid
	case shared && !b.lim.SharedSubscriptions:
		return nil, false, packet.SharedSubscriptionsNotSupported
	case shared && req.NoLocal:
		return nil, false, packet.ProtocolError // [MQTT-3.8.3-4]
	}
	if !shared {
		inner = filter
	}
	if err := topic.ValidateFilter(inner, b.lim.Topic); err != nil {
		return nil, false, packet.TopicFilterInvalid
	}
	if topic.HasWildcard(inner) && !b.lim.WildcardSubscriptions {
		return nil, false, packet.WildcardSubscriptionsNotSupported
	}
	res := b.acl.Authorize(c.subject, acl.Request{Action: acl.Subscribe, Topic: filter, QoS: req.QoS})
	if res.Allowed && b.lim.NoRootWildcards && (inner[0] == '+' || inner[0] == '#') &&
		!slices.Contains(b.lim.RootWildcardIdentities, c.identityName()) {
		res = acl.Result{Rule: "acl.root_wildcards: false"}
	}
	if !res.Allowed {
		b.record(audit.Event{Kind: audit.ACLDenied, Listener: c.info.Listener, Remote: c.info.Remote,
			ClientID: c.clientID, Identity: c.identityName(), Reason: packet.NotAuthorized, Detail: "subscribe " + filter})
		return nil, false, packet.NotAuthorized
	}
	opts := *req
	opts.Filter = strings.Clone(filter)
	opts.QoS = min(opts.QoS, b.lim.MaxQoS, res.MaxQoS)
	sub := &subscription{filter: opts.Filter, opts: opts}
	if subID != 0 {
		sub.subIDs = []uint32{subID}
	}
	if shared {
		sub.shared = group + "\x00" + inner
	}
	isNew, ok := c.sess.addSubscription(sub)
	if !ok {
		return nil, false, packet.QuotaExceeded
	}
	return sub, isNew, packet.ReasonCode(opts.QoS)
}

func (c *conn) handleUnsubscribe(p *packet.Unsubscribe) error {
	before := c.b.writeMark()
	codes := make([]packet.ReasonCode, len(p.Filters))
	for i, f := range p.Filters {
		if c.sess.removeSubscription(f) {
			codes[i] = packet.Success
		} else {
			codes[i] = packet.NoSubscriptionExisted
		}
	}
	if err := c.syncBeforeControl(before); err != nil {
		return err
	}
	c.send(&packet.Unsuback{PacketID: p.PacketID, ReasonCodes: codes})
	return nil
}

// handleAuth runs MQTT 5 re-authentication (AUTH 0x19, then 0x18 rounds)
// with the method used at CONNECT [MQTT-4.12.1-1].
func (c *conn) handleAuth(p *packet.Auth) error {
	if c.authMethod == "" {
		return fail(packet.ProtocolError, "AUTH without an authentication method at CONNECT") // [MQTT-4.12.0-6] / 3.15
	}
	if p.Properties.AuthenticationMethod != c.authMethod {
		return fail(packet.ProtocolError, "AUTH with another authentication method")
	}
	switch {
	case p.ReasonCode == packet.ReAuthenticate && c.reauth == nil:
		c.reauth = &reauthState{}
	case p.ReasonCode == packet.ContinueAuthentication && c.reauth != nil:
	default:
		return fail(packet.ProtocolError, "unexpected AUTH reason code")
	}
	return c.reauthStep(p)
}
