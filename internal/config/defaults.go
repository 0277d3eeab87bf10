package config

import "time"

// Documented defaults (docs/configuration.md).
const (
	DefaultMaxPacketSize     = 1 << 20
	DefaultReceiveMaximum    = 1024
	DefaultMaxInflight       = 1024
	DefaultTopicAliasMaximum = 64
	DefaultMaxSessionExpiry  = 24 * time.Hour
	DefaultConnectTimeout    = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultMaxClientIDLength = 256
	DefaultMaxTopicLength    = 1024
	DefaultMaxTopicLevels    = 32
	DefaultMaxQueuedMessages = 1000
	DefaultMaxQueuedBytes    = 16 << 20
	DefaultMaxSubscriptions  = 1000
	DefaultMaxRetained       = 100000

	DefaultDataDir                   = "moat-data"
	DefaultTLSMinVersion             = "1.2"
	DefaultTLSClientAuth             = "none"
	DefaultTLSIdentity               = "cn"
	DefaultTLSGroups                 = "none"
	DefaultAuditMaxSize              = 64 << 20
	DefaultAuditMaxFiles             = 10
	DefaultAuditMaxPerSecond         = 1000
	DefaultMaxConnections            = 100000
	DefaultMaxConnectionsPerAddress  = 1000
	DefaultConnectionRatePerAddress  = 100
	DefaultConnectionBurstPerAddress = 500
	DefaultTLSHandshakeTimeout       = 10 * time.Second
	DefaultWebSocketPath             = "/mqtt"
	DefaultProxyProtocolTimeout      = 5 * time.Second

	DefaultBruteForceWindow       = 10 * time.Minute
	DefaultBruteForceFreeFailures = 5
	DefaultBruteForceMaxDelay     = 5 * time.Second
	DefaultBruteForceBanAfter     = 20
	DefaultBruteForceBanFor       = 15 * time.Minute
	DefaultBruteForceMaxBan       = 24 * time.Hour
	DefaultBruteForceGlobal       = 200
	DefaultBruteForceMaxTracked   = 100000
	DefaultJWTLeeway              = 30 * time.Second
	DefaultJWTUsernameClaim       = "sub"
	DefaultJWTGroupsClaim         = "groups"
	DefaultJWTTopicsClaim         = "topics"
	DefaultJWTSigningKeysClaim    = "signing_keys"
	DefaultHTTPTimeout            = 2 * time.Second
	DefaultHTTPCacheTTL           = 60 * time.Second
	DefaultHTTPDenyTTL            = 5 * time.Second
	DefaultHTTPCacheSize          = 10000
	DefaultHTTPMaxConcurrent      = 64
	DefaultACLCacheSize           = 100000
	DefaultRetainNeverAction      = "strip"
	DefaultRetainMaxPerIdentity   = 10000
)

// ApplyDefaults fills every unset field with its documented default.
func (c *Config) ApplyDefaults() {
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Transport == "" {
			l.Transport = "tcp"
		}
		if l.Name == "" {
			l.Name = l.Transport + ":" + l.Address
		}
		l.applyDefaults()
	}
	setDefault(&c.DataDir, DefaultDataDir)
	c.Limits.applyDefaults()
	setDefault(&c.Audit.MaxSize, ByteSize(DefaultAuditMaxSize))
	setDefault(&c.Audit.MaxFiles, DefaultAuditMaxFiles)
	setDefault(&c.Audit.MaxPerSecond, DefaultAuditMaxPerSecond)
	setDefault(&c.Store.Mode, "strict")
	setDefault(&c.Store.FlushInterval, Duration(time.Second))
	if c.Audit.Syslog.Network != "" {
		setDefault(&c.Audit.Syslog.Facility, "local0")
	}
	m := &c.MQTT
	setDefault(&m.MaxPacketSize, DefaultMaxPacketSize)
	setDefault(&m.ReceiveMaximum, DefaultReceiveMaximum)
	setDefault(&m.MaxInflight, DefaultMaxInflight)
	if m.MaxQoS == nil {
		q := 2
		m.MaxQoS = &q
	}
	for _, b := range []**bool{&m.RetainAvailable, &m.WildcardSubscriptions, &m.SubscriptionIdentifiers,
		&m.SharedSubscriptions, &m.AllowMQTT31, &m.AllowEmptyClientID} {
		if *b == nil {
			t := true
			*b = &t
		}
	}
	setDefault(&m.MaxSessionExpiry, Duration(DefaultMaxSessionExpiry))
	setDefault(&m.ConnectTimeout, Duration(DefaultConnectTimeout))
	setDefault(&m.WriteTimeout, Duration(DefaultWriteTimeout))
	setDefault(&m.MaxClientIDLength, DefaultMaxClientIDLength)
	setDefault(&m.MaxTopicLength, DefaultMaxTopicLength)
	setDefault(&m.MaxTopicLevels, DefaultMaxTopicLevels)
	setDefault(&m.MaxQueuedMessages, DefaultMaxQueuedMessages)
	setDefault(&m.MaxQueuedBytes, DefaultMaxQueuedBytes)
	setDefault(&m.MaxSubscriptionsPerClient, DefaultMaxSubscriptions)
	setDefault(&m.MaxRetainedMessages, DefaultMaxRetained)
	setDefault(&m.SysInterval, Duration(10*time.Second))
	c.Auth.applyDefaults()
	setDefault(&c.ACL.CacheSize, DefaultACLCacheSize)
	if c.ACL.RootWildcards == nil {
		t := true
		c.ACL.RootWildcards = &t
	}
	setDefault(&c.Retain.NeverAction, DefaultRetainNeverAction)
	if c.Retain.MaxPerIdentity == nil {
		n := DefaultRetainMaxPerIdentity
		c.Retain.MaxPerIdentity = &n
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

// applyDefaults fills the settings of l's transport. TLS and WebSocket
// defaults apply only to the transports that use them, so that settings
// on any other listener stay empty and validation can refuse them; the
// PROXY timeout applies only when the protocol is enabled.
func (l *Listener) applyDefaults() {
	if l.UsesTLS() {
		t := &l.TLS
		setDefault(&t.MinVersion, DefaultTLSMinVersion)
		setDefault(&t.ClientAuth, DefaultTLSClientAuth)
		setDefault(&t.Identity, DefaultTLSIdentity)
		setDefault(&t.Groups, DefaultTLSGroups)
		setDefault(&t.HandshakeTimeout, Duration(DefaultTLSHandshakeTimeout))
	}
	if l.UsesWebSocket() {
		setDefault(&l.WebSocket.Path, DefaultWebSocketPath)
	}
	if len(l.ProxyProtocol.Trusted) > 0 {
		setDefault(&l.ProxyProtocol.Timeout, Duration(DefaultProxyProtocolTimeout))
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// applyDefaults fills the brute-force and JWT settings.
func (a *Auth) applyDefaults() {
	bf := &a.BruteForce
	if bf.Enabled == nil {
		t := true
		bf.Enabled = &t
	}
	setDefault(&bf.Window, Duration(DefaultBruteForceWindow))
	setDefault(&bf.FreeFailures, DefaultBruteForceFreeFailures)
	setDefault(&bf.MaxDelay, Duration(DefaultBruteForceMaxDelay))
	setDefault(&bf.BanAfter, DefaultBruteForceBanAfter)
	setDefault(&bf.BanFor, Duration(DefaultBruteForceBanFor))
	setDefault(&bf.MaxBan, Duration(DefaultBruteForceMaxBan))
	setDefault(&bf.GlobalPerSecond, DefaultBruteForceGlobal)
	setDefault(&bf.MaxTracked, DefaultBruteForceMaxTracked)
	j := &a.JWT
	setDefault(&j.Leeway, Duration(DefaultJWTLeeway))
	setDefault(&j.UsernameClaim, DefaultJWTUsernameClaim)
	setDefault(&j.GroupsClaim, DefaultJWTGroupsClaim)
	setDefault(&j.TopicsClaim, DefaultJWTTopicsClaim)
	setDefault(&j.SigningKeysClaim, DefaultJWTSigningKeysClaim)
	if h := &a.HTTP; h.AuthURL != "" {
		setDefault(&h.Timeout, Duration(DefaultHTTPTimeout))
		setDefault(&h.CacheTTL, Duration(DefaultHTTPCacheTTL))
		setDefault(&h.DenyTTL, Duration(DefaultHTTPDenyTTL))
		setDefault(&h.CacheSize, DefaultHTTPCacheSize)
		setDefault(&h.MaxConcurrent, DefaultHTTPMaxConcurrent)
	}
}

// applyDefaults fills the connection limits left unset.
func (l *Limits) applyDefaults() {
	defaultPtr(&l.MaxConnections, DefaultMaxConnections)
	defaultPtr(&l.MaxConnectionsPerAddress, DefaultMaxConnectionsPerAddress)
	defaultPtr(&l.ConnectionRatePerAddress, DefaultConnectionRatePerAddress)
	defaultPtr(&l.ConnectionBurstPerAddress, DefaultConnectionBurstPerAddress)
	if l.ConnectionRate > 0 && l.ConnectionBurst == 0 {
		l.ConnectionBurst = max(1, int(2*l.ConnectionRate))
	}
	if l.PublishRate > 0 && l.PublishBurst == 0 {
		l.PublishBurst = max(1, int(2*l.PublishRate))
	}
	if l.PublishBytesRate > 0 && l.PublishBytesBurst == 0 {
		l.PublishBytesBurst = 2 * l.PublishBytesRate
	}
	if l.IdentityPublishRate > 0 && l.IdentityPublishBurst == 0 {
		l.IdentityPublishBurst = max(1, int(2*l.IdentityPublishRate))
	}
	setDefault(&l.ThrottleDisconnect, Duration(30*time.Second))
	setDefault(&l.MemoryBudget, "auto")
}

// defaultPtr points an unset *T at v.
func defaultPtr[T any](p **T, v T) {
	if *p == nil {
		*p = &v
	}
}
