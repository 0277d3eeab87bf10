// Package didyoumean proposes the known word closest to a misspelt one, for
// error messages ("unknown key \"adress\" (did you mean \"address\"?)").
// It imports only the standard library, so the configuration and the ACL
// loader can share it.
package didyoumean

import (
	"fmt"
	"strings"
)

// maxLen bounds the bytes compared, so that a hostile key cannot make the
// quadratic distance expensive.
const maxLen = 64

// Suggest returns ` (did you mean "K"?)` for the known word K closest
// to word (case-insensitive, at most 2 edits away; ties go to the word
// that sorts first), or "" when none is that close.
func Suggest(word string, known []string) string {
	best, bestDist := "", 3
	w := strings.ToLower(clip(word))
	for _, k := range known {
		if d := Distance(w, clip(k)); d < bestDist || d == bestDist && k < best {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func clip(s string) string {
	if len(s) > maxLen {
		return s[:maxLen]
	}
	return s
}

// Distance is the Levenshtein distance between a and b, in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
