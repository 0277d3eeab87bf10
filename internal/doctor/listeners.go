package doctor

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/moatmq/moat/internal/config"
)

// listeners checks each listener's exposure, transport, authentication
// and TLS settings.
func (c *checker) listeners() {
	for i, l := range c.cfg.Listeners {
		p := "listeners[" + strconv.Itoa(i) + "]"
		name := fmt.Sprintf("listener %q (%s)", l.Name, l.Address)
		loop := l.IsLoopback()
		if !loop && l.IsPlainText() {
			sev := SeverityCritical
			msg := fmt.Sprintf("%s serves %s, plain-text MQTT, on a non-loopback address", name, l.Transport)
			if len(l.ProxyProtocol.Trusted) > 0 {
				// Behind a balancer that takes PROXY headers, TLS is
				// usually terminated there; the hop to Moat stays clear.
				sev = SeverityHigh
				msg += "; it takes PROXY headers, so TLS may be terminated by the balancer, but the hop to Moat is in clear"
			}
			c.addAt(IDPlainText, sev, Finding{Path: p + ".transport", Message: msg})
		}
		if allInterfaces(l.Address) {
			c.add(IDAllInterfaces, Finding{Path: p + ".address",
				Message: fmt.Sprintf("%s listens on every interface", name)})
		}
		if c.anonymousOn(l) {
			if loop {
				c.add(IDAnonymousLoopback, Finding{Path: "auth.allow_anonymous",
					Message: fmt.Sprintf("%s lets clients connect without credentials (loopback only)", name)})
			} else {
				c.add(IDAnonymousExposed, Finding{Path: p + ".auth.methods",
					Message: fmt.Sprintf("%s lets anyone connect without credentials (auth.allow_anonymous is true)", name)})
			}
		}
		if l.UsesTLS() {
			c.tlsSettings(p+".tls", name, l.TLS, l.Auth)
		}
		if l.UsesWebSocket() && slices.Contains(l.WebSocket.AllowedOrigins, "*") {
			c.add(IDWSAnyOrigin, Finding{Path: p + ".websocket.allowed_origins",
				Message: fmt.Sprintf("%s accepts WebSocket connections from pages of any origin (\"*\")", name)})
		}
		c.proxy(p+".proxy_protocol", name, l.ProxyProtocol)
		if l.UsesTLS() && l.TLS.HandshakeTimeout.D() > maxDeadline {
			c.add(IDLimitHandshake, Finding{Path: p + ".tls.handshake_timeout",
				Message: fmt.Sprintf("%s waits up to %s for a TLS handshake", name, l.TLS.HandshakeTimeout)})
		}
		if len(l.ProxyProtocol.Trusted) > 0 && l.ProxyProtocol.Timeout.D() > maxDeadline {
			c.add(IDLimitHandshake, Finding{Path: p + ".proxy_protocol.timeout",
				Message: fmt.Sprintf("%s waits up to %s for a PROXY header", name, l.ProxyProtocol.Timeout)})
		}
	}
	if u := c.cfg.Auth.HTTP.AuthURL; u != "" && plainRemoteURL(u) {
		c.add(IDHTTPAuthPlain, Finding{Path: "auth.http.auth_url",
			Message: "the authentication webhook is reached over plain http on a non-loopback host"})
	}
}

// anonymousOn reports whether listener l accepts anonymous clients:
// auth.allow_anonymous is set and the listener's method list, when it has
// one, names anonymous.
func (c *checker) anonymousOn(l config.Listener) bool {
	if !c.cfg.Auth.AllowAnonymous {
		return false
	}
	return l.Auth.Methods == nil || slices.Contains(l.Auth.Methods, "anonymous")
}

// allInterfaces reports whether addr binds every interface.
func allInterfaces(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return host == "" || host == "0.0.0.0" || host == "::"
}

// plainRemoteURL reports whether u is an http:// URL to a host that is not
// loopback.
func plainRemoteURL(u string) bool {
	pu, err := url.Parse(u)
	if err != nil || !strings.EqualFold(pu.Scheme, "http") {
		return false
	}
	host := pu.Hostname()
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// tlsSettings checks the TLS section at path p of a tls or wss listener.
func (c *checker) tlsSettings(p, name string, t config.TLS, la config.ListenerAuth) {
	switch t.MinVersion {
	case "1.3":
	case "1.2", "":
		c.add(IDTLS12Allowed, Finding{Path: p + ".min_version",
			Message: fmt.Sprintf("%s accepts TLS 1.2 as well as 1.3", name)})
	default:
		c.add(IDTLSOldVersion, Finding{Path: p + ".min_version",
			Message: fmt.Sprintf("%s has min_version %q, below TLS 1.2", name, t.MinVersion)})
	}
	for i, s := range t.CipherSuites {
		if !StrongSuite(s) {
			c.add(IDTLSWeakSuite, Finding{Path: p + ".cipher_suites[" + strconv.Itoa(i) + "]",
				Message: fmt.Sprintf("%s offers %s, without ECDHE key exchange or an AEAD", name, s)})
		}
	}
	certs := t.ClientAuth == "optional" || t.ClientAuth == "required"
	if t.ClientAuth == "optional" && !la.RequireCertificate {
		var uses []string
		if slices.Contains(la.Methods, "certificate") {
			uses = append(uses, "auth.methods lists certificate")
		}
		if t.Groups != "" && t.Groups != "none" {
			uses = append(uses, "tls.groups is "+t.Groups)
		}
		if t.RequireUsernameMatch {
			uses = append(uses, "require_username_match is set")
		}
		if len(uses) == 0 {
			uses = append(uses, "client certificates map to "+t.Identity+" identities")
		}
		c.add(IDCertMapOptional, Finding{Path: p + ".client_auth",
			Message: fmt.Sprintf("%s maps client certificates to identities (%s) but client_auth is optional: clients without a certificate use other methods",
				name, strings.Join(uses, ", "))})
	}
	if certs && len(t.CRLs) == 0 {
		c.add(IDNoCRL, Finding{Path: p + ".crls",
			Message: fmt.Sprintf("%s verifies client certificates against %s without a CRL", name, t.ClientCA)})
	}
}

// StrongSuite reports whether the TLS 1.2 suite named name has ECDHE key
// exchange and an AEAD, the suites Moat accepts. TLS 1.3 suites count as
// strong; unknown names do not.
func StrongSuite(name string) bool {
	for _, cs := range tls.CipherSuites() {
		if cs.Name != name {
			continue
		}
		if !slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
			return true // a TLS 1.3 suite
		}
		aead := strings.Contains(cs.Name, "_GCM_") || strings.Contains(cs.Name, "_CHACHA20_POLY1305")
		return strings.HasPrefix(cs.Name, "TLS_ECDHE_") && aead
	}
	return false
}
