package admin

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// checkPeer allows the broker's own user and root, and describes the peer.
func checkPeer(c net.Conn) (string, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return "", fmt.Errorf("not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return "", err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return "", err
	}
	if cerr != nil {
		return "", fmt.Errorf("peer credentials: %w", cerr)
	}
	who := fmt.Sprintf("local uid %d pid %d", cred.Uid, cred.Pid)
	if int(cred.Uid) != os.Getuid() && cred.Uid != 0 {
		return who, fmt.Errorf("peer uid %d (pid %d) is neither the broker's user (%d) nor root", cred.Uid, cred.Pid, os.Getuid())
	}
	return who, nil
}
