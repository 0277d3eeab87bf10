// Package topic validates MQTT topic names and topic filters and matches
// topic names against subscriptions. It imports only the standard library and
// nothing of the broker.
//
// The rules are those of MQTT 5 sections 4.7 (topic names and filters) and
// 4.8.2 (shared subscriptions), which MQTT 3.1.1 shares apart from shared
// subscriptions. Levels are separated by '/' and may be empty ("a//b", "/a",
// "a/"). In a filter, '+' matches exactly one level (an empty one too) and
// '#' matches its parent level and any number of levels below it. A topic
// name that starts with '$' is not matched by a filter whose first level is a
// wildcard.
//
// Tree is the subscription trie with shared-subscription groups and a bounded
// match cache; MatchFilter matches one filter against one topic name without
// allocating, for retained messages and access control.
package topic

import (
	"strconv"
	"strings"
)

// MaxTopicLength is the longest topic name or filter the protocol can carry,
// the largest length of a UTF-8 encoded string [MQTT-4.7.3-3].
const MaxTopicLength = 65535

// sharePrefix starts every shared subscription's filter [MQTT-4.8.2-1].
const sharePrefix = "$share/"

// Limits bounds topic names and filters beyond the protocol's rules. A zero
// field means no limit other than the protocol's MaxTopicLength.
type Limits struct {
	// MaxLength is the largest length in bytes. For a shared filter it
	// applies to the whole "$share/{ShareName}/{filter}" string.
	MaxLength int
	// MaxLevels is the largest number of levels ("a/b" has two). For a
	// shared filter it applies to the inner filter, the part the trie holds.
	MaxLevels int
	// AllowControl accepts control characters (U+0001..U+001F and
	// U+007F..U+009F), which MQTT discourages [MQTT-4.7.3-2 non-normative]
	// and which can forge log lines or hide topics in tools; off by
	// default.
	AllowControl bool
}

// Kind says what is wrong with a topic name or filter. Kind is an error, and
// every *Error unwraps to its Kind, so errors.Is(err, topic.ErrEmpty) works.
type Kind uint8

// The kinds of invalid topic names and filters. The broker answers a PUBLISH
// with Topic Name invalid (0x90) and a SUBSCRIBE or UNSUBSCRIBE with Topic
// Filter invalid (0x8F) for any of them.
const (
	ErrEmpty               Kind = iota + 1 // empty name or filter [MQTT-4.7.3-1]
	ErrNullChar                            // contains U+0000 [MQTT-4.7.3-2]
	ErrTooLong                             // longer than Limits.MaxLength or MaxTopicLength [MQTT-4.7.3-3]
	ErrTooManyLevels                       // more levels than Limits.MaxLevels
	ErrWildcardInName                      // '+' or '#' in a topic name [MQTT-4.7.0-1]
	ErrMultiLevelWildcard                  // '#' not alone in the last level [MQTT-4.7.1-1]
	ErrSingleLevelWildcard                 // '+' not alone in its level [MQTT-4.7.1-2]
	ErrShareName                           // empty ShareName, or one with '+' or '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2]
	ErrShareFilter                         // no filter after the ShareName [MQTT-4.8.2-2]
	ErrControlChar                         // a control character (U+0001..U+001F, U+007F..U+009F) while Limits.AllowControl is off [MQTT-4.7.3-2]
)

var kindText = [...]string{
	ErrEmpty:               "topic is empty [MQTT-4.7.3-1]",
	ErrNullChar:            "topic contains U+0000 [MQTT-4.7.3-2]",
	ErrTooLong:             "topic is too long [MQTT-4.7.3-3]",
	ErrTooManyLevels:       "topic has too many levels",
	ErrWildcardInName:      "topic name contains a wildcard [MQTT-4.7.0-1]",
	ErrMultiLevelWildcard:  "'#' must be alone in the last level of a filter [MQTT-4.7.1-1]",
	ErrSingleLevelWildcard: "'+' must be alone in its level of a filter [MQTT-4.7.1-2]",
	ErrShareName:           "shared subscription needs a ShareName without '/', '+' or '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2]",
	ErrShareFilter:         "shared subscription has no topic filter after its ShareName [MQTT-4.8.2-2]",
	ErrControlChar:         "topic contains a control character",
}

// Error implements error.
func (k Kind) Error() string {
	if int(k) < len(kindText) && kindText[k] != "" {
		return kindText[k]
	}
	return "topic: Kind(" + strconv.Itoa(int(k)) + ")"
}

// Error reports an invalid topic name or filter: what is wrong and where.
// It does not carry the topic itself, so logging it never copies client data.
type Error struct {
	Kind   Kind
	Offset int // byte offset of the offending character in the checked string
}

// Error implements error.
func (e *Error) Error() string {
	return "topic: " + e.Kind.Error() + " at byte " + strconv.Itoa(e.Offset)
}

// Unwrap returns e.Kind.
func (e *Error) Unwrap() error { return e.Kind }

func errAt(k Kind, off int) error { return &Error{Kind: k, Offset: off} }

// checkLength refuses an empty string and one longer than the limit.
func checkLength(s string, maxLen int) error {
	if s == "" {
		return errAt(ErrEmpty, 0) // [MQTT-4.7.3-1]
	}
	limit := MaxTopicLength
	if maxLen > 0 && maxLen < limit {
		limit = maxLen
	}
	if len(s) > limit {
		return errAt(ErrTooLong, limit) // [MQTT-4.7.3-3]
	}
	return nil
}

// ValidateName checks a topic name as carried by PUBLISH (and by a will or a
// Response Topic): non-empty, no U+0000, no wildcard, within lim. It does not
// check UTF-8 well-formedness, which the codec enforces on every string.
// The result is nil or an *Error.
func ValidateName(name string, lim Limits) error {
	if err := checkLength(name, lim.MaxLength); err != nil {
		return err
	}
	levels := 1
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '/':
			levels++
			if lim.MaxLevels > 0 && levels > lim.MaxLevels {
				return errAt(ErrTooManyLevels, i)
			}
		case '+', '#':
			return errAt(ErrWildcardInName, i) // [MQTT-4.7.0-1]
		case 0:
			return errAt(ErrNullChar, i) // [MQTT-4.7.3-2]
		default:
			if !lim.AllowControl && isControl(name, i) {
				return errAt(ErrControlChar, i)
			}
		}
	}
	return nil
}

// isControl reports whether a control character starts at s[i]: a C0
// control or DEL, or a C1 control (UTF-8 0xC2 0x80..0x9F).
func isControl(s string, i int) bool {
	c := s[i]
	return c < 0x20 || c == 0x7F || c == 0xC2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9F
}

// ValidateFilter checks a topic filter as carried by SUBSCRIBE and
// UNSUBSCRIBE: non-empty, no U+0000, wildcards alone in their levels with '#'
// last, within lim. It accepts shared filters "$share/{ShareName}/{filter}"
// and checks them as ParseShared does, so one call validates any filter the
// broker receives; whether shared subscriptions are allowed at all is the
// caller's decision. The result is nil or an *Error.
func ValidateFilter(filter string, lim Limits) error {
	if err := checkLength(filter, lim.MaxLength); err != nil {
		return err
	}
	group, inner, ok := splitShared(filter)
	if !ok {
		return checkFilter(filter, 0, lim)
	}
	if err := checkShare(group, inner); err != nil {
		return err
	}
	if !lim.AllowControl {
		for i := range len(group) {
			if isControl(group, i) {
				return errAt(ErrControlChar, len("$share/")+i)
			}
		}
	}
	return checkFilter(inner, len(filter)-len(inner), lim)
}

// checkFilter checks the wildcards, U+0000, control characters and the
// level count of a non-empty filter f; base is f's offset in the string the
// caller checks.
func checkFilter(f string, base int, lim Limits) error {
	maxLevels := lim.MaxLevels
	levels := 1
	start := 0 // offset of the current level
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '/':
			levels++
			if maxLevels > 0 && levels > maxLevels {
				return errAt(ErrTooManyLevels, base+i)
			}
			start = i + 1
		case '+':
			if i != start || (i+1 < len(f) && f[i+1] != '/') {
				return errAt(ErrSingleLevelWildcard, base+i) // [MQTT-4.7.1-2]
			}
		case '#':
			if i != start || i != len(f)-1 {
				return errAt(ErrMultiLevelWildcard, base+i) // [MQTT-4.7.1-1]
			}
		case 0:
			return errAt(ErrNullChar, base+i) // [MQTT-4.7.3-2]
		default:
			if !lim.AllowControl && isControl(f, i) {
				return errAt(ErrControlChar, base+i)
			}
		}
	}
	return nil
}

// HasWildcard reports whether filter contains '+' or '#'. For a shared
// filter, pass the inner filter that ParseShared returns.
func HasWildcard(filter string) bool {
	return strings.ContainsAny(filter, "+#")
}

// splitShared splits "$share/{ShareName}/{filter}" without checking the
// parts. ok is false when filter does not start with "$share/"; inner is ""
// when there is no '/' after the ShareName.
func splitShared(filter string) (group, inner string, ok bool) {
	rest, ok := strings.CutPrefix(filter, sharePrefix)
	if !ok {
		return "", "", false
	}
	group, inner, _ = strings.Cut(rest, "/")
	return group, inner, true
}

// checkShare checks the ShareName and the presence of the inner filter of a
// shared filter split by splitShared.
func checkShare(group, inner string) error {
	if group == "" {
		return errAt(ErrShareName, len(sharePrefix)) // [MQTT-4.8.2-1]
	}
	// The ShareName ends at the first '/', so it cannot contain one
	// [MQTT-4.8.2-2].
	if i := strings.IndexAny(group, "+#"); i >= 0 {
		return errAt(ErrShareName, len(sharePrefix)+i) // [MQTT-4.8.2-2]
	}
	if i := strings.IndexByte(group, 0); i >= 0 {
		return errAt(ErrNullChar, len(sharePrefix)+i) // [MQTT-4.7.3-2]
	}
	if inner == "" {
		return errAt(ErrShareFilter, len(sharePrefix)+len(group)) // [MQTT-4.8.2-2]
	}
	// A shared subscription of a shared subscription means nothing; refusing
	// it keeps ParseShared and ValidateFilter of the inner filter in
	// agreement.
	if strings.HasPrefix(inner, sharePrefix) {
		return errAt(ErrShareFilter, len(sharePrefix)+len(group)+1)
	}
	return nil
}

// ParseShared splits a shared filter "$share/{ShareName}/{filter}" into its
// ShareName (group) and inner filter. ok is false, and err nil, for a filter
// that does not start with "$share/" (the prefix is case-sensitive). For a
// malformed shared filter ok is true, group and inner are empty and err is an
// *Error: empty ShareName, ShareName with '+' or '#', no inner filter, or an
// invalid inner filter. ParseShared applies no Limits; ValidateFilter does.
func ParseShared(filter string) (group, inner string, ok bool, err error) {
	group, inner, ok = splitShared(filter)
	if !ok {
		return "", "", false, nil
	}
	err = checkShare(group, inner)
	if err == nil {
		err = checkFilter(inner, len(filter)-len(inner), Limits{AllowControl: true})
	}
	if err != nil {
		return "", "", true, err
	}
	return group, inner, true, nil
}

// levelEnd returns the offset of the '/' that ends the level starting at i,
// or len(s) for the last level.
func levelEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '/'); j >= 0 {
		return i + j
	}
	return len(s)
}

// MatchFilter reports whether filter matches the topic name topic, by the
// rules Tree uses, without allocating. filter is a plain filter: for a shared
// one pass the inner filter. An empty filter or topic matches nothing. For a
// filter ValidateFilter refuses the answer is defined but meaningless: a '+'
// or '#' that is not a whole level is an ordinary character, and a '#' level
// that is not the last level never matches.
func MatchFilter(filter, topic string) bool {
	if filter == "" || topic == "" {
		return false
	}
	fi, ti := 0, 0 // start of the current filter and topic level
	for {
		fj := levelEnd(filter, fi)
		fl := filter[fi:fj]
		wild := fl == "+" || fl == "#"
		if wild && fi == 0 && topic[0] == '$' {
			return false // [MQTT-4.7.2-1]
		}
		if fl == "#" {
			// '#' matches the parent level and everything below it
			// [MQTT-4.7.1-1].
			return fj == len(filter)
		}
		if ti > len(topic) {
			return false // the topic has fewer levels than the filter
		}
		tj := levelEnd(topic, ti)
		if !wild && fl != topic[ti:tj] {
			return false
		}
		fi, ti = fj+1, tj+1
		if fi > len(filter) {
			return ti > len(topic)
		}
	}
}
