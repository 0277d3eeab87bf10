package httpauth

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
)

// maxReason bounds the backend's reason quoted in a Detail or Rule.
const maxReason = 200

// authRequest is the body POSTed to AuthURL. Absent user name, password
// and certificate identity are null. ProtocolVersion is the CONNECT
// protocol level: 3 (3.1), 4 (3.1.1) or 5 (5.0).
type authRequest struct {
	Listener        string  `json:"listener"`
	Remote          string  `json:"remote"`
	ClientID        string  `json:"client_id"`
	Username        *string `json:"username"`
	Password        *string `json:"password"`
	CertIdentity    *string `json:"cert_identity"`
	ProtocolVersion int     `json:"protocol_version"`
}

// authAnswer is the body of a 200 answer from AuthURL. Unknown fields are
// ignored: none of them can grant anything.
type authAnswer struct {
	Result   string   `json:"result"`
	Identity string   `json:"identity"`
	Groups   []string `json:"groups"`
	Reason   string   `json:"reason"`
}

// authEntry is a decided answer, as cached.
type authEntry struct {
	allow  bool
	name   string
	groups []string
	detail string // on deny
}

// Authenticate implements auth.Authenticator. It abstains for MQTT 5
// enhanced authentication and for a client with neither a user name nor
// a certificate identity. Otherwise the backend, or the cache, decides;
// a failed or malformed exchange denies with NotAuthorized. The request
// lasts at most the Timeout, and never beyond ctx.
func (b *Backend) Authenticate(ctx context.Context, r *auth.Request) (auth.Result, error) {
	if r.Method != "" || (!r.HasUsername && r.CertIdentity == "") {
		return auth.Result{}, nil
	}
	if r.HasPassword && !utf8.Valid(r.Password) {
		return denied(packet.BadUserNameOrPassword, "password is not valid UTF-8 and cannot be sent as JSON"), nil
	}
	key := b.authKey(r)
	if e, ok := b.authCache.get(key, b.now()); ok {
		return e.result(" (cached)"), nil
	}
	body, fail := b.post(ctx, &b.authURL, newAuthRequest(r))
	if fail != "" {
		b.logFailure("auth", fail)
		return denied(packet.NotAuthorized, fail), nil
	}
	e, fail := parseAuthAnswer(body, r)
	if fail != "" {
		fail = "malformed answer from " + b.authURL.redacted + ": " + fail
		b.logFailure("auth", fail)
		return denied(packet.NotAuthorized, fail), nil
	}
	ttl := b.allowTTL
	if !e.allow {
		ttl = b.denyTTL
	}
	b.authCache.put(key, e, ttl, b.now())
	return e.result(""), nil
}

// authKey covers every field sent except the remote port, which changes
// with each connection: an answer is reused for the same address.
func (b *Backend) authKey(r *auth.Request) cacheKey {
	s := b.keys.start('A')
	s.str(r.Listener)
	a := r.Remote.Addr().As16()
	s.flag(r.Remote.IsValid())
	s.bytes(a[:])
	s.byte(byte(r.Version))
	s.str(r.ClientID)
	s.flag(r.HasUsername)
	s.str(r.Username)
	s.flag(r.HasPassword)
	s.bytes(r.Password)
	s.str(r.CertIdentity)
	return b.keys.sum(s)
}

func newAuthRequest(r *auth.Request) *authRequest {
	q := &authRequest{Listener: r.Listener, ClientID: r.ClientID, ProtocolVersion: int(r.Version)}
	if r.Remote.IsValid() {
		q.Remote = r.Remote.String()
	}
	if r.HasUsername {
		q.Username = &r.Username
	}
	if r.HasPassword {
		p := string(r.Password)
		q.Password = &p
	}
	if r.CertIdentity != "" {
		q.CertIdentity = &r.CertIdentity
	}
	return q
}

// parseAuthAnswer decodes a 200 body. The identity defaults to the user
// name, else the certificate identity.
func parseAuthAnswer(body []byte, r *auth.Request) (authEntry, string) {
	var a authAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return authEntry{}, "not a JSON object of the expected shape"
	}
	switch a.Result {
	case "allow":
		name := a.Identity
		if name == "" {
			name = r.Username
		}
		if name == "" {
			name = r.CertIdentity
		}
		if name == "" {
			return authEntry{}, "allow without an identity for a client with an empty user name"
		}
		if slices.Contains(a.Groups, "") {
			return authEntry{}, "empty group name"
		}
		return authEntry{allow: true, name: name, groups: a.Groups}, ""
	case "deny":
		detail := "denied by the backend"
		if a.Reason != "" {
			detail += ": " + quoteReason(a.Reason, r.Password)
		}
		return authEntry{detail: detail}, ""
	}
	return authEntry{}, "result is neither \"allow\" nor \"deny\""
}

// result builds a fresh Result, so that callers never share an Identity.
func (e authEntry) result(suffix string) auth.Result {
	if !e.allow {
		return denied(packet.BadUserNameOrPassword, e.detail+suffix)
	}
	id := &auth.Identity{Name: e.name, Groups: slices.Clone(e.groups), Method: "http"}
	return auth.Result{Decision: auth.Allow, Identity: id}
}

func denied(code packet.ReasonCode, detail string) auth.Result {
	return auth.Result{Decision: auth.Deny, Reason: code, Detail: "http: " + detail}
}

// quoteReason makes the backend's reason safe for a log line: bounded,
// without control characters, and withheld if it echoes the password.
func quoteReason(reason string, password []byte) string {
	if len(password) > 0 && strings.Contains(reason, string(password)) {
		return "(withheld: it contains the password)"
	}
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "..."
	}
	return strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return '?'
		}
		return c
	}, strings.ToValidUTF8(reason, "?"))
}
