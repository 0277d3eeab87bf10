package server

import (
	"fmt"
	"net/netip"
	"reflect"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/limits"
)

// buildGates makes the accept-time gates: each listener's firewall and
// the connection limits.
func (s *Server) buildGates() error {
	rules, err := firewallRules(s.cfg)
	if err != nil {
		return err
	}
	s.firewall = limits.NewFirewall(rules, s.acceptRefused)
	s.conns = limits.NewConnections(connectionLimits(s.cfg.Limits), nil, s.acceptRefused)
	return nil
}

// acceptRefused records a connection closed at accept: audited (the audit
// log aggregates floods), logged at debug level only, so that a flood
// cannot flood the log.
func (s *Server) acceptRefused(listener string, remote netip.AddrPort, reason string) {
	s.metrics.AcceptRefused.Add(reason, 1)
	s.audit.Record(audit.Event{Kind: audit.ConnectionRefused, Listener: listener, Remote: remote, Detail: reason})
	s.log.Debug("connection refused at accept", "listener", listener, "remote", remote, "reason", reason)
}

// firewallRules parses every listener's firewall.
func firewallRules(cfg *config.Config) (map[string]limits.FirewallRules, error) {
	rules := make(map[string]limits.FirewallRules)
	for i, lc := range cfg.Listeners {
		allow, deny, err := lc.Firewall.Prefixes()
		if err != nil {
			return nil, fmt.Errorf("listeners[%d].firewall: %w", i, err)
		}
		if len(allow)+len(deny) > 0 {
			rules[lc.Name] = limits.FirewallRules{Allow: allow, Deny: deny}
		}
	}
	return rules, nil
}

// connectionLimits converts the limits section (defaults applied).
func connectionLimits(l config.Limits) limits.ConnectionLimits {
	return limits.ConnectionLimits{
		Max: *l.MaxConnections, MaxPerAddress: *l.MaxConnectionsPerAddress,
		Rate: l.ConnectionRate, Burst: l.ConnectionBurst,
		RatePerAddress: *l.ConnectionRatePerAddress, BurstPerAddress: *l.ConnectionBurstPerAddress,
	}
}

// ApplyConfig takes what can change while running from next, a validated
// configuration read again on SIGHUP: the listeners' firewalls, the
// connection limits and the publish rate limits. It returns the other sections in which next differs;
// they need a restart and are not applied. Files named by the
// configuration (passwords, policy, certificates) are reloaded by Reload.
func (s *Server) ApplyConfig(next *config.Config) (needRestart []string, err error) {
	defer func() { s.recordReload(err, "configuration") }()
	next.ApplyDefaults()
	if err := next.Validate(); err != nil {
		return nil, err
	}
	rules, err := firewallRules(next)
	if err != nil {
		return nil, err
	}
	needRestart = restartOnly(s.cfg, next)
	restart, err := s.applySigned(next.SignedTopics)
	if err != nil {
		return nil, err
	}
	if restart {
		needRestart = append(needRestart, "signed_topics")
	}
	s.firewall.Update(rules)
	s.conns.Update(connectionLimits(next.Limits))
	s.broker.SetPublishLimits(publishLimits(next.Limits))
	s.cfg.Limits = next.Limits
	for i := range s.cfg.Listeners {
		for _, nl := range next.Listeners {
			if nl.Name == s.cfg.Listeners[i].Name {
				s.cfg.Listeners[i].Firewall = nl.Firewall
			}
		}
	}
	return needRestart, nil
}

// restartOnly lists the top-level sections (and listeners) in which next
// differs from cur beyond what ApplyConfig applies.
func restartOnly(cur, next *config.Config) []string {
	a, b := *cur, *next
	var out []string
	if cur.Limits.MemoryBudget != next.Limits.MemoryBudget {
		out = append(out, "limits.memory_budget")
	}
	a.Limits, b.Limits = config.Limits{}, config.Limits{}
	a.SignedTopics, b.SignedTopics = config.SignedTopics{}, config.SignedTopics{} // applySigned
	a.Listeners = withoutFirewalls(cur.Listeners)
	b.Listeners = withoutFirewalls(next.Listeners)
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name := va.Type().Field(i).Tag.Get("yaml")
			if name == "listeners" && len(a.Listeners) == len(b.Listeners) {
				for j := range a.Listeners {
					if !reflect.DeepEqual(a.Listeners[j], b.Listeners[j]) {
						out = append(out, fmt.Sprintf("listeners[%d]", j))
					}
				}
				continue
			}
			out = append(out, name)
		}
	}
	return out
}

func withoutFirewalls(ls []config.Listener) []config.Listener {
	out := make([]config.Listener, len(ls))
	for i, l := range ls {
		l.Firewall = config.Firewall{}
		out[i] = l
	}
	return out
}

// ConfigRefused audits a configuration file that did not load on reload
// (it changed nothing).
func (s *Server) ConfigRefused(err error) { s.recordReload(err, "configuration") }

// publishLimits converts the publish limits (defaults applied).
func publishLimits(l config.Limits) broker.PublishLimits {
	return broker.PublishLimits{Rate: l.PublishRate, Burst: float64(l.PublishBurst),
		BytesRate: float64(l.PublishBytesRate), BytesBurst: float64(l.PublishBytesBurst),
		IdentityRate: l.IdentityPublishRate, IdentityBurst: float64(l.IdentityPublishBurst),
		Sustain: l.ThrottleDisconnect.D()}
}
