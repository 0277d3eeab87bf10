package config

// Default returns the configuration used when no file is given: one plain
// TCP listener on 127.0.0.1:1883, the data directory "moat-data" and the
// documented protocol defaults.
func Default() *Config {
	c := &Config{}
	c.Listeners = []Listener{{Name: "default", Address: "127.0.0.1:1883", Transport: "tcp"}}
	c.MQTT.TopicAliasMaximum = DefaultTopicAliasMaximum
	c.ApplyDefaults()
	return c
}
