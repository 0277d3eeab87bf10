package errlist

import (
	"errors"
	"testing"
)

type located struct{ msg string }

func (l *located) Error() string { return l.msg }

func TestList(t *testing.T) {
	a, b := &located{"f:1: a"}, &located{"f:2: b"}
	var err error = &List[*located]{List: []*located{a, b}}
	if err.Error() != "f:1: a\nf:2: b" {
		t.Fatalf("Error() = %q", err.Error())
	}
	var got *located
	if !errors.As(err, &got) || got != a || !errors.Is(err, b) {
		t.Fatal("Unwrap does not expose the problems")
	}
}
