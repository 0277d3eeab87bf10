package config

import (
	"math"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeScalar decodes the YAML value src into v.
func decodeScalar(src string, v any) error {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("v: "+src), &n); err != nil {
		return err
	}
	return n.Content[0].Content[1].Decode(v)
}

func TestByteSizeParse(t *testing.T) {
	cases := []struct {
		src  string
		want ByteSize
		err  string
	}{
		{src: "0", want: 0},
		{src: "1048576", want: 1 << 20},
		{src: "0x400", want: 1024},
		{src: "1_000", want: 1000},
		{src: `"1024"`, want: 1024},
		{src: "1B", want: 1},
		{src: "1KB", want: 1000},
		{src: "1kb", want: 1000},
		{src: "1MB", want: 1000000},
		{src: "2GB", want: 2000000000},
		{src: "1KiB", want: 1024},
		{src: "512 KiB", want: 512 << 10},
		{src: "1MiB", want: 1 << 20},
		{src: "1mib", want: 1 << 20},
		{src: "16MIB", want: 16 << 20},
		{src: "3GiB", want: 3 << 30},
		{src: "8589934591GiB", want: 8589934591 << 30},
		{src: "8589934592GiB", err: `size "8589934592GiB" is too large`},
		{src: "9223372036854775807", want: math.MaxInt64},
		{src: "9223372036854775808", err: "size 9223372036854775808 is too large"},
		{src: "99999999999999999999B", err: `size "99999999999999999999B" is too large`},
		{src: "-1", err: "must not be negative, got -1"},
		{src: "-1KiB", err: `must not be negative, got "-1KiB"`},
		{src: "1.5MiB", err: `invalid size "1.5MiB": want a whole number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. "512KiB"`},
		{src: "1.5", err: "must be a whole number of bytes, got 1.5"},
		{src: "MiB", err: `invalid size "MiB": want a whole number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. "512KiB"`},
		{src: "1M", err: `invalid size "1M": unknown unit "M"; use B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024)`},
		{src: "1 TB", err: `invalid size "1 TB": unknown unit "TB"; use B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024)`},
		{src: "true", err: `must be a size such as 1048576, "512KiB" or "1MiB", got true`},
		{src: "[1]", err: `must be a size such as 1048576, "512KiB" or "1MiB"`},
	}
	for _, tc := range cases {
		var b ByteSize
		err := decodeScalar(tc.src, &b)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.src, err)
		case tc.err == "" && b != tc.want:
			t.Errorf("%s = %d, want %d", tc.src, b, tc.want)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	cases := []struct {
		b    ByteSize
		want string
	}{
		{0, "0B"}, {1, "1B"}, {1000, "1KB"}, {1024, "1KiB"}, {1 << 20, "1MiB"}, {16 << 20, "16MiB"},
		{1500, "1500B"}, {1536, "1536B"}, {2000000, "2MB"},
		{268435460, "268435460B"}, {5 << 30, "5GiB"}, {-3, "-3B"},
	}
	for _, tc := range cases {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tc.b), got, tc.want)
		}
		if tc.b < 0 {
			continue
		}
		var back ByteSize
		if err := decodeScalar(tc.want, &back); err != nil || back != tc.b {
			t.Errorf("%q parses back to %d, %v", tc.want, back, err)
		}
	}
	if ByteSize(42).Int() != 42 {
		t.Error("Int")
	}
}

func TestDurationParse(t *testing.T) {
	cases := []struct {
		src  string
		want time.Duration
		err  string
	}{
		{src: "0", want: 0},
		{src: "0s", want: 0},
		{src: "10s", want: 10 * time.Second},
		{src: "1h30m", want: 90 * time.Minute},
		{src: "250ms", want: 250 * time.Millisecond},
		{src: `"1.5h"`, want: 90 * time.Minute},
		{src: "10", err: `invalid duration "10": want a number with a unit (h, m, s, ms, us, ns), e.g. "10s" or "1h30m"`},
		{src: "10 s", err: `invalid duration "10 s": want a number with a unit (h, m, s, ms, us, ns), e.g. "10s" or "1h30m"`},
		{src: "1d", err: `invalid duration "1d": want a number with a unit (h, m, s, ms, us, ns), e.g. "10s" or "1h30m"`},
		{src: "-1s", err: "must not be negative, got -1s"},
		{src: "{a: 1}", err: `must be a duration such as "10s" or "1h30m"`},
	}
	for _, tc := range cases {
		var d Duration
		err := decodeScalar(tc.src, &d)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s: error %v, want %q", tc.src, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.src, err)
		case tc.err == "" && d.D() != tc.want:
			t.Errorf("%s = %v, want %v", tc.src, d.D(), tc.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {10 * time.Second, "10s"}, {24 * time.Hour, "24h"}, {90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"}, {10 * time.Minute, "10m"}, {1500 * time.Millisecond, "1.5s"},
		{250 * time.Millisecond, "250ms"},
	}
	for _, tc := range cases {
		got := Duration(tc.d).String()
		if got != tc.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.d, got, tc.want)
		}
		var back Duration
		if err := decodeScalar(got, &back); err != nil || back.D() != tc.d {
			t.Errorf("%q parses back to %v, %v", got, back.D(), err)
		}
	}
}
