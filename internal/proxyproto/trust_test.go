package proxyproto

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrusted(t *testing.T) {
	tr, err := ParseTrusted([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1", "::ffff:172.16.0.0/108", "::ffff:198.51.100.9"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3":               true,
		"::ffff:10.1.2.3":        true, // mapped matches its IPv4 form
		"11.0.0.0":               false,
		"192.0.2.7":              true,
		"192.0.2.8":              false,
		"2001:db8:1::5":          true,
		"2001:db9::":             false,
		"::1":                    true,
		"::2":                    false,
		"172.16.9.9":             true, // from a mapped prefix
		"172.32.0.1":             false,
		"198.51.100.9":           true, // from a mapped bare address
		"::ffff:198.51.100.9":    true,
		"fe80::1%eth0":           false,
		"::a00:1":                false, // IPv4-compatible, not mapped
		"2001:db8::1%eth0":       true,  // zone ignored
		"::ffff:192.0.2.7":       true,
		"::ffff:0.0.0.0":         false,
		"255.255.255.255":        false,
		"::ffff:255.255.255.255": false,
	} {
		if got := tr.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	if tr.Contains(netip.Addr{}) {
		t.Error("zero Addr trusted")
	}
	if s := tr.String(); !strings.Contains(s, "172.16.0.0/12") {
		t.Errorf("String() = %s", s)
	}
}

func TestTrustedEmpty(t *testing.T) {
	var nilT *Trusted
	empty, err := ParseTrusted(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*Trusted{nilT, empty, {}} {
		if tr.Contains(netip.MustParseAddr("127.0.0.1")) {
			t.Errorf("%v trusts 127.0.0.1", tr)
		}
	}
	if nilT.String() != "[]" {
		t.Error("nil String")
	}
}

func TestParseTrustedErrors(t *testing.T) {
	_, err := ParseTrusted([]string{"10.0.0.0/8", "10.1.2.3/8", "", " 10.0.0.1", "fe80::1%eth0", "bogus", "10.0.0.0/33", "1.2.3.4/"})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"cidrs[1]", "10.0.0.0/8 or 10.1.2.3/32", "cidrs[2]", "cidrs[3]", "cidrs[4]", "cidrs[5]", "cidrs[6]", "cidrs[7]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "cidrs[0]") {
		t.Errorf("good entry reported:\n%s", msg)
	}
}
