package doctor

import (
	"fmt"
	"strconv"

	"github.com/moatmq/moat/internal/signed"
)

// signedTopics checks the signed_topics section (docs/signed-topics.md):
// rules that allow retained messages (MOAT-SIGN-001), and rules or a key
// registry that do not load, or settings that weaken the replay defence
// (MOAT-SIGN-002).
func (c *checker) signedTopics() {
	st := c.cfg.SignedTopics
	if len(st.Rules) == 0 {
		return
	}
	for i, r := range st.Rules {
		if r.Retain {
			c.add(IDSignedRetain, Finding{Path: "signed_topics.rules[" + strconv.Itoa(i) + "].retain",
				Message: fmt.Sprintf("signed topics %v allow retained messages: a retained signed command is delivered again to every later subscriber", r.Topics)})
		}
	}
	cfg := signed.Config{AllowReplayAfterRestart: st.AllowReplayAfterRestart, MaxWindows: st.MaxWindows,
		MaxNonces: st.MaxNonces, MaxNoncesPerKey: st.MaxNoncesPerKey}
	for _, r := range st.Rules {
		cfg.Rules = append(cfg.Rules, signed.RuleConfig{Topics: r.Topics, Algorithms: r.Algorithms, Skew: r.Skew.D(),
			Replay: r.Replay, Retain: r.Retain, Carriage: r.Carriage, MQTT5Reason: r.MQTT5Reason,
			MQTT3Action: r.MQTT3Action, MaxSignatureBytes: r.MaxSignatureBytes})
	}
	if _, err := signed.NewPolicy(cfg); err != nil {
		c.add(IDSignedPolicy, Finding{Path: "signed_topics.rules", Message: "the rules do not compile: " + err.Error()})
	}
	if st.AllowReplayAfterRestart {
		c.addAt(IDSignedPolicy, SeverityMedium, Finding{Path: "signed_topics.allow_replay_after_restart",
			Message: "a message captured shortly before a restart can be replayed once after it (the replay state is in memory)",
			Fix:     "Leave allow_replay_after_restart off unless publishers cannot tolerate the refusals during the skew after a start."})
	}
	if c.opts.SkipFiles || st.Keys == "" {
		return
	}
	if _, err := signed.LoadKeys(st.Keys); err != nil {
		c.add(IDSignedPolicy, Finding{Path: "signed_topics.keys", File: st.Keys,
			Message: "the key registry does not load, so moat serve will not start: " + err.Error()})
	}
}
