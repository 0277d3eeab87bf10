package disk

import (
	"errors"
	"strings"
	"syscall"
)

// isLockErr reports whether err is an engine's failure to take its
// directory lock because another process (or this one) holds it.
func isLockErr(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "lock held by current process")
}
