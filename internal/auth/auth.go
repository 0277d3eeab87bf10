// Package auth defines how Moat decides who a client is: the Authenticator
// seam, the Identity it produces, and the Chain that runs authenticators
// in configured order and fails closed.
//
// A decision is Allow, Deny, Continue (MQTT 5 enhanced authentication wants
// another AUTH round trip) or Abstain (this method does not apply). An
// error denies. A chain in which every authenticator abstains denies.
package auth

import (
	"context"
	"crypto"
	"net/netip"
	"slices"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// Decision is an authenticator's answer.
type Decision uint8

// Decisions. The zero value abstains.
const (
	Abstain  Decision = iota // the method does not apply; the chain asks the next
	Allow                    // authenticated; Result.Identity is set
	Deny                     // refused; Result.Reason says why
	Continue                 // enhanced auth: send Result.Data in AUTH 0x18 and wait
)

func (d Decision) String() string {
	return [...]string{"abstain", "allow", "deny", "continue"}[d]
}

// Identity is who a client is, after authentication. It is immutable once
// the connection is accepted and is shared by the ACL and the audit log.
type Identity struct {
	Name      string   // user name, certificate identity or token subject
	Groups    []string // for ACL group rules
	Method    string   // "anonymous", "password", "certificate", ...
	Anonymous bool
	// Topics, when not nil, restricts this identity to the topic filters
	// its credential names (a token's topics claim), on top of the ACL.
	Topics *TopicGrant
	// SigningKeys are message-signing public keys the credential vouches
	// for (a token's signing_keys claim). Signed topics accept them for
	// this identity when the key registry allows it (token_keys).
	SigningKeys []SigningKey
}

// SigningKey is a public key a credential binds to its identity, for
// signed topics: an ed25519.PublicKey or a *ecdsa.PublicKey on P-256.
type SigningKey struct {
	ID     string // the kid messages carry
	Public crypto.PublicKey
}

// TopicGrant lists the topic filters a credential allows. Publish covers
// publish and retain; Subscribe covers subscribe and delivery. An empty
// list allows nothing for its actions.
type TopicGrant struct {
	Publish   []string
	Subscribe []string
}

// Request is what the broker knows when it asks for a decision. Password
// and Data are secrets: never log them.
type Request struct {
	Listener string
	Remote   netip.AddrPort
	Version  packet.Version
	ClientID string

	Username     string
	HasUsername  bool
	Password     []byte
	HasPassword  bool
	CertIdentity string   // identity from a verified client certificate, if any
	CertGroups   []string // groups from that certificate (tls.groups), if any
	// Methods, when not nil, lists the authenticator names this
	// listener accepts; the chain skips the others.
	Methods []string

	// Enhanced authentication (MQTT 5 AUTH exchange).
	Method string // Authentication Method, empty when not used
	Data   []byte // Authentication Data of the current step
	Step   int    // 0 for CONNECT, 1.. for each following AUTH
	State  any    // what the authenticator returned in Result.State last step
	ReAuth bool   // the exchange is a re-authentication (AUTH 0x19)
}

// Result is an authenticator's answer to one Request.
type Result struct {
	Decision Decision
	Identity *Identity         // set on Allow
	Reason   packet.ReasonCode // on Deny: 0x86, 0x87, 0x8A, 0x8C, ...
	Data     []byte            // Authentication Data for the AUTH packet to send
	State    any               // handed back in the next Request of the exchange
	Detail   string            // why, for the log and audit (never a secret)
	// Expires, on Allow, is when the credential stops being valid (a
	// token's exp); the broker ends the connection then unless the client
	// re-authenticates. Zero: no end.
	Expires time.Time
	// Release, on Allow, is called once when the connection that the
	// credential admitted ends; nil when there is nothing to do. An
	// authenticator that caches verified credentials keeps one cached
	// while a connection uses it.
	Release func()
}

// Authenticator decides one authentication step.
type Authenticator interface {
	// Name identifies the method in logs, audit and metrics.
	Name() string
	// Authenticate answers one step. It must not block beyond ctx.
	Authenticate(ctx context.Context, r *Request) (Result, error)
}

// Chain runs authenticators in their configured order: the first that does
// not abstain decides. Errors deny. An empty chain, or one where all
// abstain, denies with BadUserNameOrPassword (or BadAuthenticationMethod
// when an enhanced method was asked for).
type Chain []Authenticator

// Authenticate runs the chain.
func (c Chain) Authenticate(ctx context.Context, r *Request) (Result, string) {
	for _, a := range c {
		if r.Methods != nil && !slices.Contains(r.Methods, a.Name()) {
			continue
		}
		res, err := a.Authenticate(ctx, r)
		if err != nil {
			return Result{Decision: Deny, Reason: packet.NotAuthorized, Detail: a.Name() + ": " + err.Error()}, a.Name()
		}
		if res.Decision == Allow && res.Identity == nil {
			return Result{Decision: Deny, Reason: packet.NotAuthorized, Detail: a.Name() + ": allow without identity"}, a.Name()
		}
		if res.Decision != Abstain {
			return res, a.Name()
		}
	}
	if r.Method != "" {
		return Result{Decision: Deny, Reason: packet.BadAuthenticationMethod, Detail: "no authenticator for method " + r.Method}, ""
	}
	return Result{Decision: Deny, Reason: packet.BadUserNameOrPassword, Detail: "no authenticator accepted the client"}, ""
}

// Anonymous allows every client that does not ask for enhanced
// authentication, with the identity "anonymous". It is in the chain only
// when auth.allow_anonymous is set, which the configuration refuses on
// non-loopback listeners unless allow_insecure acknowledges the risk.
type Anonymous struct{}

var _ Authenticator = Anonymous{}

var anonymousIdentity = &Identity{Name: "anonymous", Method: "anonymous", Anonymous: true}

// Name implements Authenticator.
func (Anonymous) Name() string { return "anonymous" }

// Authenticate implements Authenticator.
func (Anonymous) Authenticate(_ context.Context, r *Request) (Result, error) {
	if r.Method != "" {
		return Result{}, nil
	}
	return Result{Decision: Allow, Identity: anonymousIdentity}, nil
}
