package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/auth/cert"
	"github.com/moatmq/moat/internal/auth/password"
)

// buildAuth makes the authentication chain from the configuration: the
// password file (required unless anonymous access is allowed), client
// certificates, then, when allowed, anonymous access. The chain fails
// closed.
func (s *Server) buildAuth() (auth.Chain, error) {
	var chain auth.Chain
	path := s.cfg.PasswordFilePath()
	_, statErr := os.Stat(path)
	if statErr == nil || (s.passwordsNeeded() && !s.cfg.Auth.AllowAnonymous) {
		pa, err := password.New(path, password.Options{})
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("auth: password file %s does not exist; create it with "+
				"'moat passwd --create %s add admin', or run 'moat serve' without --config once to "+
				"generate one (auth.allow_anonymous: true allows anonymous access on loopback listeners)", path, path)
		}
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		for _, w := range pa.Warnings() {
			s.log.Warn("password file", "file", path, "warning", w)
		}
		s.passwords = pa
		chain = append(chain, pa)
	}
	// A verified client certificate alone authenticates (when the client
	// sends no password); listeners restrict methods with auth.methods.
	chain = append(chain, cert.Authenticator{})
	if s.cfg.Auth.AllowAnonymous {
		chain = append(chain, auth.Anonymous{})
	}
	return chain, nil
}

// passwordsNeeded reports whether some listener accepts password logins
// (every listener without an auth.methods list does).
func (s *Server) passwordsNeeded() bool {
	for _, l := range s.cfg.Listeners {
		if l.Auth.Methods == nil || slices.Contains(l.Auth.Methods, "password") {
			return true
		}
	}
	return false
}
