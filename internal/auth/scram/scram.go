// Package scram authenticates MQTT 5 clients with SCRAM-SHA-256 and
// SCRAM-SHA-512 (RFC 5802, RFC 7677) in the enhanced authentication
// exchange, as the server:
//
//	CONNECT  method SCRAM-SHA-256, data client-first-message  (Step 0)
//	AUTH 18  data server-first-message                        (Continue)
//	AUTH 18  data client-final-message                        (Step 1)
//	CONNACK  data server-final-message                        (Allow)
//
// Re-authentication (AUTH 0x19) runs the same two steps.
//
// The server stores only StoredKey and ServerKey (see
// password.SCRAMCredential), so that the password never crosses the
// network and login costs the server a few HMACs, never a PBKDF2 run.
// Channel binding is not supported: a client asking for it ("p=") is
// denied, and no -PLUS mechanism is offered. User names are compared as
// sent, without SASLprep.
//
// All exchange state lives in auth.Result.State, which the broker keeps
// with the connection: the authenticator holds nothing a client can grow.
// A user who is unknown, or has no credential for the mechanism, is shown
// a salt derived from a per-process secret and the iteration count most
// users have, and fails at the proof like a wrong password: the messages
// have the same shape and the work is the same.
package scram

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strconv"
	"strings"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/packet"
)

// CredentialSource looks up SCRAM credentials; *password.Authenticator is
// one. Implementations are safe for concurrent use and return copies.
type CredentialSource interface {
	// SCRAM returns user's credential for mechanism and the user's groups;
	// ok is false when there is none.
	SCRAM(user, mechanism string) (cred password.SCRAMCredential, groups []string, ok bool)
	// SCRAMShape returns the iteration count and salt length most
	// credentials for mechanism have, or zeros when there are none.
	SCRAMShape(mechanism string) (iterations, saltLen int)
}

var _ CredentialSource = (*password.Authenticator)(nil)

// Options tune an Authenticator. The zero value is usable.
type Options struct {
	// DefaultIterations is the iteration count shown to unknown users
	// while the source holds no credential for the mechanism, and so
	// nothing to imitate. Zero means password.DefaultSCRAMIterations.
	DefaultIterations int

	nonce func() (string, error) // tests: the server nonce
}

// serverNonceLen is the number of random bytes in a server nonce.
const serverNonceLen = 24

// Authenticator runs SCRAM exchanges against a CredentialSource. It is
// safe for concurrent use and immutable after New.
type Authenticator struct {
	src    CredentialSource
	opts   Options
	secret []byte // per-process key for unknown users' stand-in credentials
}

var _ auth.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator over src.
func New(src CredentialSource, opts Options) (*Authenticator, error) {
	if src == nil {
		return nil, errors.New("scram: no credential source")
	}
	if opts.DefaultIterations == 0 {
		opts.DefaultIterations = password.DefaultSCRAMIterations
	}
	if opts.DefaultIterations < password.MinSCRAMIterations || opts.DefaultIterations > password.MaxSCRAMIterations {
		return nil, fmt.Errorf("scram: default iterations %d outside %d..%d",
			opts.DefaultIterations, password.MinSCRAMIterations, password.MaxSCRAMIterations)
	}
	if opts.nonce == nil {
		opts.nonce = randomNonce
	}
	a := &Authenticator{src: src, opts: opts, secret: make([]byte, 32)}
	if _, err := rand.Read(a.secret); err != nil {
		return nil, err
	}
	return a, nil
}

// mechanism is a supported SCRAM mechanism.
type mechanism struct {
	name string
	hash func() hash.Hash
	size int
}

var mechanisms = []*mechanism{
	{password.SCRAMSHA256, sha256.New, sha256.Size},
	{password.SCRAMSHA512, sha512.New, sha512.Size},
}

func lookupMechanism(name string) *mechanism {
	for _, m := range mechanisms {
		if m.name == name {
			return m
		}
	}
	return nil
}

// Mechanisms returns the Authentication Method names the Authenticator
// handles.
func Mechanisms() []string {
	out := make([]string, len(mechanisms))
	for i, m := range mechanisms {
		out[i] = m.name
	}
	return out
}

// Name implements auth.Authenticator.
func (a *Authenticator) Name() string { return "scram" }

// Authenticate implements auth.Authenticator. It abstains unless the
// Authentication Method is SCRAM; it denies an unsupported SCRAM mechanism
// with BadAuthenticationMethod and every failed exchange with
// NotAuthorized. It returns an error only when the server cannot do its
// part (no randomness, an unusable stored credential).
func (a *Authenticator) Authenticate(_ context.Context, r *auth.Request) (auth.Result, error) {
	if r.Method == "" {
		return auth.Result{}, nil
	}
	m := lookupMechanism(r.Method)
	if m == nil {
		if strings.HasPrefix(strings.ToUpper(r.Method), "SCRAM-") {
			name := r.Method
			if len(name) > 32 {
				name = name[:32] + "..."
			}
			return deny(packet.BadAuthenticationMethod, fmt.Sprintf("unsupported SCRAM mechanism %q", name)), nil
		}
		return auth.Result{}, nil
	}
	switch r.Step {
	case 0:
		return a.first(m, r)
	case 1:
		return a.final(m, r)
	}
	return deny(packet.NotAuthorized, "unexpected AUTH after the SCRAM exchange ended"), nil
}

func deny(code packet.ReasonCode, detail string) auth.Result {
	return auth.Result{Decision: auth.Deny, Reason: code, Detail: detail}
}

// exchange is a SCRAM exchange between its two steps. It holds the stored
// keys: String and LogValue leave them out.
type exchange struct {
	mech       *mechanism
	user       string
	gs2Header  string
	authPrefix string // client-first-message-bare "," server-first-message ","
	nonce      string // client nonce + server nonce
	cred       password.SCRAMCredential
	known      bool
}

// String describes the exchange without secrets.
func (e *exchange) String() string { return e.mech.name + " exchange" }

// LogValue implements slog.LogValuer without secrets.
func (e *exchange) LogValue() slog.Value { return slog.StringValue(e.String()) }

// first answers a client-first-message with a server-first-message.
func (a *Authenticator) first(m *mechanism, r *auth.Request) (auth.Result, error) {
	msg, err := parseClientFirst(r.Data)
	if err != nil {
		return deny(packet.NotAuthorized, "client-first-message: "+err.Error()), nil
	}
	if msg.authzid != "" && msg.authzid != msg.user {
		return deny(packet.NotAuthorized, "SCRAM authorization identity differs from the user name"), nil
	}
	if r.ReAuth && r.Username != "" && r.Username != msg.user {
		return deny(packet.NotAuthorized, "re-authentication as another user"), nil
	}
	if !r.ReAuth && r.HasUsername && r.Username != msg.user {
		return deny(packet.NotAuthorized, "SCRAM user name differs from the CONNECT user name"), nil
	}
	// The stand-in is computed for every user, so that unknown ones cost
	// the same.
	fake := a.standIn(m, msg.user)
	cred, _, known := a.src.SCRAM(msg.user, m.name)
	if !known {
		cred = fake
	} else if err := usable(m, cred); err != nil {
		return auth.Result{}, err
	}
	sn, err := a.opts.nonce()
	if err != nil {
		return auth.Result{}, fmt.Errorf("server nonce: %w", err)
	}
	nonce := msg.nonce + sn
	serverFirst := "r=" + nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	return auth.Result{
		Decision: auth.Continue,
		Data:     []byte(serverFirst),
		State: &exchange{
			mech:       m,
			user:       msg.user,
			gs2Header:  msg.gs2Header,
			authPrefix: msg.bare + "," + serverFirst + ",",
			nonce:      nonce,
			cred:       cred,
			known:      known,
		},
		Detail: m.name + " server-first-message sent",
	}, nil
}

// final verifies a client-final-message and answers with the
// server-final-message.
func (a *Authenticator) final(m *mechanism, r *auth.Request) (auth.Result, error) {
	ex, ok := r.State.(*exchange)
	if !ok || ex == nil || ex.mech != m {
		return deny(packet.NotAuthorized, "SCRAM client-final-message without an exchange in progress"), nil
	}
	msg, err := parseClientFinal(r.Data)
	if err != nil {
		return deny(packet.NotAuthorized, "client-final-message: "+err.Error()), nil
	}
	if string(msg.binding) != ex.gs2Header {
		return deny(packet.NotAuthorized, "SCRAM channel binding attribute does not match the gs2 header"), nil
	}
	if !hmac.Equal([]byte(msg.nonce), []byte(ex.nonce)) {
		return deny(packet.NotAuthorized, "SCRAM nonce does not match"), nil
	}
	if len(msg.proof) != m.size {
		return deny(packet.NotAuthorized, "client-final-message: "+errProof.Error()), nil
	}
	// RFC 5802 section 3: ClientKey = ClientProof XOR HMAC(StoredKey,
	// AuthMessage), and H(ClientKey) must be StoredKey.
	authMsg := []byte(ex.authPrefix + msg.withoutProof)
	clientKey := mac(m, ex.cred.StoredKey, authMsg)
	for i := range clientKey {
		clientKey[i] ^= msg.proof[i]
	}
	d := m.hash()
	d.Write(clientKey)
	proofOK := hmac.Equal(d.Sum(nil), ex.cred.StoredKey)
	serverSig := mac(m, ex.cred.ServerKey, authMsg)
	// Look again, so that a user deleted or changed by a reload during the
	// exchange is not let in, and take the groups in force now.
	cur, groups, still := a.src.SCRAM(ex.user, m.name)
	switch {
	case !ex.known:
		return deny(packet.NotAuthorized, "unknown user or no "+m.name+" credential"), nil
	case !proofOK:
		return deny(packet.NotAuthorized, fmt.Sprintf("wrong %s proof for user %q", m.name, ex.user)), nil
	case !still || !hmac.Equal(cur.StoredKey, ex.cred.StoredKey) || !hmac.Equal(cur.ServerKey, ex.cred.ServerKey):
		return deny(packet.NotAuthorized, fmt.Sprintf("%s credential of user %q changed during the exchange", m.name, ex.user)), nil
	}
	return auth.Result{
		Decision: auth.Allow,
		Identity: &auth.Identity{Name: ex.user, Groups: groups, Method: "scram"},
		Data:     []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)),
		Detail:   m.name + " proof verified",
	}, nil
}

func mac(m *mechanism, key, msg []byte) []byte {
	h := hmac.New(m.hash, key)
	h.Write(msg)
	return h.Sum(nil)
}

// usable checks a stored credential before the exchange relies on it.
func usable(m *mechanism, c password.SCRAMCredential) error {
	if len(c.StoredKey) != m.size || len(c.ServerKey) != m.size || len(c.Salt) == 0 ||
		c.Iterations < 1 || c.Iterations > password.MaxSCRAMIterations {
		return fmt.Errorf("stored %s credential is unusable", m.name)
	}
	return nil
}

// standIn returns the credential an unknown user is shown: salt and keys
// from HMAC-SHA-256(per-process secret, counter, mechanism, user), so
// that asking twice shows the same salt, with the shape most users have.
func (a *Authenticator) standIn(m *mechanism, user string) password.SCRAMCredential {
	iter, saltLen := a.src.SCRAMShape(m.name)
	if iter == 0 {
		iter = a.opts.DefaultIterations
	}
	if saltLen <= 0 || saltLen > 1024 {
		saltLen = password.SCRAMSaltLen
	}
	need := saltLen + 2*m.size
	buf := make([]byte, 0, need+sha256.Size)
	for ctr := byte(0); len(buf) < need; ctr++ {
		h := hmac.New(sha256.New, a.secret)
		h.Write([]byte{ctr})
		h.Write([]byte(m.name))
		h.Write([]byte{0})
		h.Write([]byte(user))
		buf = h.Sum(buf)
	}
	return password.SCRAMCredential{
		Mechanism:  m.name,
		Iterations: iter,
		Salt:       buf[:saltLen],
		StoredKey:  buf[saltLen : saltLen+m.size],
		ServerKey:  buf[saltLen+m.size : need],
	}
}

// randomNonce returns serverNonceLen random bytes in base64, which has no
// ',' and only printable characters.
func randomNonce() (string, error) {
	b := make([]byte, serverNonceLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}
