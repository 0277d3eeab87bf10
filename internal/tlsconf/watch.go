package tlsconf

import "os"

// filesState is what Watch compares between polls: the stat result of
// every watched file, in order, nil where stat failed.
type filesState []os.FileInfo

func snapshot(files []string) filesState {
	st := make(filesState, len(files))
	for i, f := range files {
		if fi, err := os.Stat(f); err == nil {
			st[i] = fi
		}
	}
	return st
}

// equal reports whether no file changed: same presence, and for present
// files the same inode (os.SameFile), size and modification time.
func (a filesState) equal(b filesState) bool {
	if len(a) != len(b) {
		return false
	}
	for i, x := range a {
		y := b[i]
		if x == nil || y == nil {
			if x != nil || y != nil {
				return false
			}
			continue
		}
		if !os.SameFile(x, y) || x.Size() != y.Size() || !x.ModTime().Equal(y.ModTime()) {
			return false
		}
	}
	return true
}
