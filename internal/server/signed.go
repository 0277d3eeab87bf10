package server

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/signed"
)

// buildSigned makes the signed-topics verifier; nil without rules.
func (s *Server) buildSigned() (*signed.Verifier, error) {
	st := s.cfg.SignedTopics
	if len(st.Rules) == 0 {
		return nil, nil
	}
	p, err := signedPolicy(st)
	if err != nil {
		return nil, err
	}
	k, err := signed.LoadKeys(st.Keys)
	if err != nil {
		return nil, fmt.Errorf("signed_topics.keys: %w", err)
	}
	return signed.NewVerifier(p, k, time.Now), nil
}

// signedPolicy compiles the rules; errors name their config path.
func signedPolicy(st config.SignedTopics) (*signed.Policy, error) {
	c := signed.Config{AllowReplayAfterRestart: st.AllowReplayAfterRestart, MaxWindows: st.MaxWindows,
		MaxNonces: st.MaxNonces, MaxNoncesPerKey: st.MaxNoncesPerKey}
	for _, r := range st.Rules {
		c.Rules = append(c.Rules, signed.RuleConfig{Topics: r.Topics, Algorithms: r.Algorithms, Skew: r.Skew.D(),
			Replay: r.Replay, Retain: r.Retain, Carriage: r.Carriage, MQTT5Reason: r.MQTT5Reason,
			MQTT3Action: r.MQTT3Action, MaxSignatureBytes: r.MaxSignatureBytes})
	}
	p, err := signed.NewPolicy(c)
	if err != nil {
		return nil, fmt.Errorf("signed_topics: %s", strings.ReplaceAll(err.Error(), "\n", "\n  signed_topics."))
	}
	return p, nil
}

// sweepSigned forgets replay state that freshness alone now refuses.
func (s *Server) sweepSigned(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.signed.Sweep()
		}
	}
}

// applySigned takes new signed-topics rules from a reloaded
// configuration. It reports whether a restart is needed (rules added to a
// broker that had none, or all removed).
func (s *Server) applySigned(next config.SignedTopics) (restart bool, err error) {
	cur := s.cfg.SignedTopics
	if reflect.DeepEqual(cur, next) {
		return false, nil
	}
	if s.signed == nil || len(next.Rules) == 0 {
		return true, nil
	}
	p, err := signedPolicy(next)
	if err != nil {
		return false, err
	}
	if next.Keys != cur.Keys {
		k, err := signed.LoadKeys(next.Keys)
		if err != nil {
			return false, fmt.Errorf("signed_topics.keys: %w", err)
		}
		s.signed.SetKeys(k)
		s.publishKeyBindings()
	}
	s.signed.SetPolicy(p)
	s.cfg.SignedTopics = next
	return false, nil
}

// reloadSignedKeys reads the key registry again.
func (s *Server) reloadSignedKeys() error {
	if s.signed == nil {
		return nil
	}
	k, err := signed.LoadKeys(s.cfg.SignedTopics.Keys)
	if err != nil {
		return fmt.Errorf("signed_topics.keys: %w (the keys in force stay)", err)
	}
	s.signed.SetKeys(k)
	s.publishKeyBindings()
	return nil
}

// publishKeyBindings publishes the operator-signed key bindings of the
// registry in force on $moat/keys/<identity> (docs/signed-topics.md).
func (s *Server) publishKeyBindings() {
	if s.signed == nil {
		return
	}
	bindings, err := s.signed.Keys().OperatorBindings()
	if err != nil {
		s.log.Error("signed_topics: key bindings not published", "error", err)
		return
	}
	for _, id := range s.broker.PublishKeyBindings(bindings) {
		s.log.Warn("signed_topics: the key binding of an identity that cannot be a topic level is not published", "identity", id)
	}
}
