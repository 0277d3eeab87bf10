package broker

import (
	"context"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
)

// reauthState is an MQTT 5 re-authentication in progress. Other packets
// keep flowing while it runs [MQTT-4.12.1-?].
type reauthState struct {
	step  int
	state any
}

// reauthStep asks the chain about one AUTH of a re-authentication and
// answers with AUTH 0x18 (continue), AUTH 0x00 (success) or a DISCONNECT.
func (c *conn) reauthStep(p *packet.Auth) error {
	b := c.b
	req := &auth.Request{
		Listener: c.info.Listener,
		Remote:   c.info.Remote,
		Version:  c.version,
		ClientID: c.clientID,
		Username: c.subject.Username,
		Method:   c.authMethod,
		Data:     p.Properties.AuthenticationData,
		Step:     c.reauth.step,
		State:    c.reauth.state,
		ReAuth:   true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.lim.ConnectTimeout)
	defer cancel()
	res, method := b.auth.Authenticate(ctx, req)
	var props packet.Properties
	props.AuthenticationMethod = c.authMethod
	props.Set(packet.PropAuthenticationMethod)
	if res.Data != nil {
		props.AuthenticationData = res.Data
		props.Set(packet.PropAuthenticationData)
	}
	switch res.Decision {
	case auth.Continue:
		if c.reauth.step < maxAuthSteps {
			c.reauth.step++
			c.reauth.state = res.State
			c.send(&packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: props})
			return nil
		}
	case auth.Allow:
		if res.Identity.Name != c.identityName() {
			// A connection keeps the identity it was accepted with.
			if res.Release != nil {
				res.Release()
			}
			res.Reason, res.Detail = packet.NotAuthorized, "re-authenticated as another identity"
			break
		}
		c.holdCredential(res.Release)
		c.reauth = nil
		c.expireAt(res.Expires)
		c.adopt(res.Identity)
		c.send(&packet.Auth{ReasonCode: packet.Success, Properties: props})
		return nil
	}
	code := res.Reason
	if !code.IsError() {
		code = packet.NotAuthorized
	}
	b.record(audit.Event{Kind: audit.AuthFailure, Listener: c.info.Listener, Remote: c.info.Remote,
		ClientID: c.clientID, Identity: c.identityName(), Reason: code, Detail: method + ": re-authentication: " + res.Detail})
	return fail(code, "re-authentication failed: "+res.Detail)
}

// adopt makes id, a fresh authentication of the connection's own
// identity, the one every later check uses: a new token's topics claim or
// groups apply at once, to the wills and subscriptions of the connection
// too (those the new identity may not hold are removed, audited). Runs on
// the read loop, which owns c.subject.
func (c *conn) adopt(id *auth.Identity) {
	old := c.subject
	subj := &acl.Subject{ClientID: c.clientID, Username: old.Username, Identity: id}
	c.subject = subj
	if c.will != nil {
		c.will.subject = subj
	}
	if c.sess != nil && c.sess.subject.CompareAndSwap(old, subj) {
		c.b.revalidateSession(c.sess, "subscription revoked by re-authentication: ")
	}
}
