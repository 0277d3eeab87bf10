package doctor

// Finding IDs. They are stable: a check that is retired keeps its ID
// reserved, and an ID never changes meaning. docs/doctor.md documents
// each one moat doctor reports, docs/scanning.md each one moat scan
// reports; tests check that they do.
const (
	IDPlainText     = "MOAT-NET-001"
	IDAllInterfaces = "MOAT-NET-002"

	IDAnonymousExposed  = "MOAT-AUTH-001"
	IDAnonymousLoopback = "MOAT-AUTH-002"
	IDHTTPAuthPlain     = "MOAT-AUTH-003"
	IDAnyCredentials    = "MOAT-AUTH-004"
	IDDefaultCreds      = "MOAT-AUTH-005"

	IDTLSOldVersion   = "MOAT-TLS-001"
	IDTLSWeakSuite    = "MOAT-TLS-002"
	IDTLS12Allowed    = "MOAT-TLS-003"
	IDCertMapOptional = "MOAT-TLS-004"
	IDNoCRL           = "MOAT-TLS-005"
	IDNoTLS13         = "MOAT-TLS-006"
	IDClientCertMode  = "MOAT-TLS-007"

	IDCertExpired   = "MOAT-CERT-001"
	IDCertExpiring  = "MOAT-CERT-002"
	IDCertWeakKey   = "MOAT-CERT-003"
	IDCertWeakSig   = "MOAT-CERT-004"
	IDCertMismatch  = "MOAT-CERT-005"
	IDCertOther     = "MOAT-CERT-006"
	IDCertUntrusted = "MOAT-CERT-007"

	IDKeyReadable      = "MOAT-FILE-001"
	IDSecretReadable   = "MOAT-FILE-002"
	IDFileReadable     = "MOAT-FILE-003"
	IDFileWritable     = "MOAT-FILE-004"
	IDFileMissing      = "MOAT-FILE-005"
	IDPasswordWeak     = "MOAT-PASS-001"
	IDPasswordLegacy   = "MOAT-PASS-002"
	IDPasswordParams   = "MOAT-PASS-003"
	IDNoACLExposed     = "MOAT-ACL-001"
	IDNoACLLoopback    = "MOAT-ACL-002"
	IDACLAllowAll      = "MOAT-ACL-003"
	IDACLDollarWrite   = "MOAT-ACL-004"
	IDACLWarning       = "MOAT-ACL-005"
	IDACLBroadGrant    = "MOAT-ACL-006"
	IDACLWebhook       = "MOAT-ACL-007"
	IDACLInvalid       = "MOAT-ACL-008"
	IDACLDollarMatch   = "MOAT-ACL-009"
	IDACLSharedBypass  = "MOAT-ACL-010"
	IDACLWillBypass    = "MOAT-ACL-011"
	IDLimitPacketSize  = "MOAT-LIM-001"
	IDLimitQueues      = "MOAT-LIM-002"
	IDLimitPerAddress  = "MOAT-LIM-003"
	IDLimitConnections = "MOAT-LIM-004"
	IDLimitConnRate    = "MOAT-LIM-005"
	IDLimitConnect     = "MOAT-LIM-006"
	IDLimitHandshake   = "MOAT-LIM-007"
	IDLimitMemory      = "MOAT-LIM-008"
	IDLimitReceiveMax  = "MOAT-LIM-009"
	IDLimitOversize    = "MOAT-LIM-010"
	IDBruteForceOff    = "MOAT-BF-001"
	IDBruteForceLax    = "MOAT-BF-002"
	IDPublicMetrics    = "MOAT-ADMIN-001"
	IDAdminExposed     = "MOAT-ADMIN-002"
	IDProxyTrustAll    = "MOAT-PROXY-001"
	IDProxyTrustWide   = "MOAT-PROXY-002"
	IDAuditOff         = "MOAT-AUDIT-001"
	IDStoreNotDurable  = "MOAT-STORE-001"
	IDWSAnyOrigin      = "MOAT-WS-001"
	IDMQTT31           = "MOAT-MQTT-001"
	IDControlChars     = "MOAT-MQTT-002"
	IDSignedRetain     = "MOAT-SIGN-001"
	IDSignedPolicy     = "MOAT-SIGN-002"

	IDScanInventory    = "MOAT-SCAN-001"
	IDScanRetained     = "MOAT-SCAN-002"
	IDScanVersion      = "MOAT-SCAN-003"
	IDScanPublish      = "MOAT-SCAN-004"
	IDScanSysWrite     = "MOAT-SCAN-005"
	IDScanCapabilities = "MOAT-SCAN-006"
	IDScanTakeover     = "MOAT-SCAN-007"
	IDScanHijack       = "MOAT-SCAN-008"
	IDScanMalformed    = "MOAT-SCAN-009"
	IDScanRetainWrite  = "MOAT-SCAN-010"
)

// Tool says which command reports a rule.
type Tool string

// Tools.
const (
	Doctor Tool = "doctor"
	Scan   Tool = "scan"
	Both   Tool = "doctor, scan"
)

// Rule documents one finding ID: its default severity, what the doctor
// reads or the scanner observes, why it matters and the fix.
type Rule struct {
	ID       string
	Severity Severity
	Tools    Tool
	Title    string
	Why      string
	Fix      string
	// Reserved rules are documented but not checked yet.
	Reserved bool
}

// Catalog lists every finding ID, in documentation order.
var Catalog = []Rule{
	{IDPlainText, SeverityCritical, Both, "Plain-text MQTT on a non-loopback address",
		"Anyone on the network path can read every message and every password, and alter traffic.",
		"Use transport tls or wss (or keep the listener on 127.0.0.1); behind a TLS-terminating balancer, restrict the listener with firewall.allow.", false},
	{IDAllInterfaces, SeverityInfo, Doctor, "Listener bound to all interfaces",
		"An empty host or 0.0.0.0/:: also listens on interfaces added later (a VPN, a public NIC).",
		"Bind the address of the interface clients use, or restrict the listener with firewall.allow.", false},

	{IDAnonymousExposed, SeverityCritical, Both, "Anonymous access on a non-loopback listener",
		"Anyone who can reach the port may connect, without credentials; the ACL is the only barrier left.",
		"Set auth.allow_anonymous: false, or list the listener's methods without anonymous (listeners[].auth.methods).", false},
	{IDAnonymousLoopback, SeverityLow, Doctor, "Anonymous access on a loopback listener",
		"Every local process and user may connect as \"anonymous\".",
		"Set auth.allow_anonymous: false unless local clients truly cannot authenticate.", false},
	{IDHTTPAuthPlain, SeverityHigh, Doctor, "Authentication webhook over plain HTTP",
		"Every login's user name and password cross the network in clear to the webhook.",
		"Use an https:// auth_url (auth.http.ca_file for a private CA).", false},
	{IDAnyCredentials, SeverityCritical, Scan, "Random credentials accepted",
		"The broker accepted a user name and password it cannot know: any credentials work.",
		"Require authentication that checks credentials (a password file, tokens, client certificates).", false},
	{IDDefaultCreds, SeverityCritical, Scan, "Default credentials accepted",
		"A well-known user name and password pair is the first thing an attacker tries.",
		"Remove the default account or give it a long random password.", false},

	{IDTLSOldVersion, SeverityHigh, Both, "TLS below 1.2",
		"TLS 1.0 and 1.1 have known attacks and are deprecated (RFC 8996).",
		"Set tls.min_version to \"1.2\" or \"1.3\".", false},
	{IDTLSWeakSuite, SeverityHigh, Both, "Weak TLS cipher suites",
		"Suites without forward secrecy (RSA key exchange) or with CBC, 3DES or RC4 expose traffic to recorded-traffic decryption and padding attacks.",
		"List only ECDHE suites with AES-GCM or ChaCha20-Poly1305 in tls.cipher_suites (or leave it empty for Moat's default).", false},
	{IDTLS12Allowed, SeverityInfo, Both, "TLS 1.2 accepted",
		"TLS 1.2 is sound with Moat's suites; TLS 1.3 removes more legacy and encrypts more of the handshake.",
		"Set tls.min_version: \"1.3\" once every client supports it.", false},
	{IDCertMapOptional, SeverityMedium, Doctor, "Certificate identity without required mutual TLS",
		"With client_auth optional, a client without a certificate falls back to another method: rules written for certificate identities (cert:, tls.groups) are not enforced on it, and require_username_match does not apply.",
		"Set tls.client_auth: required on listeners whose clients must present a certificate, or listeners[].auth.require_certificate: true.", false},
	{IDNoCRL, SeverityLow, Doctor, "Client certificates verified without a revocation list",
		"A stolen or retired client certificate stays valid until it expires.",
		"Publish a CRL with 'moat certs crl' and list it in tls.crls.", false},
	{IDNoTLS13, SeverityLow, Scan, "TLS 1.3 not offered",
		"The broker negotiates at most TLS 1.2.",
		"Enable TLS 1.3 on the broker.", false},
	{IDClientCertMode, SeverityInfo, Scan, "Client certificate requirement",
		"Whether the broker asks for, or requires, a client certificate (mutual TLS).",
		"Require client certificates where only known devices should connect.", false},

	{IDCertExpired, SeverityHigh, Both, "Certificate or CRL expired or not yet valid",
		"Clients refuse an expired certificate, and a stale CRL is refused too: connections fail, and operators are tempted to turn verification off.",
		"Issue a new certificate ('moat certs server') or CRL ('moat certs crl') and reload (SIGHUP).", false},
	{IDCertExpiring, SeverityMedium, Both, "Certificate expires within 30 days",
		"Renewal left to the last day becomes an outage.",
		"Renew the certificate now and reload (SIGHUP); Moat reloads TLS files when they change.", false},
	{IDCertWeakKey, SeverityHigh, Both, "Weak key",
		"RSA below 2048 bits or EC below 256 bits can be broken.",
		"Issue a new certificate with an ECDSA P-256, Ed25519 or RSA 2048+ key.", false},
	{IDCertWeakSig, SeverityHigh, Both, "Weak certificate signature",
		"SHA-1 and MD5 signatures can be forged (chosen-prefix collisions).",
		"Reissue the certificate with a SHA-256 (or stronger) signature.", false},
	{IDCertMismatch, SeverityHigh, Doctor, "Private key does not match its certificate",
		"The listener cannot complete a TLS handshake with this pair: the broker will not start or reload.",
		"Point key at the key the certificate was issued for, or reissue the pair.", false},
	{IDCertOther, SeverityLow, Both, "Other certificate warning",
		"The certificate works but will surprise clients (self-signed leaf, no subject alternative name, long validity).",
		"See the message; 'moat certs inspect FILE' shows every warning.", false},
	{IDCertUntrusted, SeverityMedium, Scan, "Server certificate not verified",
		"The certificate does not verify against the trusted roots (or --cafile), or not for the host name: clients must pin it or turn verification off.",
		"Use a certificate from a CA clients trust, issued for the name they connect to.", false},

	{IDKeyReadable, SeverityCritical, Doctor, "Private key readable by other users",
		"Any local user or process can copy the key and impersonate the broker (or its webhook client).",
		"chmod 600 the key file and make it owned by the broker's user.", false},
	{IDSecretReadable, SeverityHigh, Doctor, "Secret file readable by other users",
		"Password hashes, admin token hashes, the JWT HMAC secret or webhook credentials can be copied and attacked offline or reused.",
		"chmod 600 the file and make it owned by the broker's user.", false},
	{IDFileReadable, SeverityMedium, Doctor, "Configuration, policy or audit data readable by other users",
		"Other local users learn the deployment: listeners, users, topics, who connected from where.",
		"chmod 600 the file (700 a directory).", false},
	{IDFileWritable, SeverityHigh, Doctor, "Security file or directory writable by other users",
		"Whoever can write the configuration, password file, ACL, CA bundle or data directory can grant themselves access.",
		"chmod go-w the file or directory.", false},
	{IDFileMissing, SeverityMedium, Doctor, "File missing or unreadable",
		"The broker refuses to start (or to reload) without a file its configuration names.",
		"Create the file, or fix its path in the configuration.", false},

	{IDPasswordWeak, SeverityHigh, Doctor, "Weak password hashes",
		"Mosquitto $6$ (one SHA-512), $7$ PBKDF2 below 210,000 iterations and bcrypt below cost 10 are cheap to crack once the file leaks.",
		"Have each user set a new password with 'moat passwd FILE add USER' (argon2id).", false},
	{IDPasswordLegacy, SeverityLow, Doctor, "Legacy password hashes",
		"PBKDF2 and bcrypt hashes are acceptable but slower to verify and weaker against GPUs than argon2id.",
		"Rehash with 'moat passwd FILE add USER' when users next change their passwords.", false},
	{IDPasswordParams, SeverityHigh, Doctor, "argon2id parameters below the floor",
		"Below 19 MiB of memory (or 38 MiB x passes) argon2id hashes are cheap to crack (OWASP minimums).",
		"Rehash with 'moat passwd FILE add USER', whose defaults are 64 MiB and 2 passes.", false},

	{IDNoACLExposed, SeverityCritical, Doctor, "No ACL on a network-exposed broker",
		"Without acl.file or auth.http.acl_url every authenticated client may read and write every topic.",
		"Set acl.file to a policy (docs/authorization.md); 'moat serve' without --config writes a deny-by-default one.", false},
	{IDNoACLLoopback, SeverityMedium, Doctor, "No ACL",
		"Every authenticated client may read and write every topic; only loopback listeners keep that local.",
		"Set acl.file to a policy (docs/authorization.md).", false},
	{IDACLAllowAll, SeverityCritical, Both, "ACL lets everyone read every topic",
		"A rule grants \"#\" (or an all-wildcard filter) to all, anonymous or authenticated clients, or anonymous clients may publish anywhere: the policy allows by default.",
		"Grant wildcards to named users or groups only; give devices their own subtree (devices/%u/#).", false},
	{IDACLDollarWrite, SeverityHigh, Doctor, "Broad grant to publish under $",
		"Topics starting with $ are the broker's and the operators'; letting groups or everyone write them invites spoofing.",
		"Grant publish and retain on $ topics to user: or cert: subjects only.", false},
	{IDACLWarning, SeverityLow, Doctor, "ACL rule warning",
		"A dead, duplicated or risky rule makes the policy say something other than what it does.",
		"See the message; 'moat acl lint' shows every warning.", false},
	{IDACLBroadGrant, SeverityHigh, Both, "Non-admin identity may read every topic or $SYS",
		"An identity that is not an administrator may subscribe to #, +/#, $SYS/# or $share/+/#: it reads other tenants' data or the broker's internals.",
		"Narrow the rule to the identity's own subtree; list dashboards and bridges in acl.root_wildcard_identities, or as administrators.", false},
	{IDACLWebhook, SeverityInfo, Doctor, "ACL decided by a webhook",
		"The doctor cannot audit what auth.http.acl_url answers.",
		"Test the webhook's answers with 'moat scan' and a low-privilege account.", false},
	{IDACLInvalid, SeverityMedium, Doctor, "ACL policy does not load",
		"The broker refuses to start with a policy it cannot compile, and keeps the previous one on reload.",
		"Fix the errors 'moat acl lint --policy FILE' reports.", false},
	{IDACLDollarMatch, SeverityHigh, Scan, "\"#\" delivers $ topics",
		"A \"#\" subscription must not match topics starting with $ [MQTT-4.7.2-1]; this broker leaks $SYS and other reserved topics to it.",
		"Upgrade or fix the broker; deny $ topics in its ACL.", false},
	{IDACLSharedBypass, SeverityHigh, Scan, "Shared subscription bypasses the ACL",
		"$share/GROUP/# was granted where # was refused: the ACL checks the shared filter, not the filter inside it.",
		"Upgrade or fix the broker so that it authorizes the filter after $share/GROUP/.", false},
	{IDACLWillBypass, SeverityHigh, Scan, "Will message bypasses the ACL",
		"A client set a will on a topic it may not publish to, and the broker delivered it when the connection dropped: anyone may inject one message per connection anywhere.",
		"Upgrade or fix the broker so that it authorizes the will topic as a publish, at CONNECT or when the will is sent.", false},

	{IDLimitPacketSize, SeverityMedium, Both, "Maximum packet size unbounded or very large",
		"One client can make the broker buffer up to 256 MiB per packet.",
		"Set mqtt.max_packet_size to what clients need (default 1MiB).", false},
	{IDLimitQueues, SeverityMedium, Doctor, "Session queues very large",
		"Offline or slow sessions can hold large queues each; many of them exhaust memory.",
		"Keep mqtt.max_queued_messages and mqtt.max_queued_bytes near their defaults (1000, 16MiB).", false},
	{IDLimitPerAddress, SeverityMedium, Doctor, "Connections per address unbounded",
		"One host can take every connection slot.",
		"Set limits.max_connections_per_address (default 1000).", false},
	{IDLimitConnections, SeverityLow, Doctor, "Total connections unbounded",
		"A flood from many addresses exhausts file descriptors and memory.",
		"Set limits.max_connections (default 100000).", false},
	{IDLimitConnRate, SeverityMedium, Doctor, "Connection rate per address unbounded",
		"A reconnect loop or TLS handshake flood from one host costs CPU without limit.",
		"Set limits.connection_rate_per_address (default 100/s).", false},
	{IDLimitConnect, SeverityMedium, Both, "No short deadline for CONNECT",
		"Idle connections that never send CONNECT hold slots and memory (slowloris).",
		"Set mqtt.connect_timeout to 30s or less (default 10s).", false},
	{IDLimitHandshake, SeverityLow, Doctor, "Long TLS handshake or PROXY header deadline",
		"Slow handshakes hold connection slots.",
		"Keep tls.handshake_timeout and proxy_protocol.timeout at 30s or less (defaults 10s and 5s).", false},
	{IDLimitMemory, SeverityLow, Doctor, "Memory budget off",
		"Without limits.memory_budget the broker keeps accepting work until the system kills it.",
		"Set limits.memory_budget: auto (the default) or a size.", false},
	{IDLimitReceiveMax, SeverityLow, Scan, "No Receive Maximum advertised",
		"The broker lets each MQTT 5 client keep 65,535 unacknowledged QoS 1/2 publishes in flight.",
		"Advertise a Receive Maximum (Moat: mqtt.receive_maximum).", false},
	{IDLimitOversize, SeverityHigh, Scan, "Maximum packet size not enforced",
		"The broker accepted a packet above the Maximum Packet Size it advertised (or above 1 MiB when it advertised none).",
		"Configure and enforce a maximum packet size.", false},

	{IDBruteForceOff, SeverityHigh, Both, "No brute-force defence",
		"Password guessing runs at full speed: nothing slows down or bans a source of failed logins.",
		"Leave auth.brute_force.enabled: true (the default).", false},
	{IDBruteForceLax, SeverityLow, Doctor, "Lax brute-force settings",
		"A high ban threshold or many free failures leave room for guessing.",
		"Keep auth.brute_force.ban_after at 100 or less and free_failures at 20 or less (defaults 20 and 5).", false},

	{IDPublicMetrics, SeverityHigh, Doctor, "Metrics without authentication on a non-loopback address",
		"Anyone who reaches the admin listener reads client counts, listener names and traffic figures.",
		"Set admin.public_metrics: false (scrapers then use a token), or bind admin.listen to loopback.", false},
	{IDAdminExposed, SeverityMedium, Doctor, "Admin listener on a non-loopback address",
		"The admin API is exposed to token guessing and to TLS and HTTP bugs from the whole network.",
		"Bind admin.listen to loopback or a management network, and restrict who reaches it.", false},

	{IDProxyTrustAll, SeverityHigh, Both, "PROXY protocol trusted from anywhere",
		"Whoever may send a PROXY header chooses the client address the broker sees: firewalls, bans and per-address limits are bypassed.",
		"List only the load balancers' addresses in proxy_protocol.trusted.", false},
	{IDProxyTrustWide, SeverityMedium, Doctor, "PROXY protocol trusted from a wide public range",
		"Every host in a large public range may spoof client addresses.",
		"List only the load balancers' addresses in proxy_protocol.trusted.", false},

	{IDAuditOff, SeverityMedium, Doctor, "Audit log off",
		"Refused logins, ACL denials, bans and admin actions leave no tamper-evident trace.",
		"Remove audit.disabled (the audit log is on by default).", false},
	{IDStoreNotDurable, SeverityLow, Doctor, "Acknowledged messages are not crash-safe",
		"With store.mode memory nothing survives a restart (persistent sessions, queued QoS 1/2 messages, retained messages); with relaxed a crash loses what was acknowledged since the last flush.",
		"Use store.mode: strict (the default) unless losing acknowledged messages is acceptable.", false},
	{IDWSAnyOrigin, SeverityMedium, Both, "WebSocket accepts any Origin",
		"Any web page a user visits can open MQTT connections from that user's browser and network position.",
		"List the web applications' origins in websocket.allowed_origins instead of \"*\".", false},
	{IDMQTT31, SeverityLow, Both, "MQTT 3.1 accepted",
		"MQTT 3.1 (MQIsdp) predates the standard; few clients need it, and it widens what the broker must parse.",
		"Set mqtt.allow_mqtt31: false.", false},
	{IDControlChars, SeverityMedium, Doctor, "Control characters allowed in topics and client ids",
		"Control characters forge log lines and hide topics from operators.",
		"Remove mqtt.allow_control_characters.", false},
	{IDSignedRetain, SeverityHigh, Doctor, "Retain allowed on signed command topics",
		"A retained command replays to every device that subscribes later.",
		"Deny retain on signed command topics.", false},
	{IDSignedPolicy, SeverityHigh, Both, "Signed-topic policy problem",
		"A signed-topic rule that does not hold lets unsigned commands through.",
		"See the message.", false},

	{IDScanInventory, SeverityInfo, Scan, "Listener inventory",
		"What the target answered: transport, TLS, protocol versions.",
		"Close what you did not expect to find.", false},
	{IDScanRetained, SeverityHigh, Scan, "Retained data readable through #",
		"Retained messages (often device state, sometimes credentials) are served to whoever may subscribe to #.",
		"Deny # to unprivileged identities; scope each client to its own subtree.", false},
	{IDScanVersion, SeverityLow, Scan, "Broker version disclosed",
		"$SYS/broker/version tells attackers which vulnerabilities to try.",
		"Deny $SYS/# to unprivileged identities.", false},
	{IDScanPublish, SeverityHigh, Scan, "Unprivileged identity may publish",
		"The scanner's unprivileged identity published to a topic of its own choosing: anyone may inject messages.",
		"Deny publish by default; grant each client its own subtree.", false},
	{IDScanSysWrite, SeverityHigh, Scan, "$SYS writable",
		"A client published under $SYS: it can forge broker statistics that monitoring trusts.",
		"Deny publish under $SYS to every client.", false},
	{IDScanCapabilities, SeverityInfo, Scan, "MQTT 5 capabilities",
		"What the CONNACK advertises: maximum packet size, receive maximum, QoS, retain, wildcards, shared subscriptions, keep alive.",
		"Advertise limits that match your clients.", false},
	{IDScanTakeover, SeverityHigh, Scan, "Client id takeover across identities",
		"Another identity connected with a client id in use and disconnected its owner.",
		"Bind client ids to identities (Moat: auth.client_ids: [\"%u\", \"%u-*\"]).", false},
	{IDScanHijack, SeverityCritical, Scan, "Persistent session hijack across identities",
		"Another identity resumed a persistent session: it receives the queued messages and subscriptions of its owner.",
		"Refuse to resume a session for a different identity, and bind client ids to identities.", false},
	{IDScanMalformed, SeverityMedium, Scan, "Malformed input tolerated",
		"The broker went on with a connection that sent a malformed packet, or stopped answering after one.",
		"Upgrade the broker; malformed packets must close the connection [MQTT-4.13].", false},
	{IDScanRetainWrite, SeverityMedium, Scan, "Unprivileged identity may retain",
		"The scanner's unprivileged identity set a retained message (removed again): anyone may plant data that every later subscriber receives.",
		"Deny retain by default; grant it where devices publish state.", false},
}

var catalogIndex = func() map[string]int {
	m := make(map[string]int, len(Catalog))
	for i, r := range Catalog {
		if _, dup := m[r.ID]; dup {
			panic("doctor: duplicate catalog ID " + r.ID)
		}
		m[r.ID] = i
	}
	return m
}()

// Lookup returns the catalog entry of id.
func Lookup(id string) (Rule, bool) {
	i, ok := catalogIndex[id]
	if !ok {
		return Rule{}, false
	}
	return Catalog[i], true
}

// mustRule is Lookup for IDs the code names: an ID missing from the
// catalog is a programming error.
func mustRule(id string) Rule {
	r, ok := Lookup(id)
	if !ok {
		panic("doctor: finding ID missing from the catalog: " + id)
	}
	return r
}

// Complete returns f as a finding of rule id at severity sev, with Why and
// Fix from the catalog unless f sets them. It panics on an ID missing
// from the catalog.
func Complete(id string, sev Severity, f Finding) Finding {
	r := mustRule(id)
	f.ID, f.Severity = id, sev
	if f.Why == "" {
		f.Why = r.Why
	}
	if f.Fix == "" {
		f.Fix = r.Fix
	}
	return f
}

// New returns a finding of rule id at the catalog's severity.
func New(id string, f Finding) Finding { return Complete(id, mustRule(id).Severity, f) }
