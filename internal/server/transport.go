package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/limits"
	"github.com/moatmq/moat/internal/listener"
	"github.com/moatmq/moat/internal/proxyproto"
	"github.com/moatmq/moat/internal/tlsconf"
	"github.com/moatmq/moat/internal/wsconn"
)

// tlsWatchInterval is how often certificate files are checked for changes.
const tlsWatchInterval = 10 * time.Second

// buildListener turns one listener's configuration into a listener wired
// to the broker: PROXY protocol, TLS material, WebSocket upgrade.
func (s *Server) buildListener(lc config.Listener, gate limits.Admission) (*listener.TCP, error) {
	l := &listener.TCP{Name: lc.Name, Address: lc.Address, Log: s.log, Admit: gate.Accept, Release: gate.Released,
		Handshake: s.handshake}
	if len(lc.ProxyProtocol.Trusted) > 0 {
		trusted, err := proxyproto.ParseTrusted(lc.ProxyProtocol.Trusted)
		if err != nil {
			return nil, fmt.Errorf("listener %s: proxy_protocol.trusted: %w", lc.Name, err)
		}
		timeout := lc.ProxyProtocol.Timeout.D()
		l.Proxy = func(nc net.Conn) (net.Conn, error) {
			c, _, err := proxyproto.Accept(nc, trusted, timeout)
			return c, err
		}
	}
	var src *tlsconf.Source
	if lc.UsesTLS() {
		var err error
		if src, err = tlsconf.New(lc.TLS, s.log.With("listener", lc.Name)); err != nil {
			return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
		}
		s.tlsSources = append(s.tlsSources, src)
		l.TLS = src.Config()
		l.HandshakeTimeout = lc.TLS.HandshakeTimeout.D()
	}
	serve := func(a listener.Accepted) {
		ci := broker.ConnInfo{Listener: a.Listener, Remote: a.Remote, RequireUsernameMatch: lc.TLS.RequireUsernameMatch,
			RequireCertificate: lc.Auth.RequireCertificate, Methods: lc.Auth.Methods}
		if src != nil && a.TLS != nil {
			ci.CertIdentity, _ = src.Identity(*a.TLS)
			ci.CertGroups = src.Groups(*a.TLS)
			if ci.CertIdentity != "" && len(a.TLS.VerifiedChains) > 0 {
				ci.CertPublicKey = a.TLS.PeerCertificates[0].PublicKey
			}
		}
		s.broker.Serve(a.Conn, ci)
	}
	if !lc.UsesWebSocket() {
		l.Handle = serve
		return l, nil
	}
	l.HTTPTimeout = s.cfg.MQTT.ConnectTimeout.D() // the upgrade is part of connecting
	l.HTTP = wsconn.Handler(wsconn.Options{
		Path:             lc.WebSocket.Path,
		AllowedOrigins:   lc.WebSocket.AllowedOrigins,
		MaxMessageSize:   int64(s.cfg.MQTT.MaxPacketSize.Int()) + 1024,
		HandshakeTimeout: s.cfg.MQTT.ConnectTimeout.D(),
		Log:              s.log.With("listener", lc.Name),
	}, func(nc net.Conn, remote netip.AddrPort) {
		serve(listener.Accepted{Conn: nc, Listener: lc.Name, Remote: remote, TLS: wsconn.TLSState(nc)})
	})
	return l, nil
}

// Reload re-reads TLS material (certificates, keys, CA bundles, CRLs) and
// the password file. Established connections are untouched; a failed
// reload keeps the old material and returns the errors.
func (s *Server) Reload() error {
	var errs []error
	if s.passwords != nil {
		if err := s.passwords.Reload(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.tokens != nil {
		if err := s.tokens.Reload(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.bans != nil {
		if err := s.bans.Reload(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.reloadPolicy(); err != nil {
		errs = append(errs, err)
	}
	if err := s.reloadSignedKeys(); err != nil {
		errs = append(errs, err)
	}
	for _, src := range s.tlsSources {
		if err := src.Reload(); err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	s.recordReload(err, "files (passwords, tokens, bans, ACL policy, TLS material)")
	return err
}
