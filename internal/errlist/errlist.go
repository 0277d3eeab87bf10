// Package errlist is a list of located problems reported as one error, one
// per line, as the configuration and the ACL loaders report every problem
// of a file at once. It imports only the standard library.
package errlist

import "strings"

// List is every problem found in one input. Loaders keep List non-empty
// and sorted by position.
type List[E error] struct {
	List []E
}

// Error joins the problems one per line.
func (l *List[E]) Error() string {
	lines := make([]string, len(l.List))
	for i, e := range l.List {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.Is and errors.As.
func (l *List[E]) Unwrap() []error {
	errs := make([]error, len(l.List))
	for i, e := range l.List {
		errs[i] = e
	}
	return errs
}
