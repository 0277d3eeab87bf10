// Package fileversion tells whether a watched file changed between two
// stats, for the watchers that reload certificates, password files, keys,
// bans and policies. It imports only the standard library.
package fileversion

import "os"

// Same reports whether a and b (nil: the file was missing) show the same
// version of a file: the same file, modification time and size.
func Same(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// SameAll is Same for two lists of stats, element by element.
func SameAll(a, b []os.FileInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !Same(a[i], b[i]) {
			return false
		}
	}
	return true
}
