//go:build linux

package prompt

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY returns the two ends of a new pseudo-terminal, or skips.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("pty number: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty slave: %v", err)
	}
	return m, s
}

func echoOn(t *testing.T, f *os.File) bool {
	t.Helper()
	tio, err := getTermios(f.Fd())
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&syscall.ECHO != 0
}

func TestReadFromTerminalWithoutEcho(t *testing.T) {
	master, slave := openPTY(t)
	if !IsTerminal(slave) {
		t.Fatal("a pty is not a terminal")
	}
	if !echoOn(t, slave) {
		t.Fatal("a new pty has echo off")
	}
	type result struct {
		pw  []byte
		err error
	}
	done := make(chan result, 1)
	var prompt bytes.Buffer
	go func() {
		pw, err := Read(slave, &prompt, "Password: ")
		done <- result{pw, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for echoOn(t, slave) {
		if time.Now().After(deadline) {
			t.Fatal("echo never turned off")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := master.WriteString("hunter2\n"); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return")
	}
	if r.err != nil || string(r.pw) != "hunter2" {
		t.Fatalf("Read = %q, %v", r.pw, r.err)
	}
	if prompt.String() != "Password: \n" {
		t.Errorf("prompt output %q", prompt.String())
	}
	if !echoOn(t, slave) {
		t.Error("echo not restored")
	}
	// What the terminal showed: everything the master can read once the
	// slave is closed.
	slave.Close()
	shown := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(master)
		shown <- b
	}()
	select {
	case b := <-shown:
		if bytes.Contains(b, []byte("hunter2")) {
			t.Errorf("the password was echoed: %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading the terminal's output did not end")
	}
}
