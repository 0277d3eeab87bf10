package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/auth/cert"
	"github.com/moatmq/moat/internal/auth/httpauth"
	"github.com/moatmq/moat/internal/auth/jwt"
	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/auth/scram"
	"github.com/moatmq/moat/internal/fileversion"
	"github.com/moatmq/moat/internal/limits"
)

// buildAuth makes the authentication chain from the configuration: tokens
// (when configured), the password file (required unless anonymous access
// or tokens are allowed), client certificates, then, when allowed,
// anonymous access. The chain fails
// closed.
func (s *Server) buildAuth() (auth.Chain, error) {
	var chain auth.Chain
	if j := s.cfg.Auth.JWT; j.Enabled() {
		// Before the password file: a JWT-shaped password is the token
		// method's to decide, anything else it leaves alone.
		a, err := jwt.New(jwt.Options{Keys: j.Keys, JWKSFile: j.JWKSFile, HMACSecretFile: j.HMACSecretFile,
			Issuer: j.Issuer, Audience: j.Audience, Leeway: j.Leeway.D(), UsernameClaim: j.UsernameClaim,
			GroupsClaim: j.GroupsClaim, TopicsClaim: j.TopicsClaim, SigningKeysClaim: j.SigningKeysClaim, Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("auth.jwt: %w", err)
		}
		s.tokens = a
		chain = append(chain, a)
	}
	if h := s.cfg.Auth.HTTP; h.AuthURL != "" {
		// Before the password file: the service decides password logins.
		hdrs := make([]httpauth.Header, 0, len(h.Headers))
		for _, hd := range h.Headers {
			hdrs = append(hdrs, httpauth.Header{Name: hd.Name, Value: hd.Value, File: hd.File})
		}
		b, err := httpauth.New(httpauth.Options{AuthURL: h.AuthURL, ACLURL: h.ACLURL,
			AllowInsecureHTTP: s.cfg.AllowInsecure, Timeout: h.Timeout.D(), CacheTTL: h.CacheTTL.D(),
			DenyTTL: h.DenyTTL.D(), CacheSize: h.CacheSize, MaxConcurrent: h.MaxConcurrent, CAFile: h.CAFile,
			ClientCertFile: h.ClientCert, ClientKeyFile: h.ClientKey, Headers: hdrs, Logger: s.log})
		if err != nil {
			return nil, fmt.Errorf("auth.http: %w", err)
		}
		s.webhook = b
		chain = append(chain, b)
	}
	path := s.cfg.PasswordFilePath()
	_, statErr := os.Stat(path)
	// Without a password file, logins need another method: anonymous
	// access or tokens.
	if statErr == nil || (s.passwordsNeeded() && !s.cfg.Auth.AllowAnonymous && !s.cfg.Auth.JWT.Enabled() &&
		s.cfg.Auth.HTTP.AuthURL == "") {
		pa, err := password.New(path, password.Options{Logger: s.log})
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
		sa, err := scram.New(pa, scram.Options{})
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		// Users with SCRAM keys (moat passwd add --scram) can log in
		// with MQTT 5 enhanced authentication.
		chain = append(chain, pa, sa)
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

// buildAdmission makes the admission gates, in order: the listeners'
// firewalls, the brute-force defence (bans kept in the data directory),
// the connection limits. A banned flood is closed before it costs a
// connection slot or rate token.
func (s *Server) buildAdmission() (limits.Admission, error) {
	if err := s.buildGates(); err != nil {
		return nil, err
	}
	bf := s.cfg.Auth.BruteForce
	if !*bf.Enabled {
		return limits.Gates{s.firewall, s.conns}, nil
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	b, err := limits.NewBruteForce(limits.BruteForceOptions{
		Window: bf.Window.D(), FreeFailures: bf.FreeFailures, MaxDelay: bf.MaxDelay.D(), BanAfter: bf.BanAfter,
		BanFor: bf.BanFor.D(), MaxBan: bf.MaxBan.D(), GlobalPerSecond: bf.GlobalPerSecond,
		MaxTracked: bf.MaxTracked, BansFile: s.cfg.BansFile(), Logger: s.log, OnBan: s.banApplied,
	})
	if err != nil {
		return nil, fmt.Errorf("auth.brute_force: %w", err)
	}
	s.bans = b
	return limits.Gates{s.firewall, b, s.conns}, nil
}

// Bans returns the brute-force defence, nil when it is off.
func (s *Server) Bans() *limits.BruteForce { return s.bans }

// buildACL makes the authorizer: the policy file (acl.file) behind a
// decision cache, or the webhook's when auth.http.acl_url is set, or else
// the built-in allow-all (with a warning); the $SYS rule and token topic
// grants apply on top of each.
func (s *Server) buildACL() (acl.Authorizer, error) {
	var next acl.Authorizer
	switch {
	case s.cfg.ACL.File != "":
		p, err := acl.LoadPolicy(s.cfg.ACL.File)
		if err != nil {
			return nil, fmt.Errorf("acl.file: %w", err)
		}
		s.policy = acl.NewCached(p, s.cfg.ACL.CacheSize)
		s.policyStat, _ = os.Stat(s.cfg.ACL.File)
		for _, f := range acl.Lint(p) {
			s.log.Warn("ACL policy", "file", s.cfg.ACL.File, "finding", f.String())
		}
		next = s.policy
	case s.webhook != nil:
		if a, ok := s.webhook.Authorizer(); ok {
			next = acl.ProtectSYS{Next: a}
		}
	}
	if next == nil {
		s.log.Warn("no ACL policy (acl.file): every authenticated client may use every topic except writing $SYS")
		next = acl.AllowAll{}
	}
	return acl.Granted{Next: next}, nil
}

// reloadPolicy reads the policy file again; a policy that does not load
// leaves the one in force. Subscriptions the new policy refuses are
// removed.
func (s *Server) reloadPolicy() error {
	if s.policy == nil {
		return nil
	}
	st, _ := os.Stat(s.cfg.ACL.File)
	p, err := acl.LoadPolicy(s.cfg.ACL.File)
	if err != nil {
		return fmt.Errorf("acl.file: %w (the policy in force stays)", err)
	}
	s.policyMu.Lock()
	s.policyStat = st
	s.policyMu.Unlock()
	s.policy.Swap(p)
	for _, f := range acl.Lint(p) {
		s.log.Warn("ACL policy", "file", s.cfg.ACL.File, "finding", f.String())
	}
	n := s.broker.Revalidate()
	s.log.Info("ACL policy reloaded", "file", s.cfg.ACL.File, "rules", p.Len(), "subscriptions_revoked", n)
	return nil
}

// watchPolicy reloads the policy file when it changes, until ctx ends.
func (s *Server) watchPolicy(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, _ := os.Stat(s.cfg.ACL.File)
		s.policyMu.Lock()
		same := fileversion.Same(st, s.policyStat)
		s.policyMu.Unlock()
		if same {
			continue
		}
		if err := s.reloadPolicy(); err != nil {
			s.log.Error("ACL policy not reloaded", "error", err)
			s.policyMu.Lock()
			s.policyStat = st // report a broken file once, not every tick
			s.policyMu.Unlock()
		}
	}
}
