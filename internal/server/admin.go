package server

import (
	"context"

	"github.com/moatmq/moat/internal/admin"
)

// startAdmin serves the administration API on the local socket unless it
// is disabled. A socket another broker answers on stops the start: two
// brokers must not share a data directory.
func (s *Server) startAdmin() error {
	path := s.cfg.AdminSocket()
	if path == "" {
		return nil
	}
	sock, err := admin.Listen(path, admin.NewHandler(s.broker, s.audit, s.log), s.log)
	if err != nil {
		return err
	}
	s.admin = sock
	s.log.Info("admin socket", "path", path)
	return nil
}

// stopAdmin closes the local socket, if any.
func (s *Server) stopAdmin(ctx context.Context) {
	if s.admin != nil {
		_ = s.admin.Close(ctx)
		s.admin = nil
	}
}
