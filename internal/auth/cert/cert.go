// Package cert authenticates clients by the identity of their verified TLS
// client certificate (mutual TLS).
package cert

import (
	"context"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
)

// Authenticator allows a client that presented a verified certificate and
// no password: its identity is the certificate's. A client that also sends
// a password is left to the password methods (it abstains), and one
// without a certificate too. A user name, when sent, must be the
// certificate identity.
type Authenticator struct{}

var _ auth.Authenticator = Authenticator{}

// Name implements auth.Authenticator.
func (Authenticator) Name() string { return "certificate" }

// Authenticate implements auth.Authenticator.
func (Authenticator) Authenticate(_ context.Context, r *auth.Request) (auth.Result, error) {
	if r.CertIdentity == "" || r.HasPassword || r.Method != "" {
		return auth.Result{}, nil
	}
	if r.HasUsername && r.Username != r.CertIdentity {
		return auth.Result{Decision: auth.Deny, Reason: packet.NotAuthorized,
			Detail: "user name is not the certificate identity"}, nil
	}
	return auth.Result{Decision: auth.Allow, Identity: &auth.Identity{Name: r.CertIdentity, Method: "certificate",
		Groups: r.CertGroups}}, nil
}
