package server

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/audit/auditlog"
)

// openAudit opens the audit log (audit.*), or keeps the discarding sink
// when it is disabled.
func (s *Server) openAudit() error {
	path := s.cfg.AuditFile()
	if path == "" {
		s.log.Warn("the audit log is disabled (audit.disabled): security events are not recorded")
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("audit.file: %w", err)
	}
	a := s.cfg.Audit
	o := auditlog.Options{Path: path, MaxSize: int64(a.MaxSize), MaxAge: a.MaxAge.D(), MaxFiles: a.MaxFiles,
		MaxPerSecond: a.MaxPerSecond, Logger: s.log}
	if a.Syslog.Network != "" {
		o.Syslog = &auditlog.SyslogOptions{Network: a.Syslog.Network, Address: a.Syslog.Address, Facility: a.Syslog.Facility}
	}
	l, err := auditlog.Open(o)
	if err != nil {
		return fmt.Errorf("audit.file: %w", err)
	}
	s.auditLog, s.audit = l, l
	return nil
}

// closeAudit flushes and closes the audit log, last of all.
func (s *Server) closeAudit() {
	if s.auditLog != nil {
		if err := s.auditLog.Close(); err != nil {
			s.log.Error("audit log close", "error", err)
		}
		// s.audit stays: a closed log drops what still arrives.
	}
}

// Audit returns the sink security events go to.
func (s *Server) Audit() audit.Sink { return s.audit }

// recordReload audits a reload's outcome.
func (s *Server) recordReload(err error, what string) {
	if err != nil {
		s.audit.Record(audit.Event{Kind: audit.ConfigReloadFailed, Detail: what + ": " + err.Error()})
		return
	}
	s.audit.Record(audit.Event{Kind: audit.ConfigReloaded, Detail: what})
}

// handshake counts TLS handshakes, and audits failed ones (the audit log
// collapses floods per address).
func (s *Server) handshake(listener string, remote netip.AddrPort, err error) {
	if err == nil {
		s.metrics.TLSHandshakes.Add(1)
		return
	}
	s.metrics.TLSHandshakeFailures.Add(1)
	s.audit.Record(audit.Event{Kind: audit.TLSHandshakeFailed, Listener: listener, Remote: remote, Detail: err.Error()})
}

// banApplied audits a ban the brute-force defence applied.
func (s *Server) banApplied(target string, failures int) {
	s.metrics.BansApplied.Add(1)
	s.audit.Record(audit.Event{Kind: audit.BanApplied, Detail: fmt.Sprintf("%s banned after %d failed logins", target, failures)})
}
