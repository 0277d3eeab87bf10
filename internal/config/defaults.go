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
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
