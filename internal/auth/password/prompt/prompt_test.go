package prompt

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func TestReadLine(t *testing.T) {
	cases := []struct {
		in   string
		want []string // lines, then io.EOF
	}{
		{"pw\n", []string{"pw"}},
		{"pw\r\nsecond\n", []string{"pw", "second"}},
		{"no newline", []string{"no newline"}},
		{"\n", []string{""}},
		{"a b\tc\n", []string{"a b\tc"}},
		{"", nil},
	}
	for _, c := range cases {
		r := strings.NewReader(c.in)
		for _, want := range c.want {
			got, err := ReadLine(r)
			if err != nil || string(got) != want {
				t.Errorf("%q: ReadLine = %q, %v; want %q", c.in, got, err, want)
			}
		}
		if _, err := ReadLine(r); !errors.Is(err, io.EOF) {
			t.Errorf("%q: at the end ReadLine err = %v, want EOF", c.in, err)
		}
	}
	long := strings.Repeat("x", MaxLen+1) + "\n"
	if _, err := ReadLine(strings.NewReader(long)); !errors.Is(err, ErrTooLong) {
		t.Errorf("long line: err %v, want ErrTooLong", err)
	}
	if got, err := ReadLine(strings.NewReader(long[1:])); err != nil || len(got) != MaxLen {
		t.Errorf("line of MaxLen: %d bytes, %v", len(got), err)
	}
}

func TestReadFromPipeWritesNoPrompt(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.WriteString("first\nsecond\n")
	w.Close()
	if IsTerminal(r) {
		t.Fatal("a pipe is a terminal")
	}
	var out bytes.Buffer
	got, err := Read(r, &out, "Password: ")
	if err != nil || string(got) != "first" {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if out.Len() != 0 {
		t.Errorf("prompt written to a non-terminal: %q", out.String())
	}
	// Only one line was consumed.
	if got, _ := Read(r, &out, ""); string(got) != "second" {
		t.Errorf("second Read = %q", got)
	}
}
