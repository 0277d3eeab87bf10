package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		lim  Limits
		want Kind // 0: valid
		off  int
	}{
		{"sport/tennis/player1", Limits{}, 0, 0},
		{"/finance", Limits{}, 0, 0},
		{"a//b", Limits{}, 0, 0},
		{"a/", Limits{}, 0, 0},
		{"/", Limits{}, 0, 0},
		{"$SYS/broker/uptime", Limits{}, 0, 0},
		{"$share/g/x", Limits{}, 0, 0}, // a name, not a filter: nothing special
		{"caf\u00e9/\U0001F600", Limits{}, 0, 0},
		{"", Limits{}, ErrEmpty, 0},                 // [MQTT-4.7.3-1]
		{"a\x00b", Limits{}, ErrNullChar, 1},        // [MQTT-4.7.3-2]
		{"sport/+", Limits{}, ErrWildcardInName, 6}, // [MQTT-4.7.0-1]
		{"sport/#", Limits{}, ErrWildcardInName, 6}, // [MQTT-4.7.0-1]
		{"sp+ort", Limits{}, ErrWildcardInName, 2},  // [MQTT-4.7.0-1]
		{"a/b/c", Limits{MaxLevels: 3}, 0, 0},       //
		{"a/b/c/d", Limits{MaxLevels: 3}, ErrTooManyLevels, 5},
		{"abcd", Limits{MaxLength: 4}, 0, 0},
		{"abcde", Limits{MaxLength: 4}, ErrTooLong, 4},
		{strings.Repeat("a", MaxTopicLength), Limits{}, 0, 0},
		{strings.Repeat("a", MaxTopicLength+1), Limits{}, ErrTooLong, MaxTopicLength}, // [MQTT-4.7.3-3]
		{strings.Repeat("a", MaxTopicLength+1), Limits{MaxLength: 1 << 20}, ErrTooLong, MaxTopicLength},
		// Control characters, refused unless allowed.
		{"a\nb", Limits{}, ErrControlChar, 1},
		{"a/\x1b[2J", Limits{}, ErrControlChar, 2},
		{"del\x7f", Limits{}, ErrControlChar, 3},
		{"c1\u0085", Limits{}, ErrControlChar, 2},
		{"a\nb", Limits{AllowControl: true}, 0, 0},
		{"\u00a0nbsp is not a control", Limits{}, 0, 0},
	}
	for _, tt := range tests {
		checkErr(t, "ValidateName", short(tt.name), ValidateName(tt.name, tt.lim), tt.want, tt.off)
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		filter string
		lim    Limits
		want   Kind
		off    int
	}{
		{"a/\tb/#", Limits{}, ErrControlChar, 2},
		{"$share/g\x01/x", Limits{}, ErrControlChar, 8},
		{"$share/g/x\x01", Limits{}, ErrControlChar, 10},
		{"a/\tb/#", Limits{AllowControl: true}, 0, 0},
		// Valid examples of MQTT 5 section 4.7.1.
		{"sport/tennis/player1/#", Limits{}, 0, 0},
		{"sport/#", Limits{}, 0, 0},
		{"#", Limits{}, 0, 0},
		{"+", Limits{}, 0, 0},
		{"+/tennis/#", Limits{}, 0, 0},
		{"sport/+/player1", Limits{}, 0, 0},
		{"sport/tennis/+", Limits{}, 0, 0},
		{"+/+", Limits{}, 0, 0},
		{"/+", Limits{}, 0, 0},
		{"+/", Limits{}, 0, 0},
		{"//", Limits{}, 0, 0},
		{"$SYS/#", Limits{}, 0, 0},
		{"a/+/+/#", Limits{}, 0, 0},
		// Invalid examples.
		{"", Limits{}, ErrEmpty, 0},                            // [MQTT-4.7.3-1]
		{"sport/tennis#", Limits{}, ErrMultiLevelWildcard, 12}, // [MQTT-4.7.1-1]
		{"sport/tennis/#/ranking", Limits{}, ErrMultiLevelWildcard, 13},
		{"#/", Limits{}, ErrMultiLevelWildcard, 0},
		{"##", Limits{}, ErrMultiLevelWildcard, 0},
		{"sport+", Limits{}, ErrSingleLevelWildcard, 5}, // [MQTT-4.7.1-2]
		{"+sport", Limits{}, ErrSingleLevelWildcard, 0},
		{"sport/++", Limits{}, ErrSingleLevelWildcard, 6},
		{"+#", Limits{}, ErrSingleLevelWildcard, 0},
		{"a/\x00", Limits{}, ErrNullChar, 2}, // [MQTT-4.7.3-2]
		{"a/+/c", Limits{MaxLevels: 3}, 0, 0},
		{"a/+/c/#", Limits{MaxLevels: 3}, ErrTooManyLevels, 5},
		{"a/b", Limits{MaxLength: 2}, ErrTooLong, 2},
		// Shared filters [MQTT-4.8.2-1] [MQTT-4.8.2-2].
		{"$share/g/a/+", Limits{}, 0, 0},
		{"$share/g/#", Limits{}, 0, 0},
		{"$share/g//", Limits{}, 0, 0},
		{"$share/g/a/b/c", Limits{MaxLevels: 3}, 0, 0},
		{"$share/g/a/b/c/d", Limits{MaxLevels: 3}, ErrTooManyLevels, 14},
		{"$share/g/a/b", Limits{MaxLength: 11}, ErrTooLong, 11},
		{"$share//a", Limits{}, ErrShareName, 7},
		{"$share/", Limits{}, ErrShareName, 7},
		{"$share/g+/a", Limits{}, ErrShareName, 8},
		{"$share/#/a", Limits{}, ErrShareName, 7},
		{"$share/g", Limits{}, ErrShareFilter, 8},
		{"$share/g/", Limits{}, ErrShareFilter, 8},
		{"$share/g/a#", Limits{}, ErrMultiLevelWildcard, 10},
		{"$share/g\x00/a", Limits{}, ErrNullChar, 8},
		// Not shared: the prefix is case-sensitive and needs its '/'.
		{"$share", Limits{}, 0, 0},
		{"$SHARE/g/a", Limits{}, 0, 0},
	}
	for _, tt := range tests {
		checkErr(t, "ValidateFilter", tt.filter, ValidateFilter(tt.filter, tt.lim), tt.want, tt.off)
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		filter       string
		group, inner string
		ok           bool
		want         Kind
	}{
		{"a/b", "", "", false, 0},
		{"$share", "", "", false, 0},
		{"$SHARE/g/a", "", "", false, 0},
		{"$share/g/a/+", "g", "a/+", true, 0},
		{"$share/consumers/#", "consumers", "#", true, 0},
		{"$share/g//", "g", "/", true, 0},
		{"$share/g/$share/h/x", "", "", true, ErrShareFilter}, // nested shares refused
		{"$share/0/$share/", "", "", true, ErrShareFilter},    // found by FuzzValidateFilter
		{"$share//a", "", "", true, ErrShareName},             // [MQTT-4.8.2-1]
		{"$share/", "", "", true, ErrShareName},               // [MQTT-4.8.2-1]
		{"$share/a+b/x", "", "", true, ErrShareName},          // [MQTT-4.8.2-2]
		{"$share/a#/x", "", "", true, ErrShareName},           // [MQTT-4.8.2-2]
		{"$share/g", "", "", true, ErrShareFilter},            // [MQTT-4.8.2-2]
		{"$share/g/", "", "", true, ErrShareFilter},           // [MQTT-4.8.2-2]
		{"$share/g/a/#/b", "", "", true, ErrMultiLevelWildcard},
		{"$share/g/a+", "", "", true, ErrSingleLevelWildcard},
	}
	for _, tt := range tests {
		group, inner, ok, err := ParseShared(tt.filter)
		if group != tt.group || inner != tt.inner || ok != tt.ok {
			t.Errorf("ParseShared(%q) = %q, %q, %v; want %q, %q, %v", tt.filter, group, inner, ok, tt.group, tt.inner, tt.ok)
		}
		checkErr(t, "ParseShared", tt.filter, err, tt.want, -1)
	}
}

func TestHasWildcard(t *testing.T) {
	for f, want := range map[string]bool{"a/b": false, "a/+": true, "#": true, "a/b#": true, "$share/g/a": false} {
		if got := HasWildcard(f); got != want {
			t.Errorf("HasWildcard(%q) = %v, want %v", f, got, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	err := ValidateFilter("a/b#", Limits{})
	if !errors.Is(err, ErrMultiLevelWildcard) {
		t.Fatalf("errors.Is(%v, ErrMultiLevelWildcard) = false", err)
	}
	if errors.Is(err, ErrSingleLevelWildcard) {
		t.Fatalf("errors.Is(%v, ErrSingleLevelWildcard) = true", err)
	}
	const want = "topic: '#' must be alone in the last level of a filter [MQTT-4.7.1-1] at byte 3"
	if err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
	if got := Kind(200).Error(); got != "topic: Kind(200)" {
		t.Fatalf("Kind(200).Error() = %q", got)
	}
}

// checkErr checks that err is nil when want is 0, and otherwise an *Error of
// kind want at offset off (any offset when off < 0).
func checkErr(t *testing.T, fn, in string, err error, want Kind, off int) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Errorf("%s(%q) = %v, want nil", fn, in, err)
		}
		return
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Errorf("%s(%q) = %v, want *Error of kind %d", fn, in, err, want)
		return
	}
	if te.Kind != want || (off >= 0 && te.Offset != off) {
		t.Errorf("%s(%q) = {%d, %d} (%v), want {%d, %d}", fn, in, te.Kind, te.Offset, te, want, off)
	}
}

func short(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-10:]
	}
	return s
}
