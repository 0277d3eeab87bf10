package config

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// IsPlainText reports whether l carries MQTT unencrypted: transport tcp or
// ws. An empty transport (before ApplyDefaults) means tcp, so it counts as
// plain text too.
func (l Listener) IsPlainText() bool {
	switch l.Transport {
	case "", "tcp", "ws":
		return true
	}
	return false
}

// UsesTLS reports whether l's transport runs over TLS (tls or wss), which
// is when its TLS settings apply.
func (l Listener) UsesTLS() bool { return l.Transport == "tls" || l.Transport == "wss" }

// UsesWebSocket reports whether l's transport is MQTT over WebSocket (ws
// or wss), which is when its WebSocket settings apply.
func (l Listener) UsesWebSocket() bool { return l.Transport == "ws" || l.Transport == "wss" }

func knownTransport(t string) bool {
	switch t {
	case "tcp", "tls", "ws", "wss":
		return true
	}
	return false
}

// validateSettings checks l's tls, websocket and proxy_protocol sections,
// p being the listener's path. Settings for a transport l does not use are
// refused, as they would be silently ignored.
func (l *Listener) validateSettings(v *collector, p string) {
	if _, _, err := l.Firewall.Prefixes(); err != nil {
		v.addf(p+".firewall", "%v", err)
	}
	known := knownTransport(l.Transport)
	switch {
	case l.UsesTLS():
		l.TLS.validate(v, p+".tls", l.Transport)
	case known && !unset(l.TLS):
		use := map[string]string{"tcp": "tls", "ws": "wss"}[l.Transport]
		v.addf(p+".tls", "tls settings on a %s listener have no effect; use transport %s, or remove them", l.Transport, use)
	}
	switch {
	case l.UsesWebSocket():
		l.WebSocket.validate(v, p+".websocket")
	case known && !unset(l.WebSocket):
		use := map[string]string{"tcp": "ws or wss", "tls": "wss"}[l.Transport]
		v.addf(p+".websocket", "websocket settings on a %s listener have no effect; use transport %s, or remove them", l.Transport, use)
	}
	l.ProxyProtocol.validate(v, p+".proxy_protocol")
	l.validateAuth(v, p+".auth")
}

// validateAuth checks the listener's method list and certificate demand
// against what its TLS settings can deliver.
func (l *Listener) validateAuth(v *collector, p string) {
	certs := l.UsesTLS() && (l.TLS.ClientAuth == "optional" || l.TLS.ClientAuth == "required")
	for i, m := range l.Auth.Methods {
		switch {
		case !slices.Contains(AuthMethods, m):
			v.addf(index(p+".methods", i), "unknown method %q: want %s", m, strings.Join(AuthMethods, ", "))
		case m == "certificate" && !certs:
			v.addf(index(p+".methods", i), "certificate authentication needs tls.client_auth optional or required on a tls or wss listener")
		}
	}
	if l.Auth.RequireCertificate && !certs {
		v.addf(p+".require_certificate", "needs tls.client_auth optional or required on a tls or wss listener")
	}
}

// unset reports whether every field of the struct s is zero, an empty
// slice counting as zero.
func unset(s any) bool {
	v := reflect.ValueOf(s)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Slice {
			if f.Len() > 0 {
				return false
			}
			continue
		}
		if !f.IsZero() {
			return false
		}
	}
	return true
}

// index appends a list index to a key path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// curveNames are the key exchange groups curves accepts, strongest first.
var curveNames = []string{"X25519MLKEM768", "X25519", "P256", "P384", "P521"}

// clientIdentities are the values of identity.
var clientIdentities = []string{"cn", "san-dns", "san-uri", "san-email", "fingerprint"}

// clientGroups are the values of groups.
var clientGroups = []string{"none", "ou", "o"}

// tls12Suites are the names cipher_suites accepts, in Go's order: the TLS
// 1.2 suites of crypto/tls with ECDHE key exchange and an AEAD (AES-GCM or
// ChaCha20-Poly1305). CBC, RSA key exchange, 3DES and RC4 are left out.
var tls12Suites = acceptedSuites()

func acceptedSuites() []string {
	var names []string
	for _, cs := range tls.CipherSuites() {
		aead := strings.Contains(cs.Name, "_GCM_") || strings.Contains(cs.Name, "_CHACHA20_POLY1305")
		if slices.Contains(cs.SupportedVersions, tls.VersionTLS12) && strings.HasPrefix(cs.Name, "TLS_ECDHE_") && aead {
			names = append(names, cs.Name)
		}
	}
	return names
}

// cipherSuiteProblem explains why name is not accepted in cipher_suites,
// or returns "" when it is.
func cipherSuiteProblem(name string) string {
	if slices.Contains(tls12Suites, name) {
		return ""
	}
	accepted := strings.Join(tls12Suites, ", ")
	for _, cs := range tls.CipherSuites() {
		if cs.Name == name && !slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
			return fmt.Sprintf("%q is a TLS 1.3 suite; TLS 1.3 suites are fixed and cannot be configured. "+
				"cipher_suites takes TLS 1.2 suites: %s", name, accepted)
		}
	}
	for _, cs := range slices.Concat(tls.CipherSuites(), tls.InsecureCipherSuites()) {
		if cs.Name == name {
			return fmt.Sprintf("%q is refused: only TLS 1.2 suites with ECDHE key exchange and AES-GCM or "+
				"ChaCha20-Poly1305 are accepted: %s", name, accepted)
		}
	}
	return fmt.Sprintf("unknown cipher suite %q: want one of %s", name, accepted)
}

// validate checks the settings of a tls or wss listener; p is the path of
// the tls section. Files are not opened: the TLS loader does that at start.
func (t *TLS) validate(v *collector, p, transport string) {
	if t.Cert == "" {
		v.addf(p+".cert", "required for a %s listener: the PEM file of the certificate chain", transport)
	}
	if t.Key == "" {
		v.addf(p+".key", "required for a %s listener: the PEM file of the certificate's private key", transport)
	}
	for i, ck := range t.Certificates {
		cp := index(p+".certificates", i)
		if ck.Cert == "" {
			v.addf(cp+".cert", "must not be empty: the PEM file of the certificate chain")
		}
		if ck.Key == "" {
			v.addf(cp+".key", "must not be empty: the PEM file of the certificate's private key")
		}
	}
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		v.addf(p+".min_version", `must be "1.2" or "1.3", got %q`, t.MinVersion)
	}
	for i, name := range t.CipherSuites {
		if msg := cipherSuiteProblem(name); msg != "" {
			v.addf(index(p+".cipher_suites", i), "%s", msg)
		}
	}
	if t.MinVersion == "1.3" && len(t.CipherSuites) > 0 {
		v.addf(p+".cipher_suites", `has no effect with min_version "1.3": it selects TLS 1.2 suites, `+
			"and TLS 1.3 suites are fixed; remove it")
	}
	for i, name := range t.Curves {
		if !slices.Contains(curveNames, name) {
			v.addf(index(p+".curves", i), "unknown curve %q: want one of %s", name, strings.Join(curveNames, ", "))
		}
	}
	t.validateClientAuth(v, p)
	if !slices.Contains(clientIdentities, t.Identity) {
		v.addf(p+".identity", "must be one of %s; got %q", strings.Join(clientIdentities, ", "), t.Identity)
	}
	if !slices.Contains(clientGroups, t.Groups) {
		v.addf(p+".groups", "must be one of %s; got %q", strings.Join(clientGroups, ", "), t.Groups)
	}
	if t.HandshakeTimeout <= 0 {
		v.addf(p+".handshake_timeout", "must be positive, got %s", t.HandshakeTimeout)
	}
}

// validateClientAuth checks client_auth and the settings that depend on
// it: a CA to verify against when certificates are asked for, and no CA,
// CRLs or user name matching when they are not.
func (t *TLS) validateClientAuth(v *collector, p string) {
	switch t.ClientAuth {
	case "none":
		const use = "set client_auth to optional or required, or remove it"
		if t.ClientCA != "" {
			v.addf(p+".client_ca", `has no effect with client_auth "none"; %s`, use)
		}
		if len(t.CRLs) > 0 {
			v.addf(p+".crls", `have no effect with client_auth "none"; %s`, use)
		}
		if t.RequireUsernameMatch {
			v.addf(p+".require_username_match", `needs client_auth optional or required: `+
				"without a client certificate there is no identity to match")
		}
	case "optional", "required":
		if t.ClientCA == "" {
			v.addf(p+".client_ca", "required when client_auth is %q: the PEM bundle client certificates are verified against",
				t.ClientAuth)
		}
	default:
		v.addf(p+".client_auth", "must be none, optional or required, got %q", t.ClientAuth)
	}
	for i, f := range t.CRLs {
		if f == "" {
			v.addf(index(p+".crls", i), "must not be empty: the PEM or DER file of a certificate revocation list")
		}
	}
}

// validate checks the settings of a ws or wss listener; p is the path of
// the websocket section.
func (w *WebSocket) validate(v *collector, p string) {
	if !validURLPath(w.Path) {
		v.addf(p+".path", `must be a URL path starting with "/", without spaces, query or fragment; got %q`, w.Path)
	}
	for i, o := range w.AllowedOrigins {
		if o != "*" && !validOrigin(o) {
			v.addf(index(p+".allowed_origins", i), `invalid origin %q: want "*" or scheme://host[:port] `+
				`with scheme http or https and nothing after the port, e.g. "https://app.example.com"`, o)
		}
	}
}

// validURLPath reports whether s could be the path of a request: it starts
// with "/" and holds no space, control character, "?" or "#".
func validURLPath(s string) bool {
	if !strings.HasPrefix(s, "/") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '?' || r == '#' {
			return false
		}
	}
	return true
}

// validOrigin reports whether o is an origin as browsers send it in the
// Origin header: http or https, a host, an optional port, nothing else.
func validOrigin(o string) bool {
	if strings.ContainsAny(o, "?# \t") || strings.HasSuffix(o, ":") {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	if u.Opaque != "" || u.User != nil || u.Path != "" || u.RawPath != "" || u.Hostname() == "" {
		return false
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return false
		}
	}
	return validHost(u.Hostname())
}

// validate checks the PROXY protocol settings; p is the path of the
// proxy_protocol section.
func (pp *ProxyProtocol) validate(v *collector, p string) {
	for i, s := range pp.Trusted {
		if _, msg := parseTrusted(s); msg != "" {
			v.addf(index(p+".trusted", i), "%s", msg)
		}
	}
	switch {
	case len(pp.Trusted) > 0 && pp.Timeout <= 0:
		v.addf(p+".timeout", "must be positive, got %s", pp.Timeout)
	case len(pp.Trusted) == 0 && pp.Timeout != 0:
		v.addf(p+".timeout", "has no effect without proxy_protocol.trusted, which enables the protocol; "+
			"set trusted, or remove it")
	}
}

// TrustedPrefixes returns Trusted parsed, in order: a CIDR as written, a
// single IP address as the prefix holding only itself (/32 or /128).
// Entries that do not parse are left out; Validate refuses them.
func (pp ProxyProtocol) TrustedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range pp.Trusted {
		if pfx, msg := parseTrusted(s); msg == "" {
			out = append(out, pfx)
		}
	}
	return out
}

// parseTrusted parses one entry of ProxyProtocol.Trusted, or explains why
// it is refused. A CIDR with bits set past its length ("10.1.2.3/8") is
// refused rather than widened, and so are IPv4-mapped IPv6 addresses,
// which a peer's address never matches, and IPv6 zones.
func parseTrusted(s string) (netip.Prefix, string) {
	invalid := fmt.Sprintf(`invalid trusted source %q: want a CIDR such as "10.0.0.0/8" `+
		`or a single IP address such as "192.0.2.10"`, s)
	var pfx netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if pfx, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, invalid
		}
		if m := pfx.Masked(); m != pfx {
			return netip.Prefix{}, fmt.Sprintf("%q has address bits set past the /%d prefix; write %s for the network, "+
				"or %s/%d for the single address", s, pfx.Bits(), m, pfx.Addr(), pfx.Addr().BitLen())
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, invalid
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Sprintf("%q has an IPv6 zone; write the address without it", s)
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if pfx.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Sprintf("%q is an IPv4-mapped IPv6 address; write the IPv4 form", s)
	}
	return pfx, ""
}

// Prefixes parses the allow and deny lists: CIDR prefixes, or single
// addresses taken as /32 or /128; IPv4-mapped IPv6 entries become IPv4.
// The error names the first bad entry.
func (f Firewall) Prefixes() (allow, deny []netip.Prefix, err error) {
	if allow, err = parsePrefixes("allow", f.Allow); err != nil {
		return nil, nil, err
	}
	deny, err = parsePrefixes("deny", f.Deny)
	return allow, deny, err
}

func parsePrefixes(what string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || p.Addr().Zone() != "" {
			return nil, fmt.Errorf("%s[%d]: %q is not an IP address or CIDR prefix (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.7)", what, i, s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
