package signed

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/errlist"
)

func TestNewPolicyErrors(t *testing.T) {
	_, err := NewPolicy(Config{
		MaxNonces: -1,
		Rules: []RuleConfig{
			{Topics: []string{"a/#", "b/#/c", "$share/g/x"}},
			{},
			{Topics: []string{"c"}, Algorithms: []string{"rs256"}, Skew: 301 * time.Second, Replay: "counter",
				Carriage: "inline", MQTT5Reason: "banned", MQTT3Action: "kick", MaxSignatureBytes: 100},
			{Topics: []string{"d"}, Skew: 1500 * time.Millisecond},
		},
	})
	var list *errlist.List[*ConfigError]
	if !errors.As(err, &list) {
		t.Fatalf("%T %v", err, err)
	}
	var paths []string
	for _, e := range list.List {
		paths = append(paths, e.Path)
		if e.Msg == "" {
			t.Errorf("%s: no message", e.Path)
		}
	}
	want := "max_nonces rules[0].topics[1] rules[0].topics[2] rules[1].topics " +
		"rules[2].algorithms[0] rules[2].skew rules[2].replay rules[2].carriage rules[2].mqtt5_reason " +
		"rules[2].mqtt3_action rules[2].max_signature_bytes rules[3].skew"
	if got := strings.Join(paths, " "); got != want {
		t.Fatalf("paths\n%s\nwant\n%s\n%v", got, want, err)
	}
}

func TestPolicyDefaults(t *testing.T) {
	p := mustPolicy(t, Config{Rules: []RuleConfig{{Topics: []string{"a"}}}})
	r := &p.rules[0]
	if r.skew != 30 || r.algs != 3 || r.replay != 1<<Sequence || r.retain || r.carriage != CarriageAuto ||
		r.code != 0x87 || r.disconnect || r.maxSig != 1024 {
		t.Fatalf("%+v", r)
	}
	if p.maxWindows != DefaultMaxWindows || p.maxNonces != DefaultMaxNonces || p.maxNoncesPerKey != DefaultMaxNoncesPerKey ||
		p.allowRestartReplay || p.maxSkew != 30 {
		t.Fatalf("%+v", p)
	}
}

// TestPolicyMatch checks that the first rule in config order wins, with
// the first-level index and wildcard-first filters mixed.
func TestPolicyMatch(t *testing.T) {
	p := mustPolicy(t, Config{Rules: []RuleConfig{
		{Topics: []string{"plant/+/valve/cmd"}},                // 0
		{Topics: []string{"+/+/valve/#", "door/+"}},            // 1
		{Topics: []string{"plant/#"}},                          // 2
		{Topics: []string{"#"}, Algorithms: []string{"es256"}}, // 3
		{Topics: []string{"$SYS/cmd"}},                         // 4
	}})
	for _, tc := range []struct {
		topic  string
		filter string
	}{
		{"plant/7/valve/cmd", "plant/+/valve/cmd"},
		{"plant/7/valve/state", "+/+/valve/#"},
		{"plant/7", "plant/#"},
		{"plant", "plant/#"},
		{"door/a", "door/+"},
		{"door/a/b", "#"},
		{"x", "#"},
		{"/", "#"},
		{"$SYS/cmd", "$SYS/cmd"},
		{"$SYS/other", ""},
	} {
		_, f := p.match(tc.topic)
		if f != tc.filter {
			t.Errorf("%s: matched %q, want %q", tc.topic, f, tc.filter)
		}
	}
	var none *Policy
	if r, _ := none.match("a"); r != nil {
		t.Error("nil policy matched")
	}
}

func TestPolicyMatchNoAlloc(t *testing.T) {
	p := mustPolicy(t, Config{Rules: []RuleConfig{{Topics: []string{"plant/+/valve/cmd", "+/door/#"}}}})
	allocs := testing.AllocsPerRun(100, func() {
		p.match("plant/7/valve/cmd")
		p.match("sensors/7/temperature")
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}
