//go:build !linux

package prompt

import (
	"errors"
	"os"
)

// IsTerminal reports whether f is a terminal. Off Linux it answers by the
// file mode: a character device is taken for a terminal.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readNoEcho refuses: turning echo off is implemented for Linux only, and
// a password must not be echoed.
func readNoEcho(*os.File) ([]byte, error) {
	return nil, errors.New("cannot turn terminal echo off on this platform; pipe the password on standard input")
}
