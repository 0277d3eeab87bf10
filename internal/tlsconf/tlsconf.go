// Package tlsconf turns a listener's config.TLS into a *tls.Config whose
// certificates, keys, client CA bundle and CRLs can be reloaded while the
// listener runs.
//
// A Source holds the current material behind an atomic pointer. The
// *tls.Config returned by Source.Config never changes: its
// GetConfigForClient hands every new handshake the config built for the
// material current at that moment, so a reload affects only handshakes that
// start after it, and established connections keep what they negotiated.
//
// The settings that are not files (versions, cipher suites, curves, client
// auth mode, identity field) are fixed at New; Reload rereads files only.
package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// Source builds and reloads the TLS configuration of one listener. Reload
// swaps certificates, keys, CA bundle and CRLs atomically; established
// connections are untouched, new handshakes use the new material. A failed
// reload keeps the old material and returns the error.
//
// All methods are safe for concurrent use.
type Source struct {
	cfg config.TLS // the files to load; slices are private copies
	set settings   // parsed once at New
	log *slog.Logger

	reloadMu sync.Mutex // serialises Reload (SIGHUP and Watch)
	cur      atomic.Pointer[material]
	outer    *tls.Config // returned by Config; only its ticket keys change after New
	tickets  ticketKeys  // the session ticket keys of outer
}

// New parses the settings of c and loads its files. Every problem found is
// returned (joined), each naming the file or setting and what is wrong. It
// logs a warning for a private key file readable by group or others and
// for a certificate that expires within 30 days. log may be nil
// (slog.Default()).
func New(c config.TLS, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.Default()
	}
	c.Certificates = append([]config.CertKey(nil), c.Certificates...)
	c.CRLs = append([]string(nil), c.CRLs...)
	c.CipherSuites = append([]string(nil), c.CipherSuites...)
	c.Curves = append([]string(nil), c.Curves...)

	set, err := parseSettings(c)
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: c, set: set, log: log}
	s.tickets.now = time.Now
	m, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur.Store(m)
	s.outer = s.newOuterConfig()
	if err := s.tickets.rotate(s.outer); err != nil {
		return nil, fmt.Errorf("session ticket key: %w", err)
	}
	return s, nil
}

// newOuterConfig builds the config given to the listener. Go calls
// GetConfigForClient for every handshake and then uses only the returned
// config, session ticket keys excepted: the per-handshake configs set
// none, so Go seals and opens tickets with this config's keys, which
// GetConfigForClient rotates (tickets.go) and a reload leaves alone. A
// resumed session is still checked against the current material: Go
// resumes one with a client certificate only when its chain verifies
// against the current client CAs, and VerifyConnection (CRLs) runs on
// resumption too. The other fields are set as a fail-closed fallback.
func (s *Source) newOuterConfig() *tls.Config {
	c := s.set.baseConfig()
	if c.ClientAuth != tls.NoClientCert {
		// An empty pool: were this config ever used directly, no
		// client certificate would verify, rather than the system roots.
		c.ClientCAs = x509.NewCertPool()
	}
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return s.cur.Load().certificate(hello)
	}
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if err := s.tickets.rotate(c); err != nil {
			// No fresh randomness: refuse the handshake rather than
			// keep sealing tickets with an expired key.
			return nil, fmt.Errorf("session ticket key: %w", err)
		}
		return s.cur.Load().config, nil
	}
	return c
}

// Config returns the config for the listener. It is the same pointer on
// every call and must not be modified: each handshake runs with the config
// of the current material, which would not see changes made here. Nor
// cloned: the session ticket keys are rotated on this pointer, and a clone
// would keep sealing tickets with the keys it copied.
func (s *Source) Config() *tls.Config { return s.outer }

// Reload rereads every file (as on SIGHUP). On success new handshakes use
// the new material; on error the previous material stays in use and the
// error says which file failed and why.
func (s *Source) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	m, err := s.load()
	if err != nil {
		return err
	}
	s.cur.Store(m)
	return nil
}

// Identity returns the client identity taken, as configured, from the
// verified client certificate of state. ok is false when the connection
// has no verified client certificate or the certificate lacks the field.
func (s *Source) Identity(state tls.ConnectionState) (identity string, ok bool) {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return "", false
	}
	return s.set.identity.extract(state.VerifiedChains[0][0])
}

// Groups returns the groups of the verified client certificate of state,
// taken as configured (tls.groups); nil without one.
func (s *Source) Groups(state tls.ConnectionState) []string {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return nil
	}
	return s.set.certGroups(state.VerifiedChains[0][0])
}

// Watch polls the files every interval (10s when every <= 0) and reloads
// when one changed (modification time, size or inode, or it appeared or
// disappeared). It logs each reload's outcome and returns when ctx ends.
// A failed reload is retried at the next change of any file.
func (s *Source) Watch(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 10 * time.Second
	}
	files := s.files()
	// The baseline is the files as last loaded, not as Watch first sees
	// them: a change made between that load and now is picked up.
	last := s.cur.Load().files
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := snapshot(files)
		if now.equal(last) {
			continue
		}
		last = now
		if now.equal(s.cur.Load().files) {
			continue // already loaded, by Reload on SIGHUP
		}
		if err := s.Reload(); err != nil {
			s.log.Error("TLS reload failed; keeping the previous certificates", "error", err)
			continue
		}
		s.log.Info("TLS certificates reloaded")
	}
}

// files lists every file the source loads, in a fixed order.
func (s *Source) files() []string {
	var fs []string
	if s.cfg.Cert != "" || s.cfg.Key != "" {
		fs = append(fs, s.cfg.Cert, s.cfg.Key)
	}
	for _, ck := range s.cfg.Certificates {
		fs = append(fs, ck.Cert, ck.Key)
	}
	if s.cfg.ClientCA != "" {
		fs = append(fs, s.cfg.ClientCA)
	}
	return append(fs, s.cfg.CRLs...)
}

// errorList collects problems so that one call reports all of them.
type errorList []error

func (l *errorList) addf(format string, args ...any) {
	*l = append(*l, fmt.Errorf(format, args...))
}

func (l errorList) join() error { return errors.Join(l...) }
