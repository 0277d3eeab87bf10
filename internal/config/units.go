package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Interface guards: both unit types decode and encode themselves.
var (
	_ yaml.Unmarshaler = (*Duration)(nil)
	_ yaml.Marshaler   = Duration(0)
	_ yaml.Unmarshaler = (*ByteSize)(nil)
	_ yaml.Marshaler   = ByteSize(0)
	_ fmt.Stringer     = Duration(0)
	_ fmt.Stringer     = ByteSize(0)
)

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as a Go duration without trailing zero units: "24h",
// "1h30m", "10s", "0s". The result parses back to d.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// UnmarshalYAML accepts a Go duration string such as "10s", "1h30m" or
// "250ms"; "0" is the only value allowed without a unit. Negative durations
// are refused.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New(`must be a duration such as "10s" or "1h30m"`)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf(`invalid duration %q: want a number with a unit (h, m, s, ms, us, ns), e.g. "10s" or "1h30m"`, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("must not be negative, got %s", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as its String form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// byteUnit is one unit accepted in a ByteSize.
type byteUnit struct {
	name string
	size int64
}

// byteUnits are the accepted units, matched case-insensitively. The decimal
// units are powers of 1000, the binary ones powers of 1024.
var byteUnits = []byteUnit{
	{"B", 1},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
}

// displayUnits are tried in order by String: binary units first, as
// protocol limits are usually powers of two.
var displayUnits = []byteUnit{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"GB", 1000 * 1000 * 1000}, {"MB", 1000 * 1000}, {"KB", 1000},
}

// Int returns b as an int, saturating at the largest int on platforms where
// int is narrower than 64 bits.
func (b ByteSize) Int() int {
	if int64(b) > int64(math.MaxInt) {
		return math.MaxInt
	}
	return int(b)
}

// String formats b in the largest unit that divides it exactly: "1MiB",
// "64KB", "1000B", "0B". The result parses back to b.
func (b ByteSize) String() string {
	if b > 0 {
		for _, u := range displayUnits {
			if int64(b)%u.size == 0 {
				return strconv.FormatInt(int64(b)/u.size, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// UnmarshalYAML accepts a whole number of bytes (1048576) or a whole number
// with a unit, optionally separated by spaces ("1MiB", "512 KiB", "64kb").
// Negative sizes, fractions and sizes beyond the int64 range are refused.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New(`must be a size such as 1048576, "512KiB" or "1MiB"`)
	}
	switch n.ShortTag() {
	case "!!int":
		var v int64
		if err := n.Decode(&v); err != nil {
			if strings.HasPrefix(n.Value, "-") {
				return fmt.Errorf("must not be negative, got %s", n.Value)
			}
			return fmt.Errorf("size %s is too large", n.Value)
		}
		if v < 0 {
			return fmt.Errorf("must not be negative, got %s", n.Value)
		}
		*b = ByteSize(v)
		return nil
	case "!!str":
		v, err := parseByteSize(n.Value)
		if err != nil {
			return err
		}
		*b = v
		return nil
	case "!!float":
		return fmt.Errorf("must be a whole number of bytes, got %s", n.Value)
	}
	return fmt.Errorf(`must be a size such as 1048576, "512KiB" or "1MiB", got %s`, n.Value)
}

// MarshalYAML writes b as its String form.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// parseByteSize parses "<digits>[spaces][unit]".
func parseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("must not be negative, got %q", s)
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	digits, unit := t[:i], strings.TrimSpace(t[i:])
	if digits == "" || strings.HasPrefix(unit, ".") {
		return 0, fmt.Errorf(`invalid size %q: want a whole number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. "512KiB"`, s)
	}
	mult := int64(1)
	if unit != "" {
		mult = 0
		for _, u := range byteUnits {
			if strings.EqualFold(unit, u.name) {
				mult = u.size
				break
			}
		}
		if mult == 0 {
			return 0, fmt.Errorf("invalid size %q: unknown unit %q; use B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024)", s, unit)
		}
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(v * mult), nil
}

// ParseMemoryBudget reads limits.memory_budget: auto reports true; off
// reports 0; a size reports its bytes.
func (l Limits) ParseMemoryBudget() (bytes uint64, auto bool, err error) {
	switch l.MemoryBudget {
	case "", "auto":
		return 0, true, nil
	case "off":
		return 0, false, nil
	}
	b, err := parseByteSize(l.MemoryBudget)
	if err != nil || b < 1<<20 {
		return 0, false, fmt.Errorf("%q: want auto, off, or a size of at least 1MiB such as 2GiB", l.MemoryBudget)
	}
	return uint64(b), false, nil
}
