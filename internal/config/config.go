// Package config is Moat's configuration schema: typed structs decoded
// strictly from YAML (unknown keys are refused with their line), defaults,
// and validation that reports every problem with its path. It imports no
// runtime package of the broker.
package config

import (
	"path/filepath"
	"time"
)

// Config is the whole configuration file.
type Config struct {
	// Listeners the broker accepts connections on. Default: one plain TCP
	// listener on 127.0.0.1:1883.
	Listeners []Listener `yaml:"listeners"`
	// MQTT holds protocol limits and the features advertised to clients.
	MQTT MQTT `yaml:"mqtt"`
	// Log configures the process log.
	Log Log `yaml:"log"`
	// Auth configures how clients authenticate.
	Auth Auth `yaml:"auth"`
	// ACL configures what authenticated clients may do.
	ACL ACL `yaml:"acl"`
	// Retain limits retained messages.
	Retain Retain `yaml:"retain"`
	// Admin configures the operators' interface.
	Admin Admin `yaml:"admin"`
	// Limits bound connections, against floods. Reloaded on SIGHUP.
	Limits Limits `yaml:"limits"`
	// Audit configures the tamper-evident audit log.
	Audit Audit `yaml:"audit"`
	// Store configures the durable store of sessions, queued messages and
	// retained messages (docs/durability.md). Changes need a restart.
	Store Store `yaml:"store"`
	// SignedTopics lists the topics whose messages must carry a fresh
	// signature from the publisher's own key (docs/signed-topics.md).
	SignedTopics SignedTopics `yaml:"signed_topics"`
	// AllowInsecure acknowledges that a listener on a non-loopback address
	// serves MQTT in plain text (tcp, ws), or lets anyone connect because
	// Auth.AllowAnonymous is set (every transport). Without it such a
	// configuration refuses to start.
	AllowInsecure bool `yaml:"allow_insecure"`
	// Acknowledge lists the critical findings of moat doctor
	// (docs/doctor.md) whose risk is accepted on purpose, so that moat
	// serve starts despite them: a finding ID ("MOAT-FILE-001") accepts
	// every finding of that ID, "ID@PATH" only the one at that key path or
	// file. allow_insecure acknowledges MOAT-NET-001, MOAT-AUTH-001,
	// MOAT-ACL-001, MOAT-ADMIN-001 and MOAT-AUTH-003 by itself. Default
	// none.
	Acknowledge []string `yaml:"acknowledge"`
	// DataDir is the directory for generated certificates, credentials
	// and, later, the store. A relative path is relative to the working
	// directory. Default "moat-data".
	DataDir string `yaml:"data_dir"`
}

// Listener is one bound socket.
type Listener struct {
	// Name identifies the listener in logs, audit and metrics. Default
	// "<transport>:<address>".
	Name string `yaml:"name"`
	// Address is host:port. Port 0 picks a free port (tests). A host that
	// is not loopback (see IsLoopback) requires Config.AllowInsecure when
	// the transport is plain text (tcp, ws) or anonymous access is allowed.
	Address string `yaml:"address"`
	// Transport is "tcp", "tls", "ws" (MQTT over WebSocket) or "wss"
	// (MQTT over WebSocket over TLS).
	Transport string `yaml:"transport"`
	// TLS configures tls and wss listeners (required for them); set on a
	// tcp or ws listener it is refused. Its defaults apply to tls and wss
	// listeners only.
	TLS TLS `yaml:"tls"`
	// WebSocket configures ws and wss listeners; set on a tcp or tls
	// listener it is refused. Its defaults apply to ws and wss listeners
	// only.
	WebSocket WebSocket `yaml:"websocket"`
	// ProxyProtocol accepts PROXY protocol v1/v2 headers, only from
	// trusted sources.
	ProxyProtocol ProxyProtocol `yaml:"proxy_protocol"`
	// Auth restricts authentication on this listener.
	Auth ListenerAuth `yaml:"auth"`
	// Firewall admits connections by source address, before any TLS
	// work. Reloaded on SIGHUP.
	Firewall Firewall `yaml:"firewall"`
}

// Firewall lists source addresses as CIDR prefixes or single addresses
// (IPv4 or IPv6). A deny entry always wins; with allow entries, only
// addresses matching one are admitted. Default: both empty (everyone).
type Firewall struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

// ListenerAuth restricts authentication on one listener.
type ListenerAuth struct {
	// Methods lists the authentication methods accepted here: password,
	// certificate (a verified client certificate alone), jwt, scram, http,
	// anonymous (also needs auth.allow_anonymous). Empty: every configured
	// method.
	Methods []string `yaml:"methods"`
	// RequireCertificate demands a verified client certificate on top of
	// the method that authenticates (certificate and password both). It
	// needs tls.client_auth optional or required.
	RequireCertificate bool `yaml:"require_certificate"`
}

// AuthMethods are the names of the authentication methods.
var AuthMethods = []string{"password", "certificate", "jwt", "scram", "http", "anonymous"}

// TLS configures a TLS listener.
type TLS struct {
	// Cert and Key are PEM files: the certificate chain and its private
	// key. They are the default certificate.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Certificates are further certificates, chosen by SNI server name.
	Certificates []CertKey `yaml:"certificates"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
	// CipherSuites restricts the TLS 1.2 suites (Go names such as
	// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256). Default: ECDHE with AEAD
	// only. Only ECDHE+AEAD suites are accepted. TLS 1.3 suites are fixed.
	CipherSuites []string `yaml:"cipher_suites"`
	// Curves restricts key exchange groups (X25519MLKEM768, X25519, P256,
	// P384, P521). Default: Go's defaults.
	Curves []string `yaml:"curves"`
	// ClientAuth is "none" (default), "optional" or "required": whether
	// clients present a certificate verified against ClientCA.
	ClientAuth string `yaml:"client_auth"`
	// ClientCA is the PEM bundle client certificates are verified against.
	ClientCA string `yaml:"client_ca"`
	// CRLs are PEM or DER certificate revocation lists for ClientCA.
	CRLs []string `yaml:"crls"`
	// Identity picks the client identity from its certificate: "cn"
	// (default), "san-dns", "san-uri", "san-email" or "fingerprint"
	// (SHA-256 of the certificate, hex).
	Identity string `yaml:"identity"`
	// Groups picks the groups of a certificate identity, for ACL group:
	// rules: "none" (default), "ou" (the subject's organizational units)
	// or "o" (its organizations). Only the CA in client_ca decides them.
	Groups string `yaml:"groups"`
	// RequireUsernameMatch refuses a CONNECT whose user name is not the
	// certificate identity.
	RequireUsernameMatch bool `yaml:"require_username_match"`
	// HandshakeTimeout bounds the TLS handshake. Default 10s.
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
}

// CertKey is one certificate chain with its key, as PEM files.
type CertKey struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// WebSocket configures MQTT over WebSocket.
type WebSocket struct {
	// Path is the HTTP path of the WebSocket endpoint. Default "/mqtt".
	Path string `yaml:"path"`
	// AllowedOrigins lists the Origin header values accepted (browsers
	// send one). Empty: requests with an Origin header are refused, those
	// without (non-browser clients) accepted. "*" accepts any origin.
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// ProxyProtocol configures PROXY protocol v1/v2 on a listener.
type ProxyProtocol struct {
	// Trusted lists the CIDRs (load balancers) whose PROXY headers are
	// honoured; a single IP address stands for itself (/32 or /128). See
	// TrustedPrefixes. Non-empty enables the protocol: connections from a
	// trusted source must send a header; from elsewhere a header is
	// refused.
	Trusted []string `yaml:"trusted"`
	// Timeout bounds reading the header. Default 5s when Trusted is set;
	// without Trusted it must be left unset.
	Timeout Duration `yaml:"timeout"`
}

// MQTT holds the protocol limits. Zero values are replaced by defaults in
// Default; validation rejects out-of-range values.
type MQTT struct {
	// MaxPacketSize is the largest packet accepted from a client, advertised
	// in CONNACK. Default 1 MiB; at most 268435460.
	MaxPacketSize ByteSize `yaml:"max_packet_size"`
	// ReceiveMaximum is how many inbound QoS 1/2 publishes a client may have
	// unacknowledged. Default 1024; 1..65535.
	ReceiveMaximum uint16 `yaml:"receive_maximum"`
	// MaxInflight caps outbound unacknowledged QoS 1/2 messages per client,
	// further limited by the client's own Receive Maximum. Default 1024.
	MaxInflight uint16 `yaml:"max_inflight"`
	// TopicAliasMaximum is the number of inbound topic aliases per client.
	// Default 64 (set by Default and by the loader, which decodes over
	// the defaults); 0 disables.
	TopicAliasMaximum uint16 `yaml:"topic_alias_maximum"`
	// MaxQoS is the highest QoS the broker accepts and grants (0..2).
	// Default 2.
	MaxQoS *int `yaml:"max_qos"`
	// RetainAvailable enables retained messages. Default true.
	RetainAvailable *bool `yaml:"retain_available"`
	// WildcardSubscriptions enables + and # in filters. Default true.
	WildcardSubscriptions *bool `yaml:"wildcard_subscriptions"`
	// SubscriptionIdentifiers enables MQTT 5 subscription identifiers.
	// Default true.
	SubscriptionIdentifiers *bool `yaml:"subscription_identifiers"`
	// SharedSubscriptions enables $share/group/filter. Default true.
	SharedSubscriptions *bool `yaml:"shared_subscriptions"`
	// MaxKeepAlive caps the client's keep alive; a larger or zero request is
	// answered with Server Keep Alive (MQTT 5). Default 0: no cap.
	MaxKeepAlive Duration `yaml:"max_keep_alive"`
	// MinKeepAlive raises an MQTT 5 client's keep alive below it (a
	// one-second keep alive is a PINGREQ flood), advertised as Server Keep
	// Alive. Must not exceed max_keep_alive. Default 0s: none.
	MinKeepAlive Duration `yaml:"min_keep_alive"`
	// MaxSessionExpiry caps the session expiry interval a client may ask
	// for. Default 24h. The never-expiring value is capped too.
	MaxSessionExpiry Duration `yaml:"max_session_expiry"`
	// ConnectTimeout is how long a new connection has to send CONNECT.
	// Default 10s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// WriteTimeout bounds every write to a client; a client that does not
	// read for this long is disconnected. Default 30s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// MaxClientIDLength bounds client identifiers. Default 256.
	MaxClientIDLength int `yaml:"max_client_id_length"`
	// MaxTopicLength bounds topic names and filters in bytes. Default 1024.
	MaxTopicLength int `yaml:"max_topic_length"`
	// MaxTopicLevels bounds the number of levels of a topic. Default 32.
	MaxTopicLevels int `yaml:"max_topic_levels"`
	// AllowControlCharacters accepts control characters (U+0001..U+001F,
	// U+007F..U+009F) in topics and client ids. Default false: refused,
	// since they can forge log lines and hide topics from operators.
	AllowControlCharacters bool `yaml:"allow_control_characters"`
	// ClientIDPattern, when set, is a regular expression (RE2 syntax) that
	// every client id a client sends must match, such as
	// "^[A-Za-z0-9._:-]+$". Default "": any.
	ClientIDPattern string `yaml:"client_id_pattern"`
	// MaxQueuedMessages bounds each session's outbound queue (messages
	// waiting for an inflight slot or for an offline client). Default 1000.
	MaxQueuedMessages int `yaml:"max_queued_messages"`
	// MaxQueuedBytes bounds each session's outbound queue in payload bytes.
	// Default 16 MiB.
	MaxQueuedBytes ByteSize `yaml:"max_queued_bytes"`
	// MaxSubscriptionsPerClient bounds the filters one session may hold.
	// Default 1000.
	MaxSubscriptionsPerClient int `yaml:"max_subscriptions_per_client"`
	// MaxRetainedMessages bounds the retained store. Default 100000.
	MaxRetainedMessages int `yaml:"max_retained_messages"`
	// SysInterval is how often the $SYS topics are published (retained;
	// only identities the ACL lets receive $SYS topics read them). A
	// negative value turns them off. Default 10s.
	SysInterval Duration `yaml:"sys_interval"`
	// AllowMQTT31 accepts protocol level 3 (MQIsdp). Default true.
	AllowMQTT31 *bool `yaml:"allow_mqtt31"`
	// AllowEmptyClientID lets clients connect with an empty client id; the
	// broker assigns one. Default true.
	AllowEmptyClientID *bool `yaml:"allow_empty_client_id"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error. Default info.
	Format string `yaml:"format"` // text or json. Default text.
}

// Duration is a time.Duration written as a Go duration string ("10s",
// "1h30m"); the loader refuses negative values and bare numbers other
// than 0.
type Duration time.Duration

// ByteSize is a size in bytes, written as an integer or as a whole number
// with a unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of
// 1024), case-insensitive ("1MiB", "512 KiB", "64KB"). Never negative when
// loaded.
type ByteSize int64

// Auth configures authentication. Without allow_anonymous, every client
// must authenticate.
type Auth struct {
	// PasswordFile holds user names with argon2id hashes (see moat passwd).
	// Empty means <data_dir>/passwd. Unless anonymous access is allowed,
	// the file must exist at start.
	PasswordFile string `yaml:"password_file"`
	// AllowAnonymous lets clients without credentials connect with the
	// identity "anonymous". Default false; on a non-loopback listener it
	// also needs allow_insecure.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// ClientIDs lists the client identifiers an authenticated client may
	// use: patterns in which %u stands for its identity (user name,
	// certificate identity or token subject) and a trailing * for any
	// rest, such as "%u" or "%u-*". A client id the broker assigns is
	// always allowed. Empty: any client id.
	ClientIDs []string `yaml:"client_ids"`
	// BruteForce slows down, then bans, sources of failed logins.
	BruteForce BruteForce `yaml:"brute_force"`
	// JWT accepts signed JSON Web Tokens in the password field (and as
	// MQTT 5 enhanced authentication method "JWT"). Enabled when it names
	// at least one key source.
	JWT JWT `yaml:"jwt"`
	// HTTP asks a web service (a webhook) to authenticate clients and,
	// optionally, to authorize their actions. Enabled by auth_url.
	HTTP HTTPAuth `yaml:"http"`
}

// HTTPAuth configures the authentication webhook. Every failure of the
// service (error status, timeout, malformed answer) denies.
type HTTPAuth struct {
	// AuthURL receives each login as a JSON POST. https, or http to a
	// loopback address (elsewhere only with allow_insecure). Default "":
	// off.
	AuthURL string `yaml:"auth_url"`
	// ACLURL, when set, receives each publish, subscribe and delivery
	// decision that is not cached. Default "": the webhook does not
	// authorize.
	ACLURL string `yaml:"acl_url"`
	// Timeout bounds one request. Default 2s; at most 30s.
	Timeout Duration `yaml:"timeout"`
	// CacheTTL is how long an allow is remembered. Default 60s.
	CacheTTL Duration `yaml:"cache_ttl"`
	// DenyTTL is how long an explicit deny is remembered. Default 5s.
	DenyTTL Duration `yaml:"deny_ttl"`
	// CacheSize bounds each answer cache. Default 10000.
	CacheSize int `yaml:"cache_size"`
	// MaxConcurrent bounds the requests in flight; beyond it a question
	// is denied at once. Default 64.
	MaxConcurrent int `yaml:"max_concurrent"`
	// CAFile replaces the system roots for an https service. Default "".
	CAFile string `yaml:"ca_file"`
	// ClientCert and ClientKey are presented to the service (mutual TLS).
	// Default "".
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`
	// Headers are sent with every request; a header's value comes from
	// value, or from a file (for secrets such as a bearer token).
	Headers []HTTPHeader `yaml:"headers"`
}

// HTTPHeader is one static header of the webhook's requests.
type HTTPHeader struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
	File  string `yaml:"file"`
}

// ACL configures authorization (docs/authorization.md).
type ACL struct {
	// File is the ACL policy: rules allowing or denying publish,
	// subscribe, receive and retain per identity, group and topic; what
	// no rule allows is denied. It is reloaded when it changes and on
	// SIGHUP. Empty (and no auth.http.acl_url): every authenticated
	// client may use every topic except writing under $, which only
	// loopback listeners, or allow_insecure, accept (a warning says so at
	// start).
	File string `yaml:"file"`
	// DisconnectOnDeniedPublish closes an MQTT 3.1/3.1.1 connection whose
	// publish the policy refuses; those versions cannot be told otherwise
	// (MQTT 5 clients get reason code 0x87). Default false: the publish
	// is dropped.
	DisconnectOnDeniedPublish bool `yaml:"disconnect_on_denied_publish"`
	// CacheSize bounds the cache of decisions. Default 100000.
	CacheSize int `yaml:"cache_size"`
	// RootWildcards allows subscriptions whose first level is a wildcard
	// ("#", "+/#", "+/status"), which read across every tenant. Default
	// true.
	RootWildcards *bool `yaml:"root_wildcards"`
	// RootWildcardIdentities may subscribe with a root wildcard even when
	// RootWildcards is false (dashboards, bridges). Default none.
	RootWildcardIdentities []string `yaml:"root_wildcard_identities"`
}

// Limits bound connections at accept, before any TLS work: a connection
// beyond them is closed at once (and audited). A source is an IPv4 address
// or an IPv6 /64. 0 means no bound, except where a default is given.
type Limits struct {
	// MaxConnections bounds open connections, all listeners together.
	// Default 100000.
	MaxConnections *int `yaml:"max_connections"`
	// MaxConnectionsPerAddress bounds open connections from one source.
	// Default 1000.
	MaxConnectionsPerAddress *int `yaml:"max_connections_per_address"`
	// ConnectionRate bounds new connections per second, all sources
	// together; ConnectionBurst is how many may come at once. Default 0:
	// no bound.
	ConnectionRate  float64 `yaml:"connection_rate"`
	ConnectionBurst int     `yaml:"connection_burst"`
	// ConnectionRatePerAddress bounds new connections per second from
	// one source; ConnectionBurstPerAddress is how many may come at once.
	// Defaults 100 and 500.
	ConnectionRatePerAddress  *float64 `yaml:"connection_rate_per_address"`
	ConnectionBurstPerAddress *int     `yaml:"connection_burst_per_address"`
	// PublishRate bounds PUBLISH packets per second per connection;
	// PublishBurst is how many may come at once (default twice the
	// rate). A client over it is not read until it is back within it.
	// Default 0: no bound.
	PublishRate  float64 `yaml:"publish_rate"`
	PublishBurst int     `yaml:"publish_burst"`
	// PublishBytesRate bounds PUBLISH bytes per second per connection;
	// PublishBytesBurst defaults to twice the rate. Default 0: no bound.
	PublishBytesRate  ByteSize `yaml:"publish_bytes_rate"`
	PublishBytesBurst ByteSize `yaml:"publish_bytes_burst"`
	// IdentityPublishRate bounds PUBLISH packets per second of one
	// identity, all its connections together (all anonymous clients are
	// one identity); IdentityPublishBurst defaults to twice the rate.
	// Default 0: no bound.
	IdentityPublishRate  float64 `yaml:"identity_publish_rate"`
	IdentityPublishBurst int     `yaml:"identity_publish_burst"`
	// MemoryBudget is the memory above which new connections are refused
	// (CONNACK 0x89, server busy) and QoS 0 deliveries are shed: "auto"
	// (75% of the container's memory limit, or of the machine's memory),
	// "off", or a size such as "2GiB". Default auto.
	MemoryBudget string `yaml:"memory_budget"`
	// ThrottleDisconnect is how long a client may stay over a publish
	// limit, throttled without a break, before it is disconnected
	// (MQTT 5: 0x96 for its connection's limits, 0x97 for its
	// identity's). Default 30s.
	ThrottleDisconnect Duration `yaml:"throttle_disconnect"`
}

// SignedTopics is the signed-topics policy. Rules and the limits are
// reloaded on SIGHUP, and the keys file when it changes.
type SignedTopics struct {
	// Keys is the key registry (JSON): key id -> public key and the
	// identity it signs for. Required with rules; read again on SIGHUP.
	Keys string `yaml:"keys"`
	// Rules in order: the first whose topics match decides.
	Rules []SignedRule `yaml:"rules"`
	// AllowReplayAfterRestart accepts, right after a start, messages
	// issued before it (the replay state is in memory). Default false:
	// refused for the skew after every start.
	AllowReplayAfterRestart bool `yaml:"allow_replay_after_restart"`
	// MaxWindows, MaxNonces and MaxNoncesPerKey bound the replay state.
	// Defaults 100000, 100000 and 10000.
	MaxWindows      int `yaml:"max_windows"`
	MaxNonces       int `yaml:"max_nonces"`
	MaxNoncesPerKey int `yaml:"max_nonces_per_key"`
}

// SignedRule marks topics as signed.
type SignedRule struct {
	// Topics are topic filters (no $share/).
	Topics []string `yaml:"topics"`
	// Algorithms accepted: ed25519, es256. Default both.
	Algorithms []string `yaml:"algorithms"`
	// Skew is how far the signed issue time may be from the broker's
	// clock. Default 30s, at most 300s.
	Skew Duration `yaml:"skew"`
	// Replay is sequence (default), nonce or any.
	Replay string `yaml:"replay"`
	// Retain allows retained messages. Default false.
	Retain bool `yaml:"retain"`
	// Carriage is auto (default), envelope or detached.
	Carriage string `yaml:"carriage"`
	// MQTT5Reason is not_authorized (default) or payload_format_invalid.
	MQTT5Reason string `yaml:"mqtt5_reason"`
	// MQTT3Action is drop (default) or disconnect.
	MQTT3Action string `yaml:"mqtt3_action"`
	// MaxSignatureBytes caps a signature. Default 1024.
	MaxSignatureBytes int `yaml:"max_signature_bytes"`
}

// Audit configures the audit log: security events as hash-chained JSON
// lines (docs/audit.md), verified with moat audit verify.
type Audit struct {
	// Disabled writes no audit log. Default false.
	Disabled bool `yaml:"disabled"`
	// File is the live log; rotated files sit next to it. Default "":
	// audit/audit.log in data_dir.
	File string `yaml:"file"`
	// MaxSize rotates the file before it grows past this. Default 64MiB.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxAge rotates the file once its first record is this old. Default
	// 0s: by size only.
	MaxAge Duration `yaml:"max_age"`
	// MaxFiles is how many rotated files are kept. Default 10.
	MaxFiles int `yaml:"max_files"`
	// MaxPerSecond caps the records written per second; identical events
	// within a second are collapsed into one count anyway. Default 1000.
	MaxPerSecond int `yaml:"max_per_second"`
	// Syslog also sends every record to a syslog server (RFC 5424).
	Syslog AuditSyslog `yaml:"syslog"`
}

// Store configures the durable store in <data_dir>/store.
type Store struct {
	// Mode is "strict" (a QoS 1/2 message for a persistent session, a
	// session and a retained message are on disk before they are
	// acknowledged), "relaxed" (flushed every FlushInterval: a crash can
	// lose what was acknowledged since the last flush) or "memory"
	// (nothing survives a restart). Default strict.
	Mode string `yaml:"mode"`
	// FlushInterval is how often a relaxed store is flushed. Default 1s.
	FlushInterval Duration `yaml:"flush_interval"`
	// KeyFile holds the AES-256 key that encrypts the store: 32 raw bytes
	// or 64 hexadecimal characters, mode 0600. Default "": store.key in
	// data_dir, generated when the store is created.
	KeyFile string `yaml:"key_file"`
	// KeyEnv names an environment variable holding the key as 64
	// hexadecimal characters; it wins over KeyFile. Default "": none.
	KeyEnv string `yaml:"key_env"`
}

// StoreKeyFile is the store key file in force: Store.KeyFile, or store.key
// in the data directory.
func (c *Config) StoreKeyFile() string {
	if c.Store.KeyFile != "" {
		return c.Store.KeyFile
	}
	return filepath.Join(c.DataDir, "store.key")
}

// StoreDir is the store's directory: store in the data directory.
func (c *Config) StoreDir() string { return filepath.Join(c.DataDir, "store") }

// AuditSyslog is a syslog destination.
type AuditSyslog struct {
	// Network is "udp", "tcp", "unix" or "unixgram"; "" sends nothing.
	Network string `yaml:"network"`
	// Address is host:port, or the socket's path.
	Address string `yaml:"address"`
	// Facility is the syslog facility. Default local0.
	Facility string `yaml:"facility"`
}

// AuditFile is the audit log in force: Audit.File, or
// <data_dir>/audit/audit.log; "" when it is disabled.
func (c *Config) AuditFile() string {
	switch {
	case c.Audit.Disabled:
		return ""
	case c.Audit.File != "":
		return c.Audit.File
	}
	return filepath.Join(c.DataDir, "audit", "audit.log")
}

// Admin configures the administration API. Today it is served on a local
// Unix socket only, which the operator commands (moat retained) use.
type Admin struct {
	// Socket is the local administration socket, mode 0600, open to the
	// broker's own user and root only. Default "": admin.sock in data_dir.
	// At most 107 bytes long (a Unix socket address).
	Socket string `yaml:"socket"`
	// DisableSocket serves no local socket; the operator commands that
	// need a running broker then cannot reach it. Default false.
	DisableSocket bool `yaml:"disable_socket"`
	// Listen is the address of the HTTPS admin listener (metrics, health,
	// the admin API). Default "": none.
	Listen string `yaml:"listen"`
	// Cert and Key are its certificate and key (PEM); required with
	// Listen. Read at start.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCA, when set, lets a client certificate it verifies
	// authenticate an administrator (mutual TLS), besides tokens.
	ClientCA string `yaml:"client_ca"`
	// TokensFile holds the hashes of the bearer tokens (moat admin token).
	// Default "": admin-tokens in data_dir.
	TokensFile string `yaml:"tokens_file"`
	// PublicMetrics serves /metrics without authentication. On a
	// non-loopback address it needs allow_insecure. Default false.
	PublicMetrics bool `yaml:"public_metrics"`
}

// AdminTokensFile is the admin tokens file in force.
func (c *Config) AdminTokensFile() string {
	if c.Admin.TokensFile != "" {
		return c.Admin.TokensFile
	}
	return filepath.Join(c.DataDir, "admin-tokens")
}

// Retain limits retained messages beyond the retain permission of the ACL.
type Retain struct {
	// Never lists topic filters whose messages are never retained
	// (sensitive topics). Default none.
	Never []string `yaml:"never"`
	// NeverAction is what a retained publish on such a topic gets: "strip"
	// (delivered live, not retained) or "refuse" (MQTT 5: 0x87; 3.1.1:
	// dropped). Default "strip".
	NeverAction string `yaml:"never_action"`
	// MaxAge is how long a retained message is kept at most. Default 0:
	// until replaced or its own expiry.
	MaxAge Duration `yaml:"max_age"`
	// MaxSize bounds a retained payload; a larger retained publish is
	// refused (MQTT 5: 0x97). Default 0: only mqtt.max_packet_size.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxPerIdentity bounds the retained messages one identity holds; a
	// retained publish to a new topic beyond it is refused (0x97).
	// Default 10000; 0: only mqtt.max_retained_messages.
	MaxPerIdentity *int `yaml:"max_per_identity"`
}

// BruteForce configures the brute-force defence. Failures are counted per
// source address (IPv6 by /64) and per user name in a sliding window.
type BruteForce struct {
	// Enabled turns the defence on. Default true.
	Enabled *bool `yaml:"enabled"`
	// Window is the sliding window failures are counted in. Default 10m.
	Window Duration `yaml:"window"`
	// FreeFailures is how many failures in the window are refused at
	// once; each further one waits longer (100ms, doubling) before its
	// refusal. Default 5.
	FreeFailures int `yaml:"free_failures"`
	// MaxDelay caps the wait before a refusal. Default 5s.
	MaxDelay Duration `yaml:"max_delay"`
	// BanAfter is the number of failures in the window that bans the
	// address or user name. Default 20; at most 10000.
	BanAfter int `yaml:"ban_after"`
	// BanFor is the length of a first ban; it doubles with each repeat
	// offence. Default 15m.
	BanFor Duration `yaml:"ban_for"`
	// MaxBan caps the length of a ban. Default 24h.
	MaxBan Duration `yaml:"max_ban"`
	// GlobalPerSecond is the ceiling on failed logins per second from all
	// sources together; above it new logins are refused with 0x9F
	// (connection rate exceeded) for a moment. Default 200.
	GlobalPerSecond int `yaml:"global_per_second"`
	// MaxTracked bounds the addresses and user names tracked, and the
	// bans held. Default 100000.
	MaxTracked int `yaml:"max_tracked"`
}

// JWT configures token authentication. Tokens must be signed with HS256,
// RS256, ES256 or EdDSA by one of the configured keys and carry exp.
type JWT struct {
	// Keys are PEM files with public keys or certificates (RSA 2048+,
	// P-256, Ed25519). Default none.
	Keys []string `yaml:"keys"`
	// JWKSFile is a JSON Web Key Set file, reloaded when it changes.
	// Default "".
	JWKSFile string `yaml:"jwks_file"`
	// HMACSecretFile holds the HS256 secret (at least 32 bytes). Default
	// "": HS256 tokens are refused.
	HMACSecretFile string `yaml:"hmac_secret_file"`
	// Issuer, when set, must equal the token's iss. Default "".
	Issuer string `yaml:"issuer"`
	// Audience, when set, must be among the token's aud. Default "".
	Audience string `yaml:"audience"`
	// Leeway is the clock skew allowed for exp, nbf and iat. Default 30s;
	// at most 5m.
	Leeway Duration `yaml:"leeway"`
	// UsernameClaim names the claim that becomes the identity. Default
	// "sub".
	UsernameClaim string `yaml:"username_claim"`
	// GroupsClaim names the claim listing the identity's groups. Default
	// "groups".
	GroupsClaim string `yaml:"groups_claim"`
	// TopicsClaim names an optional claim restricting the token to topic
	// filters: {"publish": [...], "subscribe": [...]}. Default "topics".
	TopicsClaim string `yaml:"topics_claim"`
	// SigningKeysClaim names an optional claim binding message-signing
	// public keys to the token's identity, for signed topics whose key
	// registry allows it (token_keys): [{"kid": ..., "spki": base64 DER}].
	// Default "signing_keys".
	SigningKeysClaim string `yaml:"signing_keys_claim"`
}

// Enabled reports whether token authentication is configured.
func (j *JWT) Enabled() bool {
	return len(j.Keys) > 0 || j.JWKSFile != "" || j.HMACSecretFile != ""
}

// BansFile is where bans are kept across restarts: <data_dir>/bans.json.
func (c *Config) BansFile() string { return filepath.Join(c.DataDir, "bans.json") }

// AdminSocket is the local administration socket in force: Admin.Socket,
// or <data_dir>/admin.sock; "" when it is disabled.
func (c *Config) AdminSocket() string {
	switch {
	case c.Admin.DisableSocket:
		return ""
	case c.Admin.Socket != "":
		return c.Admin.Socket
	}
	return filepath.Join(c.DataDir, "admin.sock")
}

// HasACL reports whether an ACL decides what clients may do: a policy file
// or the webhook's acl_url.
func (c *Config) HasACL() bool { return c.ACL.File != "" || c.Auth.HTTP.ACLURL != "" }

// PasswordFilePath is the password file in force: Auth.PasswordFile, or
// <data_dir>/passwd.
func (c *Config) PasswordFilePath() string {
	if c.Auth.PasswordFile != "" {
		return c.Auth.PasswordFile
	}
	return filepath.Join(c.DataDir, "passwd")
}
