package proxyproto

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Trusted is an immutable set of networks whose PROXY headers are honoured.
// The zero value and a nil *Trusted trust nobody. It is safe for concurrent
// use.
type Trusted struct {
	prefixes []netip.Prefix // masked; IPv4 ones in IPv4 form, never 4-in-6
}

// ParseTrusted builds a Trusted set from CIDRs ("10.0.0.0/8", "2001:db8::/32")
// and bare addresses ("192.0.2.7", "::1"). IPv4-mapped IPv6 entries are
// stored in their IPv4 form. A CIDR with host bits set ("10.1.2.3/8") is
// refused rather than widened, as are zones and blanks. Every bad entry is
// reported, each as "cidrs[i]: ...".
func ParseTrusted(cidrs []string) (*Trusted, error) {
	t := &Trusted{prefixes: make([]netip.Prefix, 0, len(cidrs))}
	var errs []error
	for i, s := range cidrs {
		p, err := parseTrustedEntry(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("cidrs[%d]: %q: %w", i, s, err))
			continue
		}
		t.prefixes = append(t.prefixes, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

func parseTrustedEntry(s string) (netip.Prefix, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return netip.Prefix{}, errors.New("empty or padded with spaces")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("host bits set; write %s or %s/%d", p.Masked(), p.Addr(), p.Addr().BitLen())
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zones are not allowed")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// Contains reports whether a is in the set. An IPv4-mapped IPv6 address
// matches as its IPv4 form; a zone is ignored.
func (t *Trusted) Contains(a netip.Addr) bool {
	if t == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// String lists the set's prefixes, for logs.
func (t *Trusted) String() string {
	if t == nil {
		return "[]"
	}
	return fmt.Sprint(t.prefixes)
}
