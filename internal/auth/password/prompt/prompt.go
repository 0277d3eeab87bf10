// Package prompt reads a password from standard input: from a terminal
// with echo turned off, or one line from a pipe or file.
package prompt

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxLen is the longest password read: the MQTT limit on binary data.
const MaxLen = 65535

// ErrTooLong is returned for a line longer than MaxLen.
var ErrTooLong = fmt.Errorf("password longer than %d bytes", MaxLen)

// ReadLine reads one line from r, one byte at a time so that nothing past
// the line is consumed, and returns it without its "\n" or "\r\n". At end
// of input, a final line without "\n" is returned; an empty input is
// io.EOF.
func ReadLine(r io.Reader) ([]byte, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			if len(line) == MaxLen {
				clear(line)
				return nil, ErrTooLong
			}
			line = append(line, b[0])
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return nil, io.EOF
			}
			break
		}
		if err != nil {
			clear(line)
			return nil, err
		}
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, nil
}

// Read reads a password from in. When in is a terminal, it writes prompt
// to out, turns echo off for the line, and restores the terminal even if
// the process is interrupted meanwhile. Otherwise it reads one line
// without writing anything.
func Read(in *os.File, out io.Writer, prompt string) ([]byte, error) {
	if !IsTerminal(in) {
		return ReadLine(in)
	}
	fmt.Fprint(out, prompt)
	defer fmt.Fprintln(out)
	return readNoEcho(in)
}
