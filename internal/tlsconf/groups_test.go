package tlsconf

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"slices"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/config"
)

// Groups come from the configured subject field only, empty and oversized
// values are dropped, and their number is bounded.
func TestCertGroups(t *testing.T) {
	many := make([]string, 0, maxCertGroups+5)
	for i := range maxCertGroups + 5 {
		many = append(many, "g"+strings.Repeat("x", i))
	}
	cert := &x509.Certificate{Subject: pkix.Name{
		OrganizationalUnit: []string{"sensors", "", strings.Repeat("y", maxCertGroupSize+1), "site-7"},
		Organization:       many,
	}}
	for _, tc := range []struct {
		groups string
		want   []string
	}{
		{"none", nil},
		{"", nil},
		{"ou", []string{"sensors", "site-7"}},
		{"o", many[:maxCertGroups]},
	} {
		s, err := parseSettings(config.TLS{Cert: "c", Key: "k", Groups: tc.groups})
		if err != nil {
			t.Fatalf("groups %q: %v", tc.groups, err)
		}
		if got := s.certGroups(cert); !slices.Equal(got, tc.want) {
			t.Errorf("groups %q: got %q, want %q", tc.groups, got, tc.want)
		}
	}
	if _, err := parseSettings(config.TLS{Cert: "c", Key: "k", Groups: "cn"}); err == nil || !strings.Contains(err.Error(), `groups "cn"`) {
		t.Errorf("unknown groups field: %v", err)
	}
}
