package broker

import (
	"slices"
	"strings"

	"crypto/sha256"
	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/topic"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/signed"
)

// checkSigned enforces the signed-topics policy on a PUBLISH the ACL
// allowed: on a signed topic the message must carry a fresh, valid
// signature from the publisher's own key (docs/signed-topics.md). It
// returns the refusal code (0: accepted), whether the connection must be
// closed (an MQTT 3.x publisher whose rule says so), and whether the
// message is a retransmission of one already accepted (to acknowledge
// without routing it again).
func (c *conn) checkSigned(p *packet.Publish, m *session.Message) (code packet.ReasonCode, disconnect, resent bool) {
	v := c.b.signed
	if v == nil || !v.Signed(p.Topic) {
		return 0, false, false
	}
	msg := &signed.Message{Topic: p.Topic, Identity: c.identityName(), Version: c.version,
		Payload: p.Payload, Retain: p.Retain}
	if c.version == packet.V5 {
		msg.Properties = &p.Properties
	}
	msg.CertKey = c.certPublicKey()
	if c.subject != nil && c.subject.Identity != nil {
		msg.TokenKeys = c.subject.Identity.SigningKeys
	}
	d, why := v.Check(msg)
	if why == signed.OK {
		if !d.Expiry.IsZero() && (m.Expiry.IsZero() || d.Expiry.Before(m.Expiry)) {
			m.Expiry = d.Expiry // the signed expiry caps delivery
		}
		if p.QoS == 1 {
			c.sess.acceptedSigned(p.PacketID, signedDigest(p), int(c.b.lim.ReceiveMaximum))
		}
		return 0, false, false
	}
	if why == signed.ReasonReplayed && p.Dup && p.QoS == 1 && c.sess.isSignedResend(p.PacketID, signedDigest(p)) {
		// A QoS 1 retransmission (DUP, same packet id, same session, same
		// bytes) of a message accepted before: acknowledge, do not deliver
		// twice. Any other replay is refused and audited below. (QoS 2
		// duplicates never get here.)
		return 0, false, true
	}
	c.b.metrics.SignedRefused.Add(why.String(), 1)
	c.b.log.Debug("message refused on a signed topic", "client_id", c.clientID, "topic", p.Topic,
		"reason", why.String(), "rule", d.Rule, "kid", d.KeyID)
	detail := "signed topic " + p.Topic + ": " + why.String() + " (rule " + d.Rule
	if d.KeyID != "" {
		detail += ", key " + d.KeyID
	}
	c.b.record(audit.Event{Kind: audit.ACLDenied, Listener: c.info.Listener, Remote: c.info.Remote,
		ClientID: c.clientID, Identity: c.identityName(), Reason: d.Code, Detail: detail + ")"})
	return d.Code, d.Disconnect, false
}

// certPublicKey returns the public key of the connection's verified client
// certificate when the connection's authenticated identity is the
// certificate's, for registries that let identities sign with it
// (certificate_keys); nil otherwise. The listener took it from the TLS
// state at accept (tls and wss alike).
func (c *conn) certPublicKey() any {
	if c.info.CertIdentity == "" || c.info.CertIdentity != c.identityName() {
		return nil
	}
	return c.info.CertPublicKey
}

// signedDigest identifies a signed PUBLISH by what its signature covers
// and carries: topic, payload and user properties.
func signedDigest(p *packet.Publish) [16]byte {
	h := sha256.New()
	h.Write([]byte(p.Topic))
	h.Write([]byte{0})
	h.Write(p.Payload)
	for _, up := range p.Properties.UserProperties {
		h.Write([]byte{0})
		h.Write([]byte(up.Key))
		h.Write([]byte{0})
		h.Write([]byte(up.Value))
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// signedAccepted is a signed QoS 1 message the session's publisher got
// accepted, remembered so that its retransmission is told from a replay.
type signedAccepted struct {
	id     uint16
	digest [16]byte
}

// acceptedSigned remembers an accepted signed QoS 1 message; the last
// limit of them are kept (a client retransmits at most its Receive
// Maximum of unacknowledged messages).
func (s *Session) acceptedSigned(id uint16, digest [16]byte, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := signedAccepted{id: id, digest: digest}
	if len(s.signedSeen) < limit {
		s.signedSeen = append(s.signedSeen, e)
		return
	}
	s.signedSeen[s.signedNext%len(s.signedSeen)] = e
	s.signedNext++
}

// isSignedResend reports whether a message with this packet id and these
// bytes was accepted in this session.
func (s *Session) isSignedResend(id uint16, digest [16]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.signedSeen {
		if e.id == id && e.digest == digest {
			return true
		}
	}
	return false
}

// PublishKeyBindings publishes, retained, each identity's operator-signed
// key bindings on acl.KeysPrefix+identity (a registry of that identity's
// keys, see signed.Keys.OperatorBindings) and clears the topics of
// identities no longer there. Clients cannot write these topics (the ACL's
// builtin rule) and they are not stored: the broker publishes them at
// every start and key reload. It returns the identities whose name cannot
// be a topic level (with '/', '+', '#' or NUL), which are not published.
func (b *Broker) PublishKeyBindings(bindings map[string][]byte) (skipped []string) {
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	next := make(map[string]bool, len(bindings))
	ids := make([]string, 0, len(bindings))
	for id := range bindings {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		name := acl.KeysPrefix + id
		if id == "" || strings.ContainsAny(id, "/+#\x00") || topic.ValidateName(name, b.lim.Topic) != nil {
			skipped = append(skipped, id)
			continue
		}
		next[id] = true
		b.Publish(name, bindings[id], 1, true)
	}
	for id := range b.keysPublished {
		if !next[id] {
			b.Publish(acl.KeysPrefix+id, nil, 1, true) // clears the retained binding
		}
	}
	b.keysPublished = next
	return skipped
}
