package limits

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// FirewallRules are one listener's address lists (unmapped, masked; see
// config.Firewall.Prefixes). A deny entry always wins; with allow entries,
// an address must match one of them.
type FirewallRules struct {
	Allow []netip.Prefix
	Deny  []netip.Prefix
}

// admits reports whether a (unmapped) passes r.
func (r *FirewallRules) admits(a netip.Addr) bool {
	for _, p := range r.Deny {
		if p.Contains(a) {
			return false
		}
	}
	if len(r.Allow) == 0 {
		return true
	}
	for _, p := range r.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Firewall admits connections by source address, per listener, before any
// TLS work. Its rules are swapped whole on reload; checks take no lock.
type Firewall struct {
	rules    atomic.Pointer[map[string]FirewallRules]
	onRefuse func(listener string, remote netip.AddrPort, reason string)
}

var _ Admission = (*Firewall)(nil)

// NewFirewall builds a firewall with rules by listener name; a listener
// without rules admits everyone. onRefuse (may be nil) hears of each
// refusal.
func NewFirewall(rules map[string]FirewallRules, onRefuse func(listener string, remote netip.AddrPort, reason string)) *Firewall {
	f := &Firewall{onRefuse: onRefuse}
	f.Update(rules)
	return f
}

// Update replaces every listener's rules; connections already admitted
// stay.
func (f *Firewall) Update(rules map[string]FirewallRules) {
	cp := make(map[string]FirewallRules, len(rules))
	for k, v := range rules {
		cp[k] = v
	}
	f.rules.Store(&cp)
}

// Accept implements Admission.
func (f *Firewall) Accept(listener string, remote netip.AddrPort) bool {
	r, ok := (*f.rules.Load())[listener]
	if !ok || r.admits(remote.Addr().Unmap()) {
		return true
	}
	if f.onRefuse != nil {
		f.onRefuse(listener, remote, "address refused by the listener's firewall")
	}
	return false
}

// Released implements Admission.
func (f *Firewall) Released(string, netip.AddrPort) {}

// Connect implements Admission.
func (f *Firewall) Connect(*Client) packet.ReasonCode { return 0 }

// Authenticated implements Admission.
func (f *Firewall) Authenticated(*Client) packet.ReasonCode { return 0 }

// AuthFailed implements Admission.
func (f *Firewall) AuthFailed(*Client) time.Duration { return 0 }

// Closed implements Admission.
func (f *Firewall) Closed(*Client) {}
