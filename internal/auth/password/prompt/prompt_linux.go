//go:build linux

package prompt

import (
	"os"
	"os/signal"
	"syscall"
	"unsafe"
)

func getTermios(fd uintptr) (syscall.Termios, error) {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	if errno != 0 {
		return t, errno
	}
	return t, nil
}

func setTermios(fd uintptr, t *syscall.Termios) error {
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCSETS, uintptr(unsafe.Pointer(t)))
	if errno != 0 {
		return errno
	}
	return nil
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := getTermios(f.Fd())
	return err == nil
}

// readNoEcho reads a line from the terminal f with echo off. If SIGINT or
// SIGTERM arrives meanwhile, it restores the terminal and delivers the
// signal again with its default action.
func readNoEcho(f *os.File) ([]byte, error) {
	fd := f.Fd()
	saved, err := getTermios(fd)
	if err != nil {
		return nil, err
	}
	quiet := saved
	quiet.Lflag &^= syscall.ECHO
	quiet.Lflag |= syscall.ICANON | syscall.ISIG
	if err := setTermios(fd, &quiet); err != nil {
		return nil, err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			setTermios(fd, &saved)
			signal.Reset(s)
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Signal(s)
			}
		case <-done:
		}
	}()
	defer func() {
		signal.Stop(sig)
		close(done)
		setTermios(fd, &saved)
	}()
	return ReadLine(f)
}
