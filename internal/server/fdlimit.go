package server

import (
	"fmt"
	"syscall"
)

// fdReserve is what the broker needs besides its clients' sockets: the
// listeners, the store's files, the audit log, the admin socket and the
// files it watches.
const fdReserve = 256

// fdLimitWarning says why the open-file limit keeps the broker from
// reaching max_connections, or "" when it does not. Go raises the soft
// limit to the hard one at start, so limit is the hard limit.
func fdLimitWarning(limit uint64, maxConns int) string {
	need := uint64(maxConns) + fdReserve
	if maxConns <= 0 || limit >= need {
		return ""
	}
	return fmt.Sprintf("the open-file limit (%d) allows about %d client connections, fewer than limits.max_connections (%d): "+
		"raise it to at least %d (systemd: LimitNOFILE=; shell: ulimit -n) or lower max_connections",
		limit, max(int(limit)-fdReserve, 0), maxConns, need)
}

// checkFDLimit logs fdLimitWarning for this process.
func (s *Server) checkFDLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if w := fdLimitWarning(rl.Cur, *s.cfg.Limits.MaxConnections); w != "" {
		s.log.Warn(w, "open_file_limit", rl.Cur, "max_connections", *s.cfg.Limits.MaxConnections)
	}
}
