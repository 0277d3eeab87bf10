// Package config is Moat's configuration schema: typed structs decoded
// strictly from YAML (unknown keys are refused with their line), defaults,
// and validation that reports every problem with its path. It imports no
// runtime package of the broker.
package config

import "time"

// Config is the whole configuration file.
type Config struct {
	// Listeners the broker accepts connections on. Default: one plain TCP
	// listener on 127.0.0.1:1883.
	Listeners []Listener `yaml:"listeners"`
	// MQTT holds protocol limits and the features advertised to clients.
	MQTT MQTT `yaml:"mqtt"`
	// Log configures the process log.
	Log Log `yaml:"log"`
	// AllowInsecure acknowledges that a listener serves plain-text,
	// unauthenticated MQTT on a non-loopback address. Without it such a
	// configuration refuses to start.
	AllowInsecure bool `yaml:"allow_insecure"`
}

// Listener is one bound socket.
type Listener struct {
	// Name identifies the listener in logs, audit and metrics. Default
	// "<transport>:<address>".
	Name string `yaml:"name"`
	// Address is host:port. Port 0 picks a free port (tests). A host that
	// is not loopback (see IsLoopback) requires Config.AllowInsecure.
	Address string `yaml:"address"`
	// Transport is "tcp" (the only transport until TLS lands).
	Transport string `yaml:"transport"`
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
