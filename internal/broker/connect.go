package broker

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/limits"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/topic"
)

// maxAuthSteps bounds an enhanced authentication exchange.
const maxAuthSteps = 8

// connect reads and answers CONNECT. It reports whether the connection is
// accepted; on refusal it has already written the CONNACK (when one is
// due) and recorded why.
func (c *conn) connect() bool {
	b := c.b
	_ = c.nc.SetReadDeadline(time.Now().Add(b.lim.ConnectTimeout))
	h, body, err := c.r.ReadRaw(0)
	var pk packet.Packet
	if err == nil {
		pk, err = packet.Decode(h, body, 0)
	}
	if err != nil {
		c.refuseDecode(pk, body, err)
		return false
	}
	cp := pk.(*packet.Connect)
	c.version = cp.Version
	if code, why := c.checkConnect(cp); code != 0 {
		c.refuse(code, why, cp)
		return false
	}
	client := &limits.Client{Listener: c.info.Listener, Remote: c.info.Remote, Version: c.version,
		ClientID: c.clientID, Username: strings.Clone(cp.Username)}
	if code := b.memoryRefusal(); code != 0 {
		c.refuse(code, "over the memory budget", cp)
		return false
	}
	if code := b.admit.Connect(client); code != 0 {
		c.refuse(code, "not admitted", cp)
		return false
	}
	c.admitted = client // Closed is due from here on
	res, err := c.authenticate(cp)
	clear(cp.Password) // the secret is not needed any more
	if err != nil {
		return false
	}
	c.holdCredential(res.Release)
	id := res.Identity
	client.Identity = id
	if !c.clientIDAllowed(cp.ClientID, id) {
		c.refuse(packet.ClientIdentifierNotValid, "client identifier not allowed for identity "+id.Name, cp)
		return false
	}
	if code := b.admit.Authenticated(client); code != 0 {
		c.refuse(code, "not admitted after authentication", cp)
		return false
	}
	c.subject = &acl.Subject{ClientID: c.clientID, Username: strings.Clone(cp.Username), Identity: id}
	c.acquireIdentityBucket(id.Name) // a reload may set an identity rate later
	if code, why := c.setWill(cp); code != 0 {
		c.refuse(code, why, cp)
		return false
	}
	c.applyClientLimits(cp)
	expiry := c.sessionExpiry(cp)
	before := b.writeMark()
	s, present, err := b.attach(c, cp.CleanStart, expiry)
	if errors.Is(err, errNotOwner) {
		b.record(audit.Event{Kind: audit.SessionTakeoverRefused, Listener: c.info.Listener, Remote: c.info.Remote,
			ClientID: c.clientID, Identity: id.Name, Reason: packet.NotAuthorized, Detail: err.Error()})
		c.refuse(packet.NotAuthorized, err.Error(), cp)
		return false
	}
	if err != nil {
		c.refuse(packet.ServerUnavailable, err.Error(), cp)
		return false
	}
	c.sess = s
	if err := b.durableTo(b.markSince(before)); err != nil {
		// The next acknowledgement that needs the store ends the
		// connection; the session itself is in memory.
		b.log.Error("store: sync failed after CONNECT", "client_id", c.clientID, "error", err)
	}
	ack := c.connack(cp, present, expiry)
	_ = c.nc.SetReadDeadline(time.Time{})
	b.record(audit.Event{Kind: audit.ConnectionAccepted, Listener: c.info.Listener, Remote: c.info.Remote,
		ClientID: c.clientID, Identity: id.Name})
	b.log.Debug("client connected", "client_id", c.clientID, "remote", c.info.Remote, "listener", c.info.Listener,
		"version", c.version.String(), "session_present", present)
	s.mu.Lock()
	c.send(ack) // CONNACK goes first, then the resumed window
	s.resumeLocked(c)
	s.mu.Unlock()
	c.expireAt(res.Expires)
	return true
}

// checkConnect applies the broker's rules to a well-formed CONNECT and sets
// the client id (assigning one when it is empty).
func (c *conn) checkConnect(cp *packet.Connect) (packet.ReasonCode, string) {
	lim := &c.b.lim
	if cp.Version == packet.V31 && !lim.AllowMQTT31 {
		return packet.UnsupportedProtocolVersion, "MQTT 3.1 is disabled"
	}
	if len(cp.ClientID) > lim.MaxClientIDLength {
		return packet.ClientIdentifierNotValid, "client identifier too long"
	}
	if id := cp.ClientID; !lim.Topic.AllowControl && strings.ContainsFunc(id, unicode.IsControl) {
		return packet.ClientIdentifierNotValid, "client identifier contains a control character"
	}
	if lim.ClientIDPattern != nil && cp.ClientID != "" && !lim.ClientIDPattern.MatchString(cp.ClientID) {
		return packet.ClientIdentifierNotValid, "client identifier does not match mqtt.client_id_pattern"
	}
	c.clientID = strings.Clone(cp.ClientID)
	if c.clientID == "" {
		switch {
		case !lim.AllowEmptyClientID:
			return packet.ClientIdentifierNotValid, "empty client identifier refused by configuration"
		case cp.Version == packet.V31:
			return packet.ClientIdentifierNotValid, "MQTT 3.1 requires a client identifier"
		case cp.Version == packet.V311 && !cp.CleanStart:
			return packet.ClientIdentifierNotValid, "empty client identifier needs clean session" // [MQTT-3.1.3-8]
		}
		c.clientID = c.b.assignClientID() // [MQTT-3.1.3-6]
	}
	if cp.WillFlag {
		if err := topic.ValidateName(cp.WillTopic, lim.Topic); err != nil {
			return packet.TopicNameInvalid, "will topic: " + err.Error()
		}
		if cp.WillQoS > lim.MaxQoS {
			return packet.QoSNotSupported, "will QoS above the maximum" // [MQTT-3.2.2-12]
		}
		if cp.WillRetain && !lim.RetainAvailable {
			return packet.RetainNotSupported, "retain is not available" // [MQTT-3.2.2-13]
		}
		if cp.WillProperties.Has(packet.PropPayloadFormat) && cp.WillProperties.PayloadFormat == 1 && !utf8.Valid(cp.WillPayload) {
			return packet.PayloadFormatInvalid, "will payload is not UTF-8" // [MQTT-3.1.3-11]
		}
	}
	if c.info.RequireCertificate && c.info.CertIdentity == "" {
		return packet.NotAuthorized, "a client certificate is required on this listener"
	}
	if c.info.RequireUsernameMatch && (c.info.CertIdentity == "" || !cp.UsernameFlag || cp.Username != c.info.CertIdentity) {
		return packet.NotAuthorized, "user name does not match the client certificate identity"
	}
	return 0, ""
}

func (b *Broker) assignClientID() string {
	var r [10]byte
	_, _ = rand.Read(r[:])
	return "moat-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(r[:]))
}

// authenticate runs the authentication chain, including the MQTT 5 AUTH
// exchange. On failure it refuses the connection itself.
func (c *conn) authenticate(cp *packet.Connect) (auth.Result, error) {
	b := c.b
	req := &auth.Request{
		Listener:     c.info.Listener,
		Remote:       c.info.Remote,
		Version:      cp.Version,
		ClientID:     c.clientID,
		Username:     cp.Username,
		HasUsername:  cp.UsernameFlag,
		Password:     cp.Password,
		HasPassword:  cp.PasswordFlag,
		CertIdentity: c.info.CertIdentity,
		CertGroups:   c.info.CertGroups,
		Methods:      c.info.Methods,
		Method:       cp.Properties.AuthenticationMethod,
		Data:         cp.Properties.AuthenticationData,
	}
	c.authMethod = strings.Clone(req.Method)
	ctx, cancel := context.WithTimeout(context.Background(), b.lim.ConnectTimeout)
	defer cancel()
	for {
		res, method := b.auth.Authenticate(ctx, req)
		switch res.Decision {
		case auth.Allow:
			if req.Method != "" {
				// The last server data goes in CONNACK [MQTT-4.12.0-?].
				c.authData = res.Data
			}
			b.metrics.Auth.Add(authLabel(method)+"/ok", 1)
			return res, nil
		case auth.Continue:
			if req.Method == "" || req.Step >= maxAuthSteps {
				break
			}
			if err := c.authRound(req, res); err != nil {
				return auth.Result{}, err
			}
			continue
		}
		code := res.Reason
		if code == 0 || !code.IsError() {
			code = packet.NotAuthorized
		}
		b.metrics.Auth.Add(authLabel(method)+"/failed", 1)
		b.record(audit.Event{Kind: audit.AuthFailure, Listener: c.info.Listener, Remote: c.info.Remote,
			ClientID: c.clientID, Identity: cp.Username, Method: method, Reason: code, Detail: res.Detail})
		if d := b.admit.AuthFailed(c.admitted); d > 0 {
			b.pause(d) // brute-force slow-down before the refusal
		}
		c.refuse(code, "authentication failed: "+res.Detail, cp)
		return auth.Result{}, errors.New("authentication failed")
	}
}

// clientIDAllowed applies the per-identity client id rules
// (auth.client_ids): %u is the identity's name, taken literally, and a
// trailing * any rest. An id the broker assigned is always allowed.
func (c *conn) clientIDAllowed(sent string, id *auth.Identity) bool {
	rules := c.b.lim.ClientIDs
	if len(rules) == 0 || sent == "" {
		return true
	}
	for _, r := range rules {
		body, prefix := strings.CutSuffix(r, "*")
		want := strings.ReplaceAll(body, "%u", id.Name)
		if sent == want || prefix && strings.HasPrefix(sent, want) {
			return true
		}
	}
	return false
}

// expireAt ends the connection when its credential expires, unless a
// re-authentication moves the end first. Zero: no end.
func (c *conn) expireAt(t time.Time) {
	if c.credTimer != nil {
		c.credTimer.Stop()
		c.credTimer = nil
	}
	if t.IsZero() {
		return
	}
	name := c.identityName() // c.subject belongs to the read loop; the name never changes
	c.credTimer = time.AfterFunc(time.Until(t), func() {
		c.b.record(audit.Event{Kind: audit.ClientDisconnected, Listener: c.info.Listener, Remote: c.info.Remote,
			ClientID: c.clientID, Identity: name, Reason: packet.MaximumConnectTime,
			Detail: "credential expired"})
		c.kick(packet.MaximumConnectTime, "credential expired; re-authenticate before it does to stay connected")
	})
}

// authRound sends AUTH 0x18 with the authenticator's data and reads the
// client's next AUTH [MQTT-4.12.0-2].
func (c *conn) authRound(req *auth.Request, res auth.Result) error {
	var p packet.Properties
	p.AuthenticationMethod = req.Method
	p.Set(packet.PropAuthenticationMethod)
	if res.Data != nil {
		p.AuthenticationData = res.Data
		p.Set(packet.PropAuthenticationData)
	}
	if err := c.writeDirect(&packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: p}); err != nil {
		return err
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.b.lim.ConnectTimeout))
	pk, err := c.r.ReadPacket(c.version)
	if err != nil {
		c.refuseDecode(nil, nil, err)
		return err
	}
	a, ok := pk.(*packet.Auth)
	if !ok || a.ReasonCode != packet.ContinueAuthentication {
		c.refuse(packet.ProtocolError, "expected AUTH during authentication", nil)
		return errors.New("protocol error in AUTH exchange")
	}
	if a.Properties.AuthenticationMethod != req.Method { // [MQTT-4.12.0-5]
		c.refuse(packet.BadAuthenticationMethod, "authentication method changed", nil)
		return errors.New("authentication method changed")
	}
	req.Data, req.State, req.Step = a.Properties.AuthenticationData, res.State, req.Step+1
	return nil
}

// setWill validates the will against the ACL at CONNECT and keeps it.
func (c *conn) setWill(cp *packet.Connect) (packet.ReasonCode, string) {
	if !cp.WillFlag {
		return 0, ""
	}
	m := &session.Message{
		Topic:      strings.Clone(cp.WillTopic),
		Payload:    append([]byte(nil), cp.WillPayload...),
		QoS:        cp.WillQoS,
		Retain:     cp.WillRetain,
		Properties: forwardable(&cp.WillProperties),
		Created:    time.Now(),
		Publisher:  c.clientID,
		SetBy:      c.identityName(),
	}
	if code := c.b.authorizePublish(c.subject, m); code != 0 {
		return code, "will not authorized"
	}
	c.will = &will{msg: m, delay: time.Duration(cp.WillProperties.WillDelayInterval) * time.Second, subject: c.subject}
	return 0, ""
}

// applyClientLimits records what the client told us about itself.
func (c *conn) applyClientLimits(cp *packet.Connect) {
	lim := &c.b.lim
	c.keepAlive = time.Duration(cp.KeepAlive) * time.Second
	c.recvMax = 65535
	if cp.Version == packet.V5 {
		if lim.MaxKeepAlive > 0 && (c.keepAlive == 0 || c.keepAlive > lim.MaxKeepAlive) {
			c.keepAlive = lim.MaxKeepAlive // advertised as Server Keep Alive
		}
		if lim.MinKeepAlive > 0 && c.keepAlive > 0 && c.keepAlive < lim.MinKeepAlive {
			c.keepAlive = lim.MinKeepAlive // fewer PINGREQs; advertised as Server Keep Alive
		}
		if cp.Properties.Has(packet.PropMaximumPacketSize) {
			c.maxOut = int(cp.Properties.MaximumPacketSize)
		}
		c.aliasOutMax = cp.Properties.TopicAliasMaximum
		if cp.Properties.Has(packet.PropReceiveMaximum) {
			c.recvMax = cp.Properties.ReceiveMaximum
		}
	}
}

// sessionExpiry is the session expiry interval in force for this
// connection: MQTT 5's property, or clean session for earlier versions,
// capped by configuration.
func (c *conn) sessionExpiry(cp *packet.Connect) time.Duration {
	max := c.b.lim.MaxSessionExpiry
	if cp.Version != packet.V5 {
		if cp.CleanStart {
			return 0
		}
		return max
	}
	e := time.Duration(cp.Properties.SessionExpiryInterval) * time.Second
	if cp.Properties.SessionExpiryInterval == 0xFFFFFFFF || e > max {
		return max
	}
	return e
}

// connack builds the CONNACK with the properties MQTT 5 clients need.
func (c *conn) connack(cp *packet.Connect, present bool, expiry time.Duration) *packet.Connack {
	ack := &packet.Connack{SessionPresent: present}
	if c.version != packet.V5 {
		return ack
	}
	lim := &c.b.lim
	p := &ack.Properties
	p.ReceiveMaximum = lim.ReceiveMaximum
	p.Set(packet.PropReceiveMaximum)
	p.MaximumPacketSize = uint32(lim.MaxPacketSize)
	p.Set(packet.PropMaximumPacketSize)
	p.TopicAliasMaximum = lim.TopicAliasMaximum
	p.Set(packet.PropTopicAliasMaximum)
	if lim.MaxQoS < 2 {
		p.MaximumQoS = lim.MaxQoS
		p.Set(packet.PropMaximumQoS)
	}
	setFlag := func(id packet.PropID, v *byte, on bool) {
		if !on {
			*v = 0
			p.Set(id)
		}
	}
	setFlag(packet.PropRetainAvailable, &p.RetainAvailable, lim.RetainAvailable)
	setFlag(packet.PropWildcardSubscriptionAvailable, &p.WildcardSubscriptionAvailable, lim.WildcardSubscriptions)
	setFlag(packet.PropSubscriptionIdentifierAvailable, &p.SubscriptionIdentifierAvailable, lim.SubscriptionIdentifiers)
	setFlag(packet.PropSharedSubscriptionAvailable, &p.SharedSubscriptionAvailable, lim.SharedSubscriptions)
	if cp.ClientID == "" {
		p.AssignedClientIdentifier = c.clientID
		p.Set(packet.PropAssignedClientIdentifier)
	}
	if want := time.Duration(cp.Properties.SessionExpiryInterval) * time.Second; want != expiry &&
		cp.Properties.SessionExpiryInterval != 0 {
		p.SessionExpiryInterval = uint32(expiry / time.Second)
		p.Set(packet.PropSessionExpiryInterval)
	}
	if c.keepAlive != time.Duration(cp.KeepAlive)*time.Second {
		p.ServerKeepAlive = uint16(c.keepAlive / time.Second)
		p.Set(packet.PropServerKeepAlive)
	}
	if cp.Properties.RequestResponseInformation == 1 {
		p.ResponseInformation = "response/" + c.clientID
		p.Set(packet.PropResponseInformation)
	}
	if c.authMethod != "" {
		p.AuthenticationMethod = c.authMethod
		p.Set(packet.PropAuthenticationMethod)
		if c.authData != nil {
			p.AuthenticationData = c.authData
			p.Set(packet.PropAuthenticationData)
		}
	}
	return ack
}

// refuseDecode answers a CONNECT (or, during enhanced authentication, an
// AUTH) that could not be decoded: MQTT 5 gets a CONNACK with the reason
// [MQTT-3.1.4-1] [MQTT-4.13.1-1]; an unsupported protocol level gets the
// 3.1.1 return code 1 [MQTT-3.1.2-2]; anything else is closed without
// CONNACK [MQTT-3.1.4-1]. body is the undecodable CONNECT's body (nil when
// the fixed header was refused), read for its protocol level.
func (c *conn) refuseDecode(pk packet.Packet, body []byte, err error) {
	var pe *packet.Error
	if !errors.As(err, &pe) {
		if isTimeout(err) {
			c.b.log.Debug("no CONNECT in time", "remote", c.info.Remote, "listener", c.info.Listener)
			c.b.metrics.Refused[packet.MaximumConnectTime].Add(1)
		}
		return
	}
	cp, _ := pk.(*packet.Connect)
	switch {
	case pe.Code == packet.UnsupportedProtocolVersion:
		c.version = packet.V311
	case c.version != 0:
		// The AUTH exchange: the version is the CONNECT's.
	case cp != nil && cp.Version == packet.V5, connectLevel(body) == packet.V5:
		c.version = packet.V5
	}
	c.refuse(pe.Code, err.Error(), cp)
}

// connectLevel reads the protocol level of a CONNECT body that failed to
// decode: V5 when it starts with the protocol name "MQTT" and level 5,
// whatever follows; 0 otherwise. A body that does not name MQTT gets no
// answer [MQTT-3.1.2-1].
func connectLevel(body []byte) packet.Version {
	const name = "\x00\x04MQTT"
	if len(body) > len(name) && string(body[:len(name)]) == name && packet.Version(body[len(name)]) == packet.V5 {
		return packet.V5
	}
	return 0
}

// refuse writes the refusal CONNACK (when the version is known), records
// the refusal and lets the caller close.
func (c *conn) refuse(code packet.ReasonCode, why string, cp *packet.Connect) {
	b := c.b
	b.metrics.Refused[code].Add(1)
	user := ""
	if cp != nil {
		user = cp.Username
	}
	b.record(audit.Event{Kind: audit.ConnectionRefused, Listener: c.info.Listener, Remote: c.info.Remote,
		ClientID: c.clientID, Identity: user, Reason: code, Detail: why})
	b.log.Info("connection refused", "remote", c.info.Remote, "listener", c.info.Listener,
		"client_id", c.clientID, "reason", code.String(), "detail", why)
	if c.version == 0 {
		return
	}
	ack := &packet.Connack{ReasonCode: code}
	if c.version == packet.V5 {
		ack.Properties.ReasonString = why
		ack.Properties.Set(packet.PropReasonString)
		if cp != nil && cp.Properties.Has(packet.PropMaximumPacketSize) {
			// Never over the client's Maximum Packet Size [MQTT-3.1.2-24]:
			// the Reason String goes first [MQTT-3.1.2-25], then the CONNACK.
			max := int(cp.Properties.MaximumPacketSize)
			if packet.Size(ack, c.version) > max {
				ack.Properties.DropDiagnostics()
			}
			if packet.Size(ack, c.version) > max {
				return
			}
		}
	}
	_ = c.writeDirect(ack)
}

// writeDirect writes one packet synchronously, before the writer runs.
func (c *conn) writeDirect(p packet.Packet) error {
	buf, err := packet.Append(nil, p, c.version)
	if err != nil {
		return err
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.b.lim.WriteTimeout))
	_, err = c.nc.Write(buf)
	return err
}

// forwardable keeps the properties of a PUBLISH (or will) that travel to
// subscribers [MQTT-3.3.2-4..20].
func forwardable(p *packet.Properties) packet.Properties {
	const keep = 1<<packet.PropPayloadFormat | 1<<packet.PropContentType | 1<<packet.PropResponseTopic |
		1<<packet.PropCorrelationData | 1<<packet.PropUserProperty | 1<<packet.PropMessageExpiryInterval
	var out packet.Properties
	if p.Present&keep == 0 && len(p.UserProperties) == 0 {
		return out
	}
	out.Present = p.Present & keep
	out.PayloadFormat = p.PayloadFormat
	out.MessageExpiryInterval = p.MessageExpiryInterval
	out.ContentType = p.ContentType
	out.ResponseTopic = p.ResponseTopic
	out.CorrelationData = p.CorrelationData
	out.UserProperties = p.UserProperties
	return out
}

// authLabel is the metrics label of the authenticator that decided: its
// name, or "none" when none did.
func authLabel(method string) string {
	if method == "" {
		return "none"
	}
	return method
}
