package test

// MQTT.js (npm package mqtt under test/interop/node_modules, see
// scripts/deps) over MQTT-over-WebSocket, plain (ws) and over TLS (wss),
// driving transport/mqttjs_ws.js.

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/moatmq/moat/internal/config"
)

// TestTransport_MQTTjs_WebSocket: MQTT.js makes a QoS 1 round trip over
// ws://127.0.0.1:PORT/mqtt and over wss://127.0.0.1:PORT/mqtt (server
// certificate verified against the CA), with MQTT 3.1.1 and 5.
func TestTransport_MQTTjs_WebSocket(t *testing.T) {
	t.Parallel()
	modules, err := filepath.Abs(filepath.Join(interopDir, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	requirePeer(t, "MQTT.js (node + test/interop/node_modules)", func(ctx context.Context) (string, error) {
		return probeCommand(ctx, interopDir, "node", "-p",
			"process.version + ' mqtt ' + require('mqtt/package.json').version")
	})
	p := newTestPKI(t)
	b := startTransportBroker(t, func(c *config.Config) {
		wss := tlsListener(p, "wss")
		wss.Transport = "wss"
		c.Listeners = []config.Listener{
			{Name: "ws", Address: "127.0.0.1:0", Transport: "ws"},
			wss,
		}
	})
	ws := "ws://127.0.0.1:" + b.port(0) + "/mqtt"
	wssURL := "wss://127.0.0.1:" + b.port(1) + "/mqtt"
	runTransportScriptEnv(t, []string{"NODE_PATH=" + modules},
		[]string{"ws-v4", "ws-v5", "wss-v4", "wss-v5"},
		"node", "mqttjs_ws.js", "--ca", p.CA, "--timeout", checkTimeout, ws, wssURL)
}
