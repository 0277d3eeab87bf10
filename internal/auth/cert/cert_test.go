package cert_test

import (
	"context"
	"testing"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/auth/cert"
	"github.com/moatmq/moat/internal/packet"
)

func TestCertificateAuthenticator(t *testing.T) {
	tests := []struct {
		name  string
		req   auth.Request
		want  auth.Decision
		code  packet.ReasonCode
		ident string
	}{
		{"no certificate abstains", auth.Request{}, auth.Abstain, 0, ""},
		{"certificate alone allows", auth.Request{CertIdentity: "dev-1"}, auth.Allow, 0, "dev-1"},
		{"matching user name allows", auth.Request{CertIdentity: "dev-1", Username: "dev-1", HasUsername: true}, auth.Allow, 0, "dev-1"},
		{"other user name denies", auth.Request{CertIdentity: "dev-1", Username: "root", HasUsername: true}, auth.Deny, packet.NotAuthorized, ""},
		{"with a password abstains (password methods decide)", auth.Request{CertIdentity: "dev-1", Username: "u", HasUsername: true, Password: []byte("p"), HasPassword: true}, auth.Abstain, 0, ""},
		{"enhanced method abstains", auth.Request{CertIdentity: "dev-1", Method: "SCRAM-SHA-256"}, auth.Abstain, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cert.Authenticator{}.Authenticate(context.Background(), &tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision != tc.want || res.Reason != tc.code {
				t.Fatalf("got %v %v, want %v %v", res.Decision, res.Reason, tc.want, tc.code)
			}
			if tc.ident != "" && (res.Identity == nil || res.Identity.Name != tc.ident || res.Identity.Method != "certificate") {
				t.Fatalf("identity %+v", res.Identity)
			}
		})
	}
}
