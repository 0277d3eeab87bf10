package signed

import (
	"fmt"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/errlist"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/topic"
)

// Defaults and bounds of the policy (docs/signed-topics.md, "Policy").
const (
	DefaultSkew              = 30 * time.Second
	MaxSkew                  = 300 * time.Second
	DefaultMaxSignatureBytes = 1024
	MaxMaxSignatureBytes     = 65535
	DefaultMaxWindows        = 100_000
	DefaultMaxNonces         = 100_000
	DefaultMaxNoncesPerKey   = 10_000
	maxRules                 = 10_000
)

// Config is the signed_topics section of the broker configuration, typed.
// internal/config decodes YAML into its own struct and converts it; the
// zero value of every field means its default.
type Config struct {
	// Rules in order: the first rule with a filter that matches a topic
	// name applies to it.
	Rules []RuleConfig
	// AllowReplayAfterRestart accepts, right after the verifier starts,
	// messages issued before its start plus the skew. Off (the default),
	// they are refused with ReasonRestart, since the replay state is in
	// memory and a message captured before a restart would otherwise be
	// accepted a second time.
	AllowReplayAfterRestart bool
	// MaxWindows bounds the sequence windows (one per key in use).
	// Default DefaultMaxWindows.
	MaxWindows int
	// MaxNonces bounds the nonce cache. Default DefaultMaxNonces.
	MaxNonces int
	// MaxNoncesPerKey bounds one key's share of the nonce cache, so that
	// one publisher cannot fill it for all. Default
	// DefaultMaxNoncesPerKey.
	MaxNoncesPerKey int
}

// RuleConfig marks topics as signed.
type RuleConfig struct {
	// Topics are MQTT topic filters (no shared subscriptions).
	Topics []string
	// Algorithms accepted: "ed25519", "es256". Default both (each key's
	// algorithm is fixed by the key registry).
	Algorithms []string
	// Skew is how far the signed issue time may be from the broker's
	// clock, either way. Default 30s, at most 300s.
	Skew time.Duration
	// Replay is "sequence" (default), "nonce" or "any".
	Replay string
	// Retain allows retained messages; off by default on signed topics.
	Retain bool
	// Carriage is "auto" (default: MQTT 5 detached in the moat-sig user
	// property, MQTT 3.x an envelope payload), "envelope" (every version
	// sends an envelope payload) or "detached" (MQTT 5 only; MQTT 3.x
	// publishers are refused).
	Carriage string
	// MQTT5Reason is the PUBACK/PUBREC reason code of a refusal:
	// "not_authorized" (0x87, default) or "payload_format_invalid" (0x99).
	MQTT5Reason string
	// MQTT3Action is what a refusal does to an MQTT 3.x publisher, which
	// cannot be told why: "drop" (default) or "disconnect".
	MQTT3Action string
	// MaxSignatureBytes caps the decoded COSE_Sign1 (without an attached
	// payload). Default 1024, at most 65535.
	MaxSignatureBytes int
}

// Carriage says where a signature travels.
type Carriage uint8

// The carriages of a rule.
const (
	CarriageAuto     Carriage = iota // MQTT 5 detached, MQTT 3.x envelope
	CarriageEnvelope                 // envelope for every version
	CarriageDetached                 // MQTT 5 detached only
)

// rule is a compiled RuleConfig.
type rule struct {
	index      int
	algs       uint8 // bit 0: EdDSA, bit 1: ES256
	skew       int64 // seconds
	replay     uint8 // bit per Mode
	retain     bool
	carriage   Carriage
	code       packet.ReasonCode
	disconnect bool
	maxSig     int
}

func algBit(a Alg) uint8 {
	switch a {
	case EdDSA:
		return 1
	case ES256:
		return 2
	}
	return 0
}

// filterRef is one filter of one rule, in config order.
type filterRef struct {
	filter string
	rule   *rule
}

// Policy is a compiled, immutable signed-topics configuration. Reload by
// building a new one and passing it to Verifier.SetPolicy.
type Policy struct {
	rules []rule
	// byFirst indexes the filters by their literal first level; wild holds
	// those whose first level is '+' or '#'. Both keep config order.
	byFirst map[string][]filterRef
	wild    []filterRef
	maxSkew int64 // seconds, the largest skew of any rule

	allowRestartReplay bool
	maxWindows         int
	maxNonces          int
	maxNoncesPerKey    int
}

// ConfigError is one problem of a Config, located by its path below the
// signed_topics section, such as "rules[1].skew".
type ConfigError struct {
	Path string
	Msg  string
}

func (e *ConfigError) Error() string { return e.Path + ": " + e.Msg }

// NewPolicy compiles c. It reports every problem at once, as a
// *errlist.List[*ConfigError].
func NewPolicy(c Config) (*Policy, error) {
	p := &Policy{
		byFirst:            make(map[string][]filterRef),
		allowRestartReplay: c.AllowReplayAfterRestart,
		maxWindows:         orDefault(c.MaxWindows, DefaultMaxWindows),
		maxNonces:          orDefault(c.MaxNonces, DefaultMaxNonces),
		maxNoncesPerKey:    orDefault(c.MaxNoncesPerKey, DefaultMaxNoncesPerKey),
	}
	var errs []*ConfigError
	bad := func(path, format string, args ...any) {
		errs = append(errs, &ConfigError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_windows", c.MaxWindows}, {"max_nonces", c.MaxNonces}, {"max_nonces_per_key", c.MaxNoncesPerKey}} {
		if f.v < 0 {
			bad(f.name, "must not be negative")
		}
	}
	if len(c.Rules) > maxRules {
		bad("rules", "more than %d rules", maxRules)
		c.Rules = c.Rules[:maxRules]
	}
	p.rules = make([]rule, len(c.Rules))
	for i, rc := range c.Rules {
		compileRule(&p.rules[i], i, rc, func(field, format string, args ...any) {
			bad(fmt.Sprintf("rules[%d].%s", i, field), format, args...)
		})
		r := &p.rules[i]
		p.maxSkew = max(p.maxSkew, r.skew)
		if len(rc.Topics) == 0 {
			bad(fmt.Sprintf("rules[%d].topics", i), "no topic filter")
		}
		for j, f := range rc.Topics {
			if err := topic.ValidateFilter(f, topic.Limits{}); err != nil {
				bad(fmt.Sprintf("rules[%d].topics[%d]", i, j), "%v", err)
				continue
			}
			if _, _, shared, _ := topic.ParseShared(f); shared {
				bad(fmt.Sprintf("rules[%d].topics[%d]", i, j), "a shared subscription is not a topic pattern")
				continue
			}
			ref := filterRef{filter: f, rule: r}
			first, _, _ := strings.Cut(f, "/")
			if first == "+" || first == "#" {
				p.wild = append(p.wild, ref)
			} else {
				p.byFirst[first] = append(p.byFirst[first], ref)
			}
		}
	}
	if len(errs) > 0 {
		return nil, &errlist.List[*ConfigError]{List: errs}
	}
	return p, nil
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

type badFunc func(field, format string, args ...any)

func compileRule(r *rule, i int, rc RuleConfig, bad badFunc) {
	r.index, r.retain = i, rc.Retain
	if len(rc.Algorithms) == 0 {
		r.algs = algBit(EdDSA) | algBit(ES256)
	}
	for j, name := range rc.Algorithms {
		a, ok := ParseAlg(name)
		if !ok {
			bad(fmt.Sprintf("algorithms[%d]", j), "unknown algorithm %q (ed25519, es256)", name)
		}
		r.algs |= algBit(a)
	}
	switch skew := rc.Skew; {
	case skew == 0:
		r.skew = int64(DefaultSkew / time.Second)
	case skew < time.Second || skew > MaxSkew || skew%time.Second != 0:
		bad("skew", "must be whole seconds from 1s to %s", MaxSkew)
	default:
		r.skew = int64(skew / time.Second)
	}
	switch rc.Replay {
	case "", "sequence":
		r.replay = 1 << Sequence
	case "nonce":
		r.replay = 1 << Nonce
	case "any":
		r.replay = 1<<Sequence | 1<<Nonce
	default:
		bad("replay", "unknown replay mode %q (sequence, nonce, any)", rc.Replay)
	}
	switch rc.Carriage {
	case "", "auto":
		r.carriage = CarriageAuto
	case "envelope":
		r.carriage = CarriageEnvelope
	case "detached":
		r.carriage = CarriageDetached
	default:
		bad("carriage", "unknown carriage %q (auto, envelope, detached)", rc.Carriage)
	}
	switch rc.MQTT5Reason {
	case "", "not_authorized":
		r.code = packet.NotAuthorized
	case "payload_format_invalid":
		r.code = packet.PayloadFormatInvalid
	default:
		bad("mqtt5_reason", "unknown reason %q (not_authorized, payload_format_invalid)", rc.MQTT5Reason)
	}
	switch rc.MQTT3Action {
	case "", "drop":
	case "disconnect":
		r.disconnect = true
	default:
		bad("mqtt3_action", "unknown action %q (drop, disconnect)", rc.MQTT3Action)
	}
	switch n := rc.MaxSignatureBytes; {
	case n == 0:
		r.maxSig = DefaultMaxSignatureBytes
	case n < 128 || n > MaxMaxSignatureBytes:
		bad("max_signature_bytes", "must be from 128 to %d", MaxMaxSignatureBytes)
	default:
		r.maxSig = n
	}
}

// match returns the first rule, in config order, with a filter that
// matches the topic name, and that filter; nil when the topic is not
// signed. It does not allocate: one map lookup on the first level, then
// topic.MatchFilter on that level's filters and the wildcard ones.
func (p *Policy) match(name string) (*rule, string) {
	if p == nil || len(p.rules) == 0 {
		return nil, ""
	}
	first := name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		first = name[:i]
	}
	var best *filterRef
	refs := p.byFirst[first]
	for i := range refs {
		ref := &refs[i]
		if topic.MatchFilter(ref.filter, name) {
			best = ref
			break
		}
	}
	for i := range p.wild {
		ref := &p.wild[i]
		if best != nil && ref.rule.index >= best.rule.index {
			break
		}
		if topic.MatchFilter(ref.filter, name) {
			best = ref
			break
		}
	}
	if best == nil {
		return nil, ""
	}
	return best.rule, best.filter
}
