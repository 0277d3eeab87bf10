//go:build tools

package internal

import (
	_ "github.com/eclipse/paho.golang/paho"
	_ "github.com/eclipse/paho.mqtt.golang"
	_ "go.yaml.in/yaml/v3"
)
