package config

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Protocol bounds used by validation.
const (
	// MaxPacketSizeLimit is the largest packet MQTT can encode: a remaining
	// length of 268435455 plus a 5-byte fixed header.
	MaxPacketSizeLimit = 268435460
	// MinPacketSize is the smallest max_packet_size accepted; below it a
	// client could not send an ordinary CONNECT.
	MinPacketSize = 64
	// MinClientIDLength is the client identifier length every server must
	// accept [MQTT-3.1.3-5].
	MinClientIDLength = 23
	// MinQueuedBytes is the smallest per-session queue accepted.
	MinQueuedBytes = 1 << 10
	// maxKeepAlive is the largest keep alive MQTT can carry (a 2-byte
	// number of seconds).
	maxKeepAlive = 65535 * time.Second
	// maxSessionExpiry is the largest session expiry interval MQTT can carry
	// (a 4-byte number of seconds; this value means "never").
	maxSessionExpiry = 4294967295 * time.Second
)

// Validate checks c and returns nil or an *Errors listing every problem,
// each with its key path (for example "listeners[1].address"). The errors
// carry no file position; Parse adds it. Validate expects ApplyDefaults to
// have run: a nil MQTT.MaxQoS is accepted, but empty names, transports and
// log settings are not.
func (c *Config) Validate() error {
	var errs collector
	for _, fe := range c.validate() {
		errs.add(fe)
	}
	return errs.err("")
}

// validate returns every problem in c, in schema order.
func (c *Config) validate() []*FieldError {
	var v collector
	c.validateListeners(&v)
	c.MQTT.validate(&v)
	c.Auth.validate(&v)
	atLeast(&v, "acl.cache_size", c.ACL.CacheSize, 1)
	if c.ACL.File != "" && c.Auth.HTTP.ACLURL != "" {
		v.addf("acl.file", "the policy file and auth.http.acl_url cannot both decide; set one")
	}
	c.Retain.validate(&v)
	c.Limits.validate(&v)
	c.Audit.validate(&v)
	c.Store.validate(&v)
	c.validateAdmin(&v)
	for i, a := range c.Acknowledge {
		if !acknowledgeRE.MatchString(a) {
			v.addf(fmt.Sprintf("acknowledge[%d]", i), "%q: want a finding ID such as MOAT-FILE-001, optionally @PATH (see moat doctor)", a)
		}
	}
	if len(c.SignedTopics.Rules) > 0 && c.SignedTopics.Keys == "" {
		v.addf("signed_topics.keys", "must name the key registry when rules are set")
	}
	c.Log.validate(&v)
	if c.DataDir == "" {
		v.addf("data_dir", "must not be empty")
	}
	return v.list
}

// validateListeners checks addresses, transports and their settings,
// unique names and the secure-defaults rule.
func (c *Config) validateListeners(v *collector) {
	if len(c.Listeners) == 0 {
		v.addf("listeners", "at least one listener is required")
		return
	}
	names := map[string]int{}
	for i, l := range c.Listeners {
		p := "listeners[" + strconv.Itoa(i) + "]"
		if l.Name == "" {
			v.addf(p+".name", "must not be empty")
		} else if j, dup := names[l.Name]; dup {
			v.addf(p+".name", "duplicate listener name %q (also listeners[%d])", l.Name, j)
		} else {
			names[l.Name] = i
		}
		if !knownTransport(l.Transport) {
			v.addf(p+".transport", "unsupported transport %q: want tcp, tls, ws or wss", l.Transport)
		}
		host, ok := checkAddress(v, p+".address", l.Address)
		if ok && !c.AllowInsecure && !isLoopbackHost(host) {
			c.insecureListener(v, p+".address", l, host)
		}
		l.validateSettings(v, p)
	}
}

// insecureListener reports a listener on a non-loopback host that
// allow_insecure does not acknowledge: one that serves plain text, any
// listener while anonymous access is allowed, and any listener while no
// ACL decides (every authenticated client could use every topic).
func (c *Config) insecureListener(v *collector, path string, l Listener, host string) {
	where := "host " + host
	if host == "" {
		where = "all interfaces"
	}
	switch {
	case l.IsPlainText():
		v.addf(path, "%q listens on %s, which is not a loopback address, with transport %s: plain-text MQTT "+
			"that anyone on the path can read and alter (passwords included); use tls or wss, or set "+
			"allow_insecure: true to accept the risk", l.Address, where, l.Transport)
	case c.Auth.AllowAnonymous:
		v.addf(path, "%q listens on %s, which is not a loopback address, and auth.allow_anonymous lets anyone "+
			"connect; this is refused unless allow_insecure: true is set", l.Address, where)
	case !c.HasACL():
		v.addf(path, "%q listens on %s, which is not a loopback address, and no ACL decides (acl.file or "+
			"auth.http.acl_url): every authenticated client could read and write every topic; set acl.file "+
			"(see docs/authorization.md), or allow_insecure: true to accept the risk", l.Address, where)
	}
}

// checkAddress checks a host:port listen address and returns its host.
func checkAddress(v *collector, path, addr string) (host string, ok bool) {
	if addr == "" {
		v.addf(path, `must not be empty; want host:port, e.g. "127.0.0.1:1883"`)
		return "", false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.addf(path, `invalid address %q: want host:port, e.g. "127.0.0.1:1883", "[::1]:1883" or ":1883"`, addr)
		return "", false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.addf(path, "invalid port %q in %q: want a number from 0 to 65535", port, addr)
		return "", false
	}
	if host != "" && !validHost(host) {
		v.addf(path, "invalid host %q in %q: want an IP address or a host name", host, addr)
		return "", false
	}
	return host, true
}

// validHost reports whether host is an IP address (IPv6 may carry a zone)
// or made of the characters of a DNS name.
func validHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if len(host) > 253 {
		return false
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// IsLoopback reports whether l binds only a loopback address: "localhost",
// an address in 127.0.0.0/8, or ::1. An empty host (all interfaces), any
// other address or host name, and an address that does not parse are not
// loopback. The server warns at start when a listener is not loopback and
// allow_insecure let it through.
func (l Listener) IsLoopback() bool {
	host, _, err := net.SplitHostPort(l.Address)
	return err == nil && isLoopbackHost(host)
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// validate checks the protocol limits.
func (m *MQTT) validate(v *collector) {
	if m.MaxPacketSize < MinPacketSize || m.MaxPacketSize > MaxPacketSizeLimit {
		v.addf("mqtt.max_packet_size", "must be between %d and %d bytes (the largest MQTT packet), got %s",
			MinPacketSize, MaxPacketSizeLimit, m.MaxPacketSize)
	}
	if m.ReceiveMaximum < 1 {
		v.addf("mqtt.receive_maximum", "must be between 1 and 65535, got %d", m.ReceiveMaximum)
	}
	if m.MaxInflight < 1 {
		v.addf("mqtt.max_inflight", "must be between 1 and 65535, got %d", m.MaxInflight)
	}
	if m.MaxQoS != nil && (*m.MaxQoS < 0 || *m.MaxQoS > 2) {
		v.addf("mqtt.max_qos", "must be 0, 1 or 2, got %d", *m.MaxQoS)
	}
	checkSeconds(v, "mqtt.max_keep_alive", m.MaxKeepAlive, maxKeepAlive)
	checkSeconds(v, "mqtt.min_keep_alive", m.MinKeepAlive, maxKeepAlive)
	if m.MinKeepAlive > 0 && m.MaxKeepAlive > 0 && m.MinKeepAlive > m.MaxKeepAlive {
		v.addf("mqtt.min_keep_alive", "%s is above mqtt.max_keep_alive (%s)", m.MinKeepAlive, m.MaxKeepAlive)
	}
	checkSeconds(v, "mqtt.max_session_expiry", m.MaxSessionExpiry, maxSessionExpiry)
	if m.ConnectTimeout <= 0 {
		v.addf("mqtt.connect_timeout", "must be positive, got %s", m.ConnectTimeout)
	}
	if m.WriteTimeout <= 0 {
		v.addf("mqtt.write_timeout", "must be positive, got %s", m.WriteTimeout)
	}
	// [MQTT-3.1.3-5] The server must accept client identifiers of 1 to 23
	// bytes, so the limit cannot be lower.
	if m.MaxClientIDLength < MinClientIDLength || m.MaxClientIDLength > 65535 {
		v.addf("mqtt.max_client_id_length", "must be between %d (the length every server must accept, MQTT-3.1.3-5) and 65535, got %d",
			MinClientIDLength, m.MaxClientIDLength)
	}
	if m.MaxTopicLength < 1 || m.MaxTopicLength > 65535 {
		v.addf("mqtt.max_topic_length", "must be between 1 and 65535, got %d", m.MaxTopicLength)
	}
	atLeast(v, "mqtt.max_topic_levels", m.MaxTopicLevels, 1)
	if m.ClientIDPattern != "" {
		if _, err := regexp.Compile(m.ClientIDPattern); err != nil {
			v.addf("mqtt.client_id_pattern", "not a regular expression: %v", err)
		}
	}
	atLeast(v, "mqtt.max_queued_messages", m.MaxQueuedMessages, 1)
	if m.MaxQueuedBytes < MinQueuedBytes {
		v.addf("mqtt.max_queued_bytes", "must be at least 1KiB, got %s", m.MaxQueuedBytes)
	}
	atLeast(v, "mqtt.max_subscriptions_per_client", m.MaxSubscriptionsPerClient, 1)
	atLeast(v, "mqtt.max_retained_messages", m.MaxRetainedMessages, 0)
}

// checkSeconds checks a duration MQTT carries as a whole number of seconds.
func checkSeconds(v *collector, path string, d Duration, limit time.Duration) {
	switch {
	case d < 0:
		v.addf(path, "must not be negative, got %s", d)
	case d.D() > limit:
		v.addf(path, "must be at most %s (the largest value MQTT can carry), got %s", Duration(limit), d)
	case d.D()%time.Second != 0:
		v.addf(path, "must be a whole number of seconds (MQTT counts it in seconds), got %s", d)
	}
}

func atLeast(v *collector, path string, n, lo int) {
	if n < lo {
		v.addf(path, "must be at least %d, got %d", lo, n)
	}
}

// validate checks the log settings.
func (l *Log) validate(v *collector) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		v.addf("log.level", "must be one of debug, info, warn, error; got %q", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		v.addf("log.format", "must be text or json, got %q", l.Format)
	}
}

// validate checks the authentication settings.
func (a *Auth) validate(v *collector) {
	for i, p := range a.ClientIDs {
		body := strings.TrimSuffix(p, "*")
		switch {
		case p == "":
			v.addf(index("auth.client_ids", i), "must not be empty")
		case strings.Contains(body, "*"):
			v.addf(index("auth.client_ids", i), "* may only end a pattern, got %q", p)
		case strings.Contains(strings.ReplaceAll(body, "%u", ""), "%"):
			v.addf(index("auth.client_ids", i), "the only substitution is %%u, got %q", p)
		}
	}
	bf := &a.BruteForce
	for _, d := range []struct {
		path string
		v    Duration
	}{{"window", bf.Window}, {"max_delay", bf.MaxDelay}, {"ban_for", bf.BanFor}, {"max_ban", bf.MaxBan}} {
		if d.v <= 0 {
			v.addf("auth.brute_force."+d.path, "must be positive, got %s", d.v)
		}
	}
	atLeast(v, "auth.brute_force.free_failures", bf.FreeFailures, 0)
	if bf.BanAfter <= bf.FreeFailures || bf.BanAfter > 10000 {
		v.addf("auth.brute_force.ban_after", "must be above free_failures (%d) and at most 10000, got %d", bf.FreeFailures, bf.BanAfter)
	}
	if bf.MaxBan < bf.BanFor {
		v.addf("auth.brute_force.max_ban", "must not be shorter than ban_for (%s), got %s", bf.BanFor, bf.MaxBan)
	}
	atLeast(v, "auth.brute_force.global_per_second", bf.GlobalPerSecond, 1)
	atLeast(v, "auth.brute_force.max_tracked", bf.MaxTracked, 1)
	j := &a.JWT
	if j.Leeway < 0 || j.Leeway.D() > 5*time.Minute {
		v.addf("auth.jwt.leeway", "must be between 0s and 5m, got %s", j.Leeway)
	}
	for i, k := range j.Keys {
		if k == "" {
			v.addf(index("auth.jwt.keys", i), "must not be empty")
		}
	}
	a.HTTP.validate(v)
	for _, c := range []struct{ path, v string }{{"username_claim", j.UsernameClaim}, {"groups_claim", j.GroupsClaim},
		{"topics_claim", j.TopicsClaim}, {"signing_keys_claim", j.SigningKeysClaim}} {
		if c.v == "" {
			v.addf("auth.jwt."+c.path, "must not be empty")
		}
	}
}

// validate checks the webhook settings; URLs and files are checked when
// the server starts.
func (h *HTTPAuth) validate(v *collector) {
	if h.AuthURL == "" {
		if h.ACLURL != "" || h.CAFile != "" || h.ClientCert != "" || h.ClientKey != "" || len(h.Headers) > 0 {
			v.addf("auth.http.auth_url", "must be set when other auth.http keys are")
		}
		return
	}
	if h.Timeout <= 0 || h.Timeout.D() > 30*time.Second {
		v.addf("auth.http.timeout", "must be between 1ns and 30s, got %s", h.Timeout)
	}
	if (h.ClientCert == "") != (h.ClientKey == "") {
		v.addf("auth.http.client_cert", "client_cert and client_key must be set together")
	}
	for i, hd := range h.Headers {
		p := index("auth.http.headers", i)
		if hd.Name == "" {
			v.addf(p+".name", "must not be empty")
		}
		if (hd.Value == "") == (hd.File == "") {
			v.addf(p, "set exactly one of value and file")
		}
	}
}

// validate checks the retain limits.
func (r *Retain) validate(v *collector) {
	for i, f := range r.Never {
		// The topic rules are checked when the server starts (the
		// configuration imports no runtime package).
		if f == "" || strings.HasPrefix(f, "$share/") {
			v.addf(index("retain.never", i), "not a plain topic filter: %q", f)
		}
	}
	if r.NeverAction != "strip" && r.NeverAction != "refuse" {
		v.addf("retain.never_action", "must be strip or refuse, got %q", r.NeverAction)
	}
	if r.MaxAge < 0 {
		v.addf("retain.max_age", "must not be negative, got %s", r.MaxAge)
	}
	if r.MaxSize < 0 {
		v.addf("retain.max_size", "must not be negative, got %s", r.MaxSize)
	}
	if r.MaxPerIdentity != nil && *r.MaxPerIdentity < 0 {
		v.addf("retain.max_per_identity", "must not be negative, got %d", *r.MaxPerIdentity)
	}
}

// validate checks the connection limits: none negative, a burst of at
// least one where a rate is set.
func (l *Limits) validate(v *collector) {
	for _, f := range []struct {
		path string
		n    int
	}{
		{"limits.max_connections", deref(l.MaxConnections)},
		{"limits.max_connections_per_address", deref(l.MaxConnectionsPerAddress)},
		{"limits.connection_burst", l.ConnectionBurst},
		{"limits.connection_burst_per_address", deref(l.ConnectionBurstPerAddress)},
	} {
		atLeast(v, f.path, f.n, 0)
	}
	if l.ConnectionRate < 0 {
		v.addf("limits.connection_rate", "must not be negative, got %v", l.ConnectionRate)
	}
	if r := deref(l.ConnectionRatePerAddress); r < 0 {
		v.addf("limits.connection_rate_per_address", "must not be negative, got %v", r)
	} else if r > 0 && deref(l.ConnectionBurstPerAddress) < 1 {
		v.addf("limits.connection_burst_per_address", "must be at least 1 while connection_rate_per_address is set")
	}
	if l.PublishRate < 0 || l.IdentityPublishRate < 0 || l.PublishBytesRate < 0 {
		v.addf("limits.publish_rate", "publish rates must not be negative")
	}
	if l.PublishBurst < 0 || l.IdentityPublishBurst < 0 || l.PublishBytesBurst < 0 {
		v.addf("limits.publish_burst", "publish bursts must not be negative")
	}
	if _, _, err := l.ParseMemoryBudget(); err != nil {
		v.addf("limits.memory_budget", "%v", err)
	}
	if l.ThrottleDisconnect < 0 {
		v.addf("limits.throttle_disconnect", "must not be negative, got %s", l.ThrottleDisconnect)
	}
	if l.ConnectionRate > 0 && l.ConnectionBurst < 1 {
		v.addf("limits.connection_burst", "must be at least 1 while connection_rate is set")
	}
}

// deref is *p, or the zero value for nil.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// validate checks the store settings.
func (s *Store) validate(v *collector) {
	if !slices.Contains([]string{"strict", "relaxed", "memory"}, s.Mode) {
		v.addf("store.mode", "unknown mode %q: want strict, relaxed or memory", s.Mode)
	}
	if s.FlushInterval < Duration(10*time.Millisecond) || s.FlushInterval > Duration(time.Minute) {
		v.addf("store.flush_interval", "must be between 10ms and 1m, got %s", s.FlushInterval)
	}
	if s.KeyEnv != "" && !validEnvName(s.KeyEnv) {
		v.addf("store.key_env", "%q is not an environment variable name", s.KeyEnv)
	}
}

// validEnvName reports whether n is a portable environment variable name.
func validEnvName(n string) bool {
	for i, r := range n {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return n != ""
}

// validate checks the audit log settings.
func (a *Audit) validate(v *collector) {
	atLeast(v, "audit.max_files", a.MaxFiles, 1)
	atLeast(v, "audit.max_per_second", a.MaxPerSecond, 1)
	if a.MaxSize < 64<<10 {
		v.addf("audit.max_size", "must be at least 64KiB, got %s", a.MaxSize)
	}
	if a.MaxAge < 0 {
		v.addf("audit.max_age", "must not be negative, got %s", a.MaxAge)
	}
	s := a.Syslog
	switch s.Network {
	case "":
		if s.Address != "" || s.Facility != "" {
			v.addf("audit.syslog.network", "must be set (udp, tcp, unix or unixgram) with an address")
		}
	case "udp", "tcp", "unix", "unixgram":
		if s.Address == "" {
			v.addf("audit.syslog.address", "must not be empty with network %s", s.Network)
		}
		if !slices.Contains(syslogFacilities, s.Facility) {
			v.addf("audit.syslog.facility", "unknown facility %q: want one of %s", s.Facility, strings.Join(syslogFacilities, ", "))
		}
	default:
		v.addf("audit.syslog.network", "unsupported network %q: want udp, tcp, unix or unixgram", s.Network)
	}
}

// syslogFacilities are the facility names audit.syslog.facility takes.
var syslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
	"authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// validateAdmin checks the admin listener: TLS material, and public
// metrics only on loopback unless allow_insecure.
func (c *Config) validateAdmin(v *collector) {
	a := c.Admin
	if a.Listen == "" {
		if a.Cert != "" || a.Key != "" || a.ClientCA != "" || a.PublicMetrics {
			v.addf("admin.listen", "must be set for admin.cert, key, client_ca and public_metrics to apply")
		}
		return
	}
	host, ok := checkAddress(v, "admin.listen", a.Listen)
	if a.Cert == "" || a.Key == "" {
		v.addf("admin.cert", "admin.cert and admin.key are required: the admin listener serves HTTPS only")
	}
	if ok && a.PublicMetrics && !c.AllowInsecure && !isLoopbackHost(host) {
		v.addf("admin.public_metrics", "metrics without authentication on %q, which is not a loopback address, "+
			"need allow_insecure: true", a.Listen)
	}
}

// acknowledgeRE is the shape of an acknowledge entry; moat serve checks
// that the ID exists.
var acknowledgeRE = regexp.MustCompile(`^MOAT-[A-Z]+-[0-9]{3}(@.+)?$`)
