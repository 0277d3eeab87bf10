package doctor

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// Thresholds of the settings checks.
const (
	// maxDeadline is the longest CONNECT, TLS handshake or PROXY header
	// deadline that is not a finding.
	maxDeadline = 30 * time.Second
	// maxPacketSize is the largest mqtt.max_packet_size that is not a
	// finding.
	maxPacketSize = 16 << 20
	// maxQueuedMessages and maxQueuedBytes bound a session's queue
	// before it is a finding.
	maxQueuedMessages = 100_000
	maxQueuedBytes    = 256 << 20
	// laxBanAfter and laxFreeFailures are the brute-force settings above
	// which the defence is lax.
	laxBanAfter     = 100
	laxFreeFailures = 20
)

// settings checks limits, the brute-force defence, the admin listener,
// audit and protocol options.
func (c *checker) settings() {
	m := c.cfg.MQTT
	if m.MaxPacketSize > maxPacketSize {
		c.add(IDLimitPacketSize, Finding{Path: "mqtt.max_packet_size",
			Message: fmt.Sprintf("mqtt.max_packet_size is %s", m.MaxPacketSize)})
	}
	if m.MaxQueuedMessages > maxQueuedMessages {
		c.add(IDLimitQueues, Finding{Path: "mqtt.max_queued_messages",
			Message: fmt.Sprintf("each session may queue %d messages", m.MaxQueuedMessages)})
	}
	if m.MaxQueuedBytes > maxQueuedBytes {
		c.add(IDLimitQueues, Finding{Path: "mqtt.max_queued_bytes",
			Message: fmt.Sprintf("each session may queue %s", m.MaxQueuedBytes)})
	}
	if m.ConnectTimeout.D() > maxDeadline {
		c.add(IDLimitConnect, Finding{Path: "mqtt.connect_timeout",
			Message: fmt.Sprintf("a new connection may wait %s before sending CONNECT", m.ConnectTimeout)})
	}
	if m.AllowMQTT31 == nil || *m.AllowMQTT31 {
		c.add(IDMQTT31, Finding{Path: "mqtt.allow_mqtt31", Message: "MQTT 3.1 (MQIsdp) clients are accepted"})
	}
	if m.AllowControlCharacters {
		c.add(IDControlChars, Finding{Path: "mqtt.allow_control_characters",
			Message: "topics and client ids may contain control characters"})
	}

	l := c.cfg.Limits
	if l.MaxConnectionsPerAddress != nil && *l.MaxConnectionsPerAddress == 0 {
		c.add(IDLimitPerAddress, Finding{Path: "limits.max_connections_per_address",
			Message: "limits.max_connections_per_address is 0: one address may open any number of connections"})
	}
	if l.MaxConnections != nil && *l.MaxConnections == 0 {
		c.add(IDLimitConnections, Finding{Path: "limits.max_connections",
			Message: "limits.max_connections is 0: no bound on open connections"})
	}
	if l.ConnectionRatePerAddress != nil && *l.ConnectionRatePerAddress == 0 {
		c.add(IDLimitConnRate, Finding{Path: "limits.connection_rate_per_address",
			Message: "limits.connection_rate_per_address is 0: no bound on new connections per address"})
	}
	if l.MemoryBudget == "off" {
		c.add(IDLimitMemory, Finding{Path: "limits.memory_budget", Message: "limits.memory_budget is off"})
	}

	bf := c.cfg.Auth.BruteForce
	switch {
	case bf.Enabled != nil && !*bf.Enabled:
		c.add(IDBruteForceOff, Finding{Path: "auth.brute_force.enabled", Message: "the brute-force defence is off"})
	case bf.BanAfter > laxBanAfter:
		c.add(IDBruteForceLax, Finding{Path: "auth.brute_force.ban_after",
			Message: fmt.Sprintf("a source is banned only after %d failed logins", bf.BanAfter)})
	case bf.FreeFailures > laxFreeFailures:
		c.add(IDBruteForceLax, Finding{Path: "auth.brute_force.free_failures",
			Message: fmt.Sprintf("%d failed logins are answered without delay", bf.FreeFailures)})
	}

	if a := c.cfg.Admin; a.Listen != "" && !loopbackAddr(a.Listen) {
		c.add(IDAdminExposed, Finding{Path: "admin.listen",
			Message: fmt.Sprintf("the admin API listens on %s, not a loopback address", a.Listen)})
		if a.PublicMetrics {
			c.add(IDPublicMetrics, Finding{Path: "admin.public_metrics",
				Message: fmt.Sprintf("/metrics is served without authentication on %s", a.Listen)})
		}
	}
	if c.cfg.Audit.Disabled {
		c.add(IDAuditOff, Finding{Path: "audit.disabled", Message: "the audit log is disabled"})
	}
	switch c.cfg.Store.Mode {
	case "memory":
		c.add(IDStoreNotDurable, Finding{Path: "store.mode", Message: "store.mode is memory: persistent sessions, queued and retained messages are lost at every restart"})
	case "relaxed":
		c.add(IDStoreNotDurable, Finding{Path: "store.mode", Message: fmt.Sprintf("store.mode is relaxed: a crash loses up to %s of acknowledged messages", c.cfg.Store.FlushInterval)})
	}
}

// loopbackAddr reports whether the host:port addr binds loopback only.
func loopbackAddr(addr string) bool {
	return config.Listener{Address: addr}.IsLoopback()
}

// proxy checks which sources a listener trusts for PROXY headers.
func (c *checker) proxy(p, name string, pp config.ProxyProtocol) {
	for i, s := range pp.Trusted {
		pfx, ok := parsePrefix(s)
		if !ok {
			continue // validation refuses it
		}
		at := p + ".trusted[" + strconv.Itoa(i) + "]"
		switch {
		case pfx.Bits() == 0:
			c.add(IDProxyTrustAll, Finding{Path: at,
				Message: fmt.Sprintf("%s takes PROXY headers from every address (%s)", name, s)})
		case publicPrefix(pfx) && pfx.Bits() < wideBits(pfx):
			c.add(IDProxyTrustWide, Finding{Path: at,
				Message: fmt.Sprintf("%s takes PROXY headers from the public range %s", name, s)})
		}
	}
}

// parsePrefix parses a CIDR or a single address.
func parsePrefix(s string) (netip.Prefix, bool) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// wideBits is the prefix length below which a public range is wide: /24
// for IPv4, /48 for IPv6.
func wideBits(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 24
	}
	return 48
}

// publicPrefix reports whether p's address is not loopback, private
// (RFC 1918, ULA), link-local or CGNAT.
func publicPrefix(p netip.Prefix) bool {
	a := p.Addr()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() {
		return false
	}
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	return !cgnat.Contains(a)
}
