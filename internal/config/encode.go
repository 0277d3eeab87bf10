package config

import (
	"bytes"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Marshal returns the effective configuration as YAML, every key written
// (for `moat config show`). Unset fields are shown with their defaults; c
// itself is not modified. Parse accepts the output and yields an equal
// Config.
func (c *Config) Marshal() ([]byte, error) {
	eff := *c
	eff.Listeners = slices.Clone(c.Listeners)
	eff.ApplyDefaults()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&eff); err != nil {
		return nil, fmt.Errorf("config: marshal: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: marshal: %w", err)
	}
	return buf.Bytes(), nil
}
