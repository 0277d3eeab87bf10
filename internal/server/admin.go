package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/admin"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/limits"
	"github.com/moatmq/moat/internal/metrics/prom"
)

// Version is reported by the metrics (moat_build_info); cmd/moat sets it.
var Version = "dev"

// adminHandler is the API both the local socket and the network listener
// serve.
func (s *Server) adminHandler() *admin.Handler {
	o := admin.Options{Broker: s.broker, Audit: s.audit, Log: s.log, Ready: s.ready.Load,
		Metrics: prom.Handler(prom.Source{Metrics: s.metrics, Version: Version, Started: s.started,
			Bans: s.banCount, Queued: s.broker.QueuedMessages}),
		Reload: func() error { _, err := s.ReloadAll(); return err }, AuditFile: s.cfg.AuditFile()}
	if s.bans != nil {
		o.Bans = banList{s.bans}
	}
	return admin.NewHandler(o)
}

// startAdmin serves the administration API on the local socket unless it
// is disabled, and on the HTTPS admin listener when admin.listen is set.
// A socket another broker answers on stops the start: two brokers must
// not share a data directory.
func (s *Server) startAdmin() error {
	h := s.adminHandler()
	if path := s.cfg.AdminSocket(); path != "" {
		sock, err := admin.Listen(path, h, s.log)
		if err != nil {
			return err
		}
		s.admin = sock
		s.log.Info("admin socket", "path", path)
	}
	if s.cfg.Admin.Listen == "" {
		return nil
	}
	tcfg, err := adminTLS(s.cfg.Admin)
	if err != nil {
		s.stopAdmin(context.Background())
		return err
	}
	tokens, err := admin.NewTokens(s.cfg.AdminTokensFile())
	if err != nil {
		s.stopAdmin(context.Background())
		return fmt.Errorf("admin.tokens_file: %w", err)
	}
	g := &admin.Guard{Tokens: tokens, PublicMetrics: s.cfg.Admin.PublicMetrics, Audit: s.audit, Next: h}
	if s.bans != nil {
		g.Banned = func(a netip.Addr) bool { return s.bans.Before(a, "") != 0 }
		g.Failed = func(a netip.Addr) time.Duration { return s.bans.Failed(a, "") }
	}
	srv, err := admin.ListenTLS(s.cfg.Admin.Listen, tcfg, g, s.log)
	if err != nil {
		s.stopAdmin(context.Background())
		return err
	}
	s.adminNet = srv
	s.log.Info("admin listener", "address", srv.Addr().String())
	if names, _ := tokens.Names(); len(names) == 0 && tcfg.ClientCAs == nil {
		s.log.Warn("the admin listener has no tokens and no client CA: only public endpoints answer; add one with moat admin token add NAME")
	}
	return nil
}

// AdminAddr is the bound address of the HTTPS admin listener, nil without
// one.
func (s *Server) AdminAddr() net.Addr {
	if s.adminNet == nil {
		return nil
	}
	return s.adminNet.Addr()
}

// adminTLS is the admin listener's TLS configuration: TLS 1.2 at least,
// the certificate of admin.cert, client certificates verified against
// admin.client_ca when set.
func adminTLS(a config.Admin) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(a.Cert, a.Key)
	if err != nil {
		return nil, fmt.Errorf("admin.cert/admin.key: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if a.ClientCA != "" {
		pem, err := os.ReadFile(a.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("admin.client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("admin.client_ca: no PEM certificate")
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// stopAdmin closes the local socket and the admin listener, if any.
func (s *Server) stopAdmin(ctx context.Context) {
	if s.admin != nil {
		_ = s.admin.Close(ctx)
		s.admin = nil
	}
	if s.adminNet != nil {
		_ = s.adminNet.Close(ctx)
		s.adminNet = nil
	}
}

// banCount reports the active bans (0 with the defence off).
func (s *Server) banCount() int {
	if s.bans == nil {
		return 0
	}
	return len(s.bans.Bans())
}

// banList adapts the brute-force defence to the API.
type banList struct{ b *limits.BruteForce }

func (l banList) List() []admin.BanInfo {
	var out []admin.BanInfo
	for _, b := range l.b.Bans() {
		out = append(out, admin.BanInfo{Target: b.Target, Until: b.Until, Reason: b.Reason, Offences: b.Offences})
	}
	return out
}

func (l banList) Ban(target string, d time.Duration, reason string) error {
	return l.b.Ban(target, d, reason)
}
func (l banList) Unban(target string) bool { return l.b.Unban(target) }

// SetConfigReader tells the server how to read its configuration again
// (cmd/moat: the --config file with the command line's overrides); without
// one, a reload reloads only the files the configuration names.
func (s *Server) SetConfigReader(read func() (*config.Config, error)) { s.reread = read }

// ReloadAll is what SIGHUP and POST /v1/reload do: read the configuration
// again and apply what can change while running (a configuration that
// does not load changes nothing), then reload the files it names. It
// returns the sections that changed but need a restart.
func (s *Server) ReloadAll() (needRestart []string, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.reread != nil {
		next, err := s.reread()
		if err != nil {
			s.ConfigRefused(err)
			return nil, fmt.Errorf("configuration not reloaded; the one in force stays: %w", err)
		}
		if needRestart, err = s.ApplyConfig(next); err != nil {
			return nil, fmt.Errorf("configuration not reloaded; the one in force stays: %w", err)
		}
		if len(needRestart) > 0 {
			s.log.Warn("configuration changes that need a restart were not applied", "sections", strings.Join(needRestart, ", "))
		}
	}
	return needRestart, s.Reload()
}
