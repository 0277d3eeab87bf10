//go:build tools

package internal

import (
	_ "github.com/coder/websocket"
	_ "github.com/eclipse/paho.golang/paho"
	_ "github.com/eclipse/paho.mqtt.golang"
	_ "github.com/go-jose/go-jose/v4/jwt"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/crypto/argon2"
)
