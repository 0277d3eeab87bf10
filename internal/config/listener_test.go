package config

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// listenerErrs validates Default() with its listener replaced by l after
// ApplyDefaults, and returns the formatted errors.
func listenerErrs(t *testing.T, l Listener) []string {
	t.Helper()
	return validErrs(t, func(c *Config) {
		c.Listeners = []Listener{l}
		c.ApplyDefaults()
	})
}

// tlsListener is a valid loopback listener of the given TLS transport.
func tlsListener(transport string) Listener {
	return Listener{Name: "l", Address: "127.0.0.1:8883", Transport: transport,
		TLS: TLS{Cert: "server.pem", Key: "server.key"}}
}

func TestListenerSettingsRules(t *testing.T) {
	const (
		anyOf = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, " +
			"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, " +
			"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
		origin = `want "*" or scheme://host[:port] with scheme http or https and nothing after the port, e.g. "https://app.example.com"`
	)
	cases := []struct {
		name   string
		base   string // transport of the starting listener
		mutate func(l *Listener)
		want   []string // empty: valid
	}{
		{"tls minimal", "tls", func(l *Listener) {}, nil},
		{"wss minimal", "wss", func(l *Listener) {}, nil},
		{"ws minimal", "ws", func(l *Listener) {}, nil},
		{"tls needs cert and key", "tls", func(l *Listener) { l.TLS = TLS{} }, []string{
			"listeners[0].tls.cert: required for a tls listener: the PEM file of the certificate chain",
			"listeners[0].tls.key: required for a tls listener: the PEM file of the certificate's private key",
		}},
		{"wss needs key", "wss", func(l *Listener) { l.TLS.Key = "" }, []string{
			"listeners[0].tls.key: required for a wss listener: the PEM file of the certificate's private key",
		}},
		{"certificates", "tls", func(l *Listener) {
			l.TLS.Certificates = []CertKey{{Cert: "a.pem", Key: "a.key"}, {Cert: "b.pem"}, {Key: "c.key"}}
		}, []string{
			"listeners[0].tls.certificates[1].key: must not be empty: the PEM file of the certificate's private key",
			"listeners[0].tls.certificates[2].cert: must not be empty: the PEM file of the certificate chain",
		}},
		{"tls on tcp", "tcp", func(l *Listener) { l.TLS.MinVersion = "1.3" }, []string{
			"listeners[0].tls: tls settings on a tcp listener have no effect; use transport tls, or remove them",
		}},
		{"tls on ws", "ws", func(l *Listener) { l.TLS.CRLs = []string{"a.crl"} }, []string{
			"listeners[0].tls: tls settings on a ws listener have no effect; use transport wss, or remove them",
		}},
		{"empty tls lists on tcp", "tcp", func(l *Listener) { l.TLS.Curves = []string{} }, nil},
		{"websocket on tcp", "tcp", func(l *Listener) { l.WebSocket.Path = "/mqtt" }, []string{
			"listeners[0].websocket: websocket settings on a tcp listener have no effect; use transport ws or wss, or remove them",
		}},
		{"websocket on tls", "tls", func(l *Listener) { l.WebSocket.AllowedOrigins = []string{"*"} }, []string{
			"listeners[0].websocket: websocket settings on a tls listener have no effect; use transport wss, or remove them",
		}},
		{"unknown transport skips applicability", "tcp", func(l *Listener) { l.Transport = "quic"; l.TLS.Cert = "a" }, []string{
			`listeners[0].transport: unsupported transport "quic": want tcp, tls, ws or wss`,
		}},
		{"min version 1.3", "tls", func(l *Listener) { l.TLS.MinVersion = "1.3" }, nil},
		{"min version 1.1", "tls", func(l *Listener) { l.TLS.MinVersion = "1.1" }, []string{
			`listeners[0].tls.min_version: must be "1.2" or "1.3", got "1.1"`,
		}},
		{"min version 1.20", "tls", func(l *Listener) { l.TLS.MinVersion = "1.20" }, []string{
			`listeners[0].tls.min_version: must be "1.2" or "1.3", got "1.20"`,
		}},
		{"every accepted suite", "tls", func(l *Listener) {
			l.TLS.CipherSuites = strings.Split(anyOf, ", ")
		}, nil},
		{"tls 1.3 suite", "tls", func(l *Listener) { l.TLS.CipherSuites = []string{"TLS_AES_128_GCM_SHA256"} }, []string{
			`listeners[0].tls.cipher_suites[0]: "TLS_AES_128_GCM_SHA256" is a TLS 1.3 suite; TLS 1.3 suites are fixed and cannot be configured. cipher_suites takes TLS 1.2 suites: ` + anyOf,
		}},
		{"refused suites", "tls", func(l *Listener) {
			l.TLS.CipherSuites = []string{
				"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
				"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
				"TLS_RSA_WITH_AES_128_GCM_SHA256",
				"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
				"TLS_RSA_WITH_RC4_128_SHA",
				"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
			}
		}, []string{
			`listeners[0].tls.cipher_suites[1]: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" is refused: only TLS 1.2 suites with ECDHE key exchange and AES-GCM or ChaCha20-Poly1305 are accepted: ` + anyOf,
			`listeners[0].tls.cipher_suites[2]: "TLS_RSA_WITH_AES_128_GCM_SHA256" is refused: only TLS 1.2 suites with ECDHE key exchange and AES-GCM or ChaCha20-Poly1305 are accepted: ` + anyOf,
			`listeners[0].tls.cipher_suites[3]: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA" is refused: only TLS 1.2 suites with ECDHE key exchange and AES-GCM or ChaCha20-Poly1305 are accepted: ` + anyOf,
			`listeners[0].tls.cipher_suites[4]: "TLS_RSA_WITH_RC4_128_SHA" is refused: only TLS 1.2 suites with ECDHE key exchange and AES-GCM or ChaCha20-Poly1305 are accepted: ` + anyOf,
			`listeners[0].tls.cipher_suites[5]: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" is refused: only TLS 1.2 suites with ECDHE key exchange and AES-GCM or ChaCha20-Poly1305 are accepted: ` + anyOf,
		}},
		{"unknown suite", "tls", func(l *Listener) {
			l.TLS.CipherSuites = []string{"tls_ecdhe_rsa_with_aes_128_gcm_sha256", ""}
		}, []string{
			`listeners[0].tls.cipher_suites[0]: unknown cipher suite "tls_ecdhe_rsa_with_aes_128_gcm_sha256": want one of ` + anyOf,
			`listeners[0].tls.cipher_suites[1]: unknown cipher suite "": want one of ` + anyOf,
		}},
		{"suites with tls 1.3 only", "tls", func(l *Listener) {
			l.TLS.MinVersion = "1.3"
			l.TLS.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
		}, []string{
			`listeners[0].tls.cipher_suites: has no effect with min_version "1.3": it selects TLS 1.2 suites, and TLS 1.3 suites are fixed; remove it`,
		}},
		{"curves", "tls", func(l *Listener) {
			l.TLS.Curves = []string{"X25519MLKEM768", "X25519", "P256", "P384", "P521", "CurveP256", "x25519"}
		}, []string{
			`listeners[0].tls.curves[5]: unknown curve "CurveP256": want one of X25519MLKEM768, X25519, P256, P384, P521`,
			`listeners[0].tls.curves[6]: unknown curve "x25519": want one of X25519MLKEM768, X25519, P256, P384, P521`,
		}},
		{"client auth required", "tls", func(l *Listener) {
			l.TLS.ClientAuth, l.TLS.ClientCA, l.TLS.CRLs = "required", "ca.pem", []string{"a.crl", "b.crl"}
			l.TLS.RequireUsernameMatch = true
		}, nil},
		{"client auth optional", "wss", func(l *Listener) {
			l.TLS.ClientAuth, l.TLS.ClientCA, l.TLS.RequireUsernameMatch = "optional", "ca.pem", true
		}, nil},
		{"client auth unknown", "tls", func(l *Listener) { l.TLS.ClientAuth = "request" }, []string{
			`listeners[0].tls.client_auth: must be none, optional or required, got "request"`,
		}},
		{"client auth needs ca", "tls", func(l *Listener) { l.TLS.ClientAuth = "required" }, []string{
			`listeners[0].tls.client_ca: required when client_auth is "required": the PEM bundle client certificates are verified against`,
		}},
		{"optional needs ca", "tls", func(l *Listener) { l.TLS.ClientAuth = "optional" }, []string{
			`listeners[0].tls.client_ca: required when client_auth is "optional": the PEM bundle client certificates are verified against`,
		}},
		{"ca without client auth", "tls", func(l *Listener) {
			l.TLS.ClientCA, l.TLS.CRLs, l.TLS.RequireUsernameMatch = "ca.pem", []string{"a.crl"}, true
		}, []string{
			`listeners[0].tls.client_ca: has no effect with client_auth "none"; set client_auth to optional or required, or remove it`,
			`listeners[0].tls.crls: have no effect with client_auth "none"; set client_auth to optional or required, or remove it`,
			`listeners[0].tls.require_username_match: needs client_auth optional or required: without a client certificate there is no identity to match`,
		}},
		{"empty crl path", "tls", func(l *Listener) {
			l.TLS.ClientAuth, l.TLS.ClientCA, l.TLS.CRLs = "required", "ca.pem", []string{"a.crl", ""}
		}, []string{
			"listeners[0].tls.crls[1]: must not be empty: the PEM or DER file of a certificate revocation list",
		}},
		{"identities", "tls", func(l *Listener) { l.TLS.Identity = "fingerprint" }, nil},
		{"identity unknown", "tls", func(l *Listener) { l.TLS.Identity = "san" }, []string{
			`listeners[0].tls.identity: must be one of cn, san-dns, san-uri, san-email, fingerprint; got "san"`,
		}},
		{"handshake timeout", "tls", func(l *Listener) { l.TLS.HandshakeTimeout = Duration(-time.Second) }, []string{
			"listeners[0].tls.handshake_timeout: must be positive, got -1s",
		}},
		{"ws path", "ws", func(l *Listener) { l.WebSocket.Path = "/" }, nil},
		{"ws path relative", "ws", func(l *Listener) { l.WebSocket.Path = "mqtt" }, []string{
			`listeners[0].websocket.path: must be a URL path starting with "/", without spaces, query or fragment; got "mqtt"`,
		}},
		{"ws path query", "wss", func(l *Listener) { l.WebSocket.Path = "/mqtt?x=1" }, []string{
			`listeners[0].websocket.path: must be a URL path starting with "/", without spaces, query or fragment; got "/mqtt?x=1"`,
		}},
		{"ws path space", "ws", func(l *Listener) { l.WebSocket.Path = "/my mqtt" }, []string{
			`listeners[0].websocket.path: must be a URL path starting with "/", without spaces, query or fragment; got "/my mqtt"`,
		}},
		{"origins", "ws", func(l *Listener) {
			l.WebSocket.AllowedOrigins = []string{"*", "https://app.example.com", "http://localhost:8080", "https://[::1]:443", "HTTPS://A.example"}
		}, nil},
		{"bad origins", "ws", func(l *Listener) {
			l.WebSocket.AllowedOrigins = []string{"", "app.example.com", "https://app.example.com/", "https://a.example/x",
				"ftp://a.example", "https://a.example:0", "https://a.example:", "https://u@a.example", "https://a.example?x",
				"https://a.example#f", "https://*.example.com", "null", "https://a.example:99999"}
		}, []string{
			`listeners[0].websocket.allowed_origins[0]: invalid origin "": ` + origin,
			`listeners[0].websocket.allowed_origins[1]: invalid origin "app.example.com": ` + origin,
			`listeners[0].websocket.allowed_origins[2]: invalid origin "https://app.example.com/": ` + origin,
			`listeners[0].websocket.allowed_origins[3]: invalid origin "https://a.example/x": ` + origin,
			`listeners[0].websocket.allowed_origins[4]: invalid origin "ftp://a.example": ` + origin,
			`listeners[0].websocket.allowed_origins[5]: invalid origin "https://a.example:0": ` + origin,
			`listeners[0].websocket.allowed_origins[6]: invalid origin "https://a.example:": ` + origin,
			`listeners[0].websocket.allowed_origins[7]: invalid origin "https://u@a.example": ` + origin,
			`listeners[0].websocket.allowed_origins[8]: invalid origin "https://a.example?x": ` + origin,
			`listeners[0].websocket.allowed_origins[9]: invalid origin "https://a.example#f": ` + origin,
			`listeners[0].websocket.allowed_origins[10]: invalid origin "https://*.example.com": ` + origin,
			`listeners[0].websocket.allowed_origins[11]: invalid origin "null": ` + origin,
			`listeners[0].websocket.allowed_origins[12]: invalid origin "https://a.example:99999": ` + origin,
		}},
		{"proxy trusted", "tcp", func(l *Listener) {
			l.ProxyProtocol.Trusted = []string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32", "::1", "0.0.0.0/0"}
		}, nil},
		{"proxy trusted bad", "tls", func(l *Listener) {
			l.ProxyProtocol.Trusted = []string{"", "10.0.0.0/33", "10.1.2.3/8", "lb.example.com", "fe80::1%eth0",
				"::ffff:10.0.0.1", "::ffff:10.0.0.0/104", "10.0.0.0 /8"}
		}, []string{
			`listeners[0].proxy_protocol.trusted[0]: invalid trusted source "": want a CIDR such as "10.0.0.0/8" or a single IP address such as "192.0.2.10"`,
			`listeners[0].proxy_protocol.trusted[1]: invalid trusted source "10.0.0.0/33": want a CIDR such as "10.0.0.0/8" or a single IP address such as "192.0.2.10"`,
			`listeners[0].proxy_protocol.trusted[2]: "10.1.2.3/8" has address bits set past the /8 prefix; write 10.0.0.0/8 for the network, or 10.1.2.3/32 for the single address`,
			`listeners[0].proxy_protocol.trusted[3]: invalid trusted source "lb.example.com": want a CIDR such as "10.0.0.0/8" or a single IP address such as "192.0.2.10"`,
			`listeners[0].proxy_protocol.trusted[4]: "fe80::1%eth0" has an IPv6 zone; write the address without it`,
			`listeners[0].proxy_protocol.trusted[5]: "::ffff:10.0.0.1" is an IPv4-mapped IPv6 address; write the IPv4 form`,
			`listeners[0].proxy_protocol.trusted[6]: "::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 address; write the IPv4 form`,
			`listeners[0].proxy_protocol.trusted[7]: invalid trusted source "10.0.0.0 /8": want a CIDR such as "10.0.0.0/8" or a single IP address such as "192.0.2.10"`,
		}},
		{"proxy timeout", "ws", func(l *Listener) {
			l.ProxyProtocol.Trusted = []string{"10.0.0.1"}
			l.ProxyProtocol.Timeout = Duration(-time.Second)
		}, []string{"listeners[0].proxy_protocol.timeout: must be positive, got -1s"}},
		{"proxy timeout without trusted", "tcp", func(l *Listener) { l.ProxyProtocol.Timeout = Duration(time.Second) }, []string{
			"listeners[0].proxy_protocol.timeout: has no effect without proxy_protocol.trusted, which enables the protocol; set trusted, or remove it",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := Listener{Name: "l", Address: "127.0.0.1:1883", Transport: tc.base}
			if tc.base == "tls" || tc.base == "wss" {
				l = tlsListener(tc.base)
			}
			tc.mutate(&l)
			got := listenerErrs(t, l)
			if !slicesEqual(got, tc.want) {
				t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// The accepted cipher suites are exactly Go's TLS 1.2 ECDHE suites with
// an AEAD, and none of them is one Go calls insecure.
func TestAcceptedCipherSuites(t *testing.T) {
	want := map[string]bool{
		"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256":       true,
		"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384":       true,
		"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256":         true,
		"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384":         true,
		"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256":   true,
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": true,
	}
	if len(tls12Suites) != len(want) {
		t.Errorf("accepted %v", tls12Suites)
	}
	for _, name := range tls12Suites {
		if !want[name] {
			t.Errorf("%s accepted", name)
		}
	}
	for _, cs := range tls.InsecureCipherSuites() {
		if cipherSuiteProblem(cs.Name) == "" {
			t.Errorf("insecure %s accepted", cs.Name)
		}
	}
}

func TestDefaultsPerTransport(t *testing.T) {
	c := &Config{Listeners: []Listener{
		{Address: "127.0.0.1:1"},
		{Address: "127.0.0.1:2", Transport: "tls"},
		{Address: "127.0.0.1:3", Transport: "ws"},
		{Address: "127.0.0.1:4", Transport: "wss", ProxyProtocol: ProxyProtocol{Trusted: []string{"::1"}}},
	}}
	c.ApplyDefaults()
	tlsDefaults := TLS{MinVersion: "1.2", ClientAuth: "none", Identity: "cn", Groups: "none", HandshakeTimeout: Duration(10 * time.Second)}
	want := []Listener{
		{Name: "tcp:127.0.0.1:1", Address: "127.0.0.1:1", Transport: "tcp"},
		{Name: "tls:127.0.0.1:2", Address: "127.0.0.1:2", Transport: "tls", TLS: tlsDefaults},
		{Name: "ws:127.0.0.1:3", Address: "127.0.0.1:3", Transport: "ws", WebSocket: WebSocket{Path: "/mqtt"}},
		{Name: "wss:127.0.0.1:4", Address: "127.0.0.1:4", Transport: "wss", TLS: tlsDefaults, WebSocket: WebSocket{Path: "/mqtt"},
			ProxyProtocol: ProxyProtocol{Trusted: []string{"::1"}, Timeout: Duration(5 * time.Second)}},
	}
	if !reflect.DeepEqual(c.Listeners, want) {
		t.Errorf("got  %+v\nwant %+v", c.Listeners, want)
	}
	if c.DataDir != "moat-data" {
		t.Errorf("data_dir %q", c.DataDir)
	}
}

func TestIsPlainText(t *testing.T) {
	for transport, plain := range map[string]bool{"": true, "tcp": true, "ws": true, "tls": false, "wss": false, "quic": false} {
		if got := (Listener{Transport: transport}).IsPlainText(); got != plain {
			t.Errorf("IsPlainText(%q) = %v", transport, got)
		}
	}
}

func TestTrustedPrefixes(t *testing.T) {
	pp := ProxyProtocol{Trusted: []string{"10.0.0.0/8", "192.0.2.1", "::1", "2001:db8::/32", "bogus", "10.1.2.3/8"}}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("2001:db8::/32"),
	}
	if got := pp.TrustedPrefixes(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	if (ProxyProtocol{}).TrustedPrefixes() != nil {
		t.Error("no trusted sources gave prefixes")
	}
}

// The insecure-listener rule by transport and auth.allow_anonymous: on a
// non-loopback host (with an ACL policy), plain text is refused whatever the authentication,
// TLS with password authentication is accepted, and anonymous access is
// refused on every transport; allow_insecure accepts them all, and a
// loopback host needs none of it.
func TestInsecureRuleByTransport(t *testing.T) {
	const (
		wild4 = "0.0.0.0:8883"
		all   = ":8883"
		lo    = "127.0.0.1:8883"
	)
	cases := []struct {
		transport, addr string
		anonymous       bool
		allowInsecure   bool
		want            string // empty: accepted
	}{
		{"tls", wild4, false, false, ""},
		{"wss", wild4, false, false, ""},
		{"tls", all, false, false, ""},
		{"tcp", wild4, false, false, plainTextRefused(wild4, "host 0.0.0.0", "tcp")},
		{"ws", wild4, false, false, plainTextRefused(wild4, "host 0.0.0.0", "ws")},
		{"ws", all, false, false, plainTextRefused(all, "all interfaces", "ws")},
		{"tls", wild4, true, false, anonymousRefused(wild4, "host 0.0.0.0")},
		{"wss", wild4, true, false, anonymousRefused(wild4, "host 0.0.0.0")},
		{"wss", all, true, false, anonymousRefused(all, "all interfaces")},
		// Plain text is the graver problem; it is the one reported.
		{"tcp", wild4, true, false, plainTextRefused(wild4, "host 0.0.0.0", "tcp")},
		{"ws", wild4, true, false, plainTextRefused(wild4, "host 0.0.0.0", "ws")},
		{"tcp", wild4, true, true, ""},
		{"ws", wild4, false, true, ""},
		{"tls", wild4, true, true, ""},
		{"wss", wild4, true, true, ""},
		{"tcp", lo, true, false, ""},
		{"ws", lo, true, false, ""},
		{"tls", lo, true, false, ""},
		{"wss", "[::1]:8883", true, false, ""},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%s/%s/anonymous=%v/allow_insecure=%v", tc.transport, tc.addr, tc.anonymous, tc.allowInsecure)
		t.Run(name, func(t *testing.T) {
			l := tlsListener(tc.transport)
			if tc.transport == "tcp" || tc.transport == "ws" {
				l.TLS = TLS{}
			}
			l.Address = tc.addr
			got := validErrs(t, func(c *Config) {
				c.Listeners = []Listener{l}
				c.Auth.AllowAnonymous = tc.anonymous
				c.AllowInsecure = tc.allowInsecure
				c.ACL.File = "acl.yaml"
				c.ApplyDefaults()
			})
			var want []string
			if tc.want != "" {
				want = []string{"listeners[0].address: " + tc.want}
			}
			if !slicesEqual(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
}

// Errors in the transport sections point at the key in the file, or at
// the nearest enclosing key when the file does not set it.
func TestListenerSettingsFromFile(t *testing.T) {
	src := `listeners:
  - address: 127.0.0.1:8883
    transport: tls
    tls:
      cert: server.pem
      certificates:
        - cert: other.pem
      min_version: "1.1"
      cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]
      curves: [P224]
      client_auth: required
      crls: [""]
      identity: uid
  - address: 127.0.0.1:1883
    tls:
      min_version: "1.3"
    websocket:
      path: /mqtt
  - address: 127.0.0.1:8080
    transport: ws
    websocket:
      path: mqtt
      allowed_origins: ["https://a.example/"]
    proxy_protocol:
      trusted: [10.0.0.0/33]
  - address: 127.0.0.1:1884
    proxy_protocol:
      timeout: 3s
data_dir: moat-data
`
	expectErrs(t, src,
		`moat.yaml:5:7: listeners[0].tls.key: required for a tls listener: the PEM file of the certificate's private key`,
		`moat.yaml:5:7: listeners[0].tls.client_ca: required when client_auth is "required": the PEM bundle client certificates are verified against`,
		`moat.yaml:7:11: listeners[0].tls.certificates[0].key: must not be empty: the PEM file of the certificate's private key`,
		`moat.yaml:8:20: listeners[0].tls.min_version: must be "1.2" or "1.3", got "1.1"`,
		`moat.yaml:9:23: listeners[0].tls.cipher_suites[0]: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" is refused: only TLS 1.2 suites with ECDHE key exchange and AES-GCM or ChaCha20-Poly1305 are accepted: `+strings.Join(tls12Suites, ", "),
		`moat.yaml:10:16: listeners[0].tls.curves[0]: unknown curve "P224": want one of X25519MLKEM768, X25519, P256, P384, P521`,
		`moat.yaml:12:14: listeners[0].tls.crls[0]: must not be empty: the PEM or DER file of a certificate revocation list`,
		`moat.yaml:13:17: listeners[0].tls.identity: must be one of cn, san-dns, san-uri, san-email, fingerprint; got "uid"`,
		`moat.yaml:16:7: listeners[1].tls: tls settings on a tcp listener have no effect; use transport tls, or remove them`,
		`moat.yaml:18:7: listeners[1].websocket: websocket settings on a tcp listener have no effect; use transport ws or wss, or remove them`,
		`moat.yaml:22:13: listeners[2].websocket.path: must be a URL path starting with "/", without spaces, query or fragment; got "mqtt"`,
		`moat.yaml:23:25: listeners[2].websocket.allowed_origins[0]: invalid origin "https://a.example/": want "*" or scheme://host[:port] with scheme http or https and nothing after the port, e.g. "https://app.example.com"`,
		`moat.yaml:25:17: listeners[2].proxy_protocol.trusted[0]: invalid trusted source "10.0.0.0/33": want a CIDR such as "10.0.0.0/8" or a single IP address such as "192.0.2.10"`,
		`moat.yaml:28:16: listeners[3].proxy_protocol.timeout: has no effect without proxy_protocol.trusted, which enables the protocol; set trusted, or remove it`,
	)
}

func TestListenerAuthRules(t *testing.T) {
	mtls := TLS{Cert: "s.crt", Key: "s.key", ClientAuth: "required", ClientCA: "ca.crt"}
	tests := []struct {
		name string
		l    Listener
		want []string
	}{
		{"methods on mutual TLS", Listener{Transport: "tls", TLS: mtls, Auth: ListenerAuth{Methods: []string{"password", "certificate"}, RequireCertificate: true}}, nil},
		{"unknown method", Listener{Transport: "tcp", Auth: ListenerAuth{Methods: []string{"kerberos"}}},
			[]string{`listeners[0].auth.methods[0]: unknown method "kerberos": want password, certificate, jwt, scram, http, anonymous`}},
		{"certificate without client certificates", Listener{Transport: "tls", TLS: TLS{Cert: "s.crt", Key: "s.key"}, Auth: ListenerAuth{Methods: []string{"certificate"}}},
			[]string{"listeners[0].auth.methods[0]: certificate authentication needs tls.client_auth optional or required on a tls or wss listener"}},
		{"require_certificate on plain tcp", Listener{Transport: "tcp", Auth: ListenerAuth{RequireCertificate: true}},
			[]string{"listeners[0].auth.require_certificate: needs tls.client_auth optional or required on a tls or wss listener"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.l.Address = "127.0.0.1:1883"
			c.Listeners = []Listener{tc.l}
			c.ApplyDefaults()
			var got []string
			if err := c.Validate(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Without an ACL every authenticated client could use every topic: a
// non-loopback listener then needs allow_insecure, a loopback one does
// not, and the webhook's acl_url counts as an ACL.
func TestInsecureRuleWithoutACL(t *testing.T) {
	const wild, lo = "0.0.0.0:8883", "127.0.0.1:8883"
	cases := []struct {
		addr          string
		aclURL        string
		allowInsecure bool
		want          string
	}{
		{wild, "", false, noACLRefused(wild, "host 0.0.0.0")},
		{wild, "", true, ""},
		{wild, "https://auth.example/acl", false, ""},
		{lo, "", false, ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/acl_url=%q/allow_insecure=%v", tc.addr, tc.aclURL, tc.allowInsecure), func(t *testing.T) {
			l := tlsListener("tls")
			l.Address = tc.addr
			got := validErrs(t, func(c *Config) {
				c.Listeners = []Listener{l}
				c.AllowInsecure = tc.allowInsecure
				if tc.aclURL != "" {
					c.Auth.HTTP.AuthURL = "https://auth.example/auth"
					c.Auth.HTTP.ACLURL = tc.aclURL
				}
				c.ApplyDefaults()
			})
			var want []string
			if tc.want != "" {
				want = []string{"listeners[0].address: " + tc.want}
			}
			if !slicesEqual(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
}
