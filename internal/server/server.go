// Package server wires a configuration into a running broker: it builds
// the broker, its seams (authentication, authorization, audit, metrics,
// store) and its listeners, and shuts them down in order.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/admin"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/audit/auditlog"
	"github.com/moatmq/moat/internal/auth/httpauth"
	"github.com/moatmq/moat/internal/auth/jwt"
	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/limits"
	"github.com/moatmq/moat/internal/listener"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/signed"
	"github.com/moatmq/moat/internal/store"
	"github.com/moatmq/moat/internal/tlsconf"
	"github.com/moatmq/moat/internal/topic"
)

// Server is a configured broker with its listeners.
type Server struct {
	cfg        *config.Config
	log        *slog.Logger
	broker     *broker.Broker
	listeners  []*listener.TCP
	tlsSources []*tlsconf.Source
	passwords  *password.Authenticator // nil without a password file
	tokens     *jwt.Authenticator      // nil without auth.jwt
	bans       *limits.BruteForce      // nil with auth.brute_force.enabled false
	webhook    *httpauth.Backend       // nil without auth.http
	policy     *acl.Cached             // nil without acl.file
	policyMu   sync.Mutex              // guards policyStat
	policyStat os.FileInfo             // the policy file as last loaded
	stopWatch  context.CancelFunc
	admin      *admin.Socket // nil when admin.disable_socket is set
	firewall   *limits.Firewall
	conns      *limits.Connections
	audit      audit.Sink
	auditLog   *auditlog.Log // nil when audit.disabled
	adminNet   *admin.Server // nil without admin.listen
	metrics    *metrics.Metrics
	started    time.Time
	ready      atomic.Bool // listeners serve; false again at shutdown
	reread     func() (*config.Config, error)
	reloadMu   sync.Mutex       // one reload at a time (SIGHUP, the API)
	signed     *signed.Verifier // nil without signed_topics rules
	store      store.Store      // nil in memory mode; closed by the broker's Shutdown
}

// New validates cfg and builds a server; nothing is bound until Start.
// Defaults are applied to cfg first. TLS files are loaded here, so that a
// missing or mismatched certificate stops the start.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, audit: audit.Discard{}, metrics: &metrics.Metrics{}, started: time.Now()}
	for i, f := range cfg.Retain.Never {
		if err := topic.ValidateFilter(f, topic.Limits{}); err != nil {
			return nil, fmt.Errorf("retain.never[%d]: %q: %w", i, f, err)
		}
	}
	if err := s.openAudit(); err != nil {
		return nil, err
	}
	if err := s.build(); err != nil {
		if s.webhook != nil {
			_ = s.webhook.Close()
		}
		if s.store != nil {
			_ = s.store.Close()
		}
		s.closeAudit()
		return nil, err
	}
	return s, nil
}

// build makes the seams, the broker and the listeners of s.cfg.
func (s *Server) build() error {
	chain, err := s.buildAuth()
	if err != nil {
		return err
	}
	admission, err := s.buildAdmission()
	if err != nil {
		return err
	}
	authz, err := s.buildACL()
	if err != nil {
		return err
	}
	if s.signed, err = s.buildSigned(); err != nil {
		return err
	}
	st, strict, err := s.openStore()
	if err != nil {
		return err
	}
	s.store = st
	s.broker = broker.New(broker.Options{Limits: Limits(s.cfg), Admission: admission, Auth: chain,
		ACL: authz, Audit: s.audit, Metrics: s.metrics, Signed: s.signed, Log: s.log, Store: st, BatchWrites: st != nil, HoldAcks: strict})
	if st != nil {
		if err := s.restoreState(st); err != nil {
			return err
		}
	}
	for _, lc := range s.cfg.Listeners {
		l, err := s.buildListener(lc, admission)
		if err != nil {
			return err
		}
		s.listeners = append(s.listeners, l)
	}
	return nil
}

// Limits converts the configuration into the broker's limits.
func Limits(cfg *config.Config) broker.Limits {
	m := cfg.MQTT
	return broker.Limits{
		MaxPacketSize:           m.MaxPacketSize.Int(),
		ReceiveMaximum:          m.ReceiveMaximum,
		MaxInflight:             m.MaxInflight,
		TopicAliasMaximum:       m.TopicAliasMaximum,
		MaxQoS:                  byte(*m.MaxQoS),
		RetainAvailable:         *m.RetainAvailable,
		WildcardSubscriptions:   *m.WildcardSubscriptions,
		SubscriptionIdentifiers: *m.SubscriptionIdentifiers,
		SharedSubscriptions:     *m.SharedSubscriptions,
		MaxKeepAlive:            m.MaxKeepAlive.D(),
		MinKeepAlive:            m.MinKeepAlive.D(),
		MaxSessionExpiry:        m.MaxSessionExpiry.D(),
		ConnectTimeout:          m.ConnectTimeout.D(),
		WriteTimeout:            m.WriteTimeout.D(),
		MaxClientIDLength:       m.MaxClientIDLength,
		Topic: topic.Limits{MaxLength: m.MaxTopicLength, MaxLevels: m.MaxTopicLevels,
			AllowControl: m.AllowControlCharacters},
		ClientIDPattern:         clientIDPattern(m.ClientIDPattern),
		MaxQueuedMessages:       m.MaxQueuedMessages,
		MaxQueuedBytes:          m.MaxQueuedBytes.Int(),
		MaxSubscriptions:        m.MaxSubscriptionsPerClient,
		MaxRetained:             m.MaxRetainedMessages,
		AllowMQTT31:             *m.AllowMQTT31,
		AllowEmptyClientID:      *m.AllowEmptyClientID,
		ClientIDs:               cfg.Auth.ClientIDs,
		DisconnectDeniedPublish: cfg.ACL.DisconnectOnDeniedPublish,
		NoRootWildcards:         !*cfg.ACL.RootWildcards,
		RootWildcardIdentities:  cfg.ACL.RootWildcardIdentities,
		Publish:                 publishLimits(cfg.Limits),
		Retain: broker.RetainPolicy{Never: cfg.Retain.Never, RefuseNever: cfg.Retain.NeverAction == "refuse",
			MaxAge: cfg.Retain.MaxAge.D(), MaxSize: cfg.Retain.MaxSize.Int(), MaxPerOwner: *cfg.Retain.MaxPerIdentity},
	}
}

// clientIDPattern compiles a validated mqtt.client_id_pattern; nil when
// unset.
func clientIDPattern(p string) *regexp.Regexp {
	if p == "" {
		return nil
	}
	return regexp.MustCompile(p) // Validate compiled it already
}

// Broker returns the running broker.
func (s *Server) Broker() *broker.Broker { return s.broker }

// Start binds every listener and starts accepting. On a bind failure the
// listeners already bound are closed.
func (s *Server) Start() error {
	if err := s.startAdmin(); err != nil {
		return err
	}
	for i, l := range s.listeners {
		if err := l.Listen(); err != nil {
			for _, prev := range s.listeners[:i] {
				prev.Close()
			}
			s.stopAdmin(context.Background())
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
	}
	for i, l := range s.listeners {
		lc := s.cfg.Listeners[i]
		if risks := s.insecureRisks(lc); len(risks) > 0 {
			s.log.Warn(strings.Join(risks, ", ")+" on a non-loopback address (allow_insecure is set)",
				"listener", l.Name, "address", l.Addr().String())
		}
		s.log.Info("listening", "listener", l.Name, "address", l.Addr().String(), "transport", lc.Transport)
		go l.Serve()
	}
	s.ready.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	if d := s.cfg.MQTT.SysInterval.D(); d > 0 {
		go s.broker.RunSys(ctx, d, broker.SysInfo{Version: Version})
	}
	if s.signed != nil {
		s.publishKeyBindings()
		go s.sweepSigned(ctx)
	}
	if budget := s.memoryWatchBudget(); budget > 0 {
		go s.broker.WatchMemory(ctx, budget, 250*time.Millisecond)
	}
	go s.settleMemory(ctx)
	s.checkFDLimit()
	for _, src := range s.tlsSources {
		go src.Watch(ctx, tlsWatchInterval)
	}
	if s.passwords != nil {
		go s.passwords.Watch(ctx, tlsWatchInterval)
	}
	if s.tokens != nil {
		go s.tokens.Watch(ctx, tlsWatchInterval)
	}
	if s.bans != nil {
		go s.bans.Watch(ctx, tlsWatchInterval)
	}
	if s.policy != nil {
		go s.watchPolicy(ctx, tlsWatchInterval)
	}
	return nil
}

// insecureRisks names what allow_insecure accepted on listener lc: nothing
// for a loopback listener.
func (s *Server) insecureRisks(lc config.Listener) []string {
	if lc.IsLoopback() {
		return nil
	}
	var risks []string
	if lc.IsPlainText() {
		risks = append(risks, "plain-text MQTT")
	}
	if s.cfg.Auth.AllowAnonymous {
		risks = append(risks, "anonymous access")
	}
	if !s.cfg.HasACL() {
		risks = append(risks, "no ACL policy")
	}
	return risks
}

// Addrs reports the bound address of each listener, in config order.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Shutdown stops accepting, sends MQTT 5 clients DISCONNECT 0x8B, flushes
// queues and closes every connection, waiting at most until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	if s.stopWatch != nil {
		s.stopWatch()
	}
	for _, l := range s.listeners {
		l.Close()
	}
	s.stopAdmin(ctx)
	err := s.broker.Shutdown(ctx)
	for _, l := range s.listeners {
		l.Wait()
	}
	if s.webhook != nil {
		_ = s.webhook.Close()
	}
	s.closeAudit()
	return err
}
