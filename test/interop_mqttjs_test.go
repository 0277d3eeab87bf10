package test

// Interop with MQTT.js (npm package "mqtt", pinned by
// interop/package-lock.json) run by node, driving interop/mqttjs_check.js.

import (
	"context"
	"testing"
)

// TestInterop_MQTTjs_MQTTv311 runs the MQTT.js checks with protocolVersion 4.
func TestInterop_MQTTjs_MQTTv311(t *testing.T) {
	runMQTTjsChecks(t, "4", []string{"connect", "qos", "retain", "will"})
}

// TestInterop_MQTTjs_MQTTv5 runs the MQTT.js checks with protocolVersion 5,
// with properties and a v5/v3.1.1 mix.
func TestInterop_MQTTjs_MQTTv5(t *testing.T) {
	runMQTTjsChecks(t, "5", []string{"connect", "qos", "retain", "will", "properties", "mixed"})
}

func runMQTTjsChecks(t *testing.T, protocol string, checks []string) {
	t.Parallel()
	requirePeer(t, "MQTT.js (node + test/interop/node_modules)", func(ctx context.Context) (string, error) {
		return probeCommand(ctx, interopDir, "node", "-p",
			"process.version + ' mqtt ' + require('mqtt/package.json').version")
	})
	host, port, base := interopBroker(t, "interop/js/v"+protocol)
	for _, check := range checks {
		t.Run(check, func(t *testing.T) {
			t.Parallel()
			runCheckProgram(t, check, "node", "mqttjs_check.js", host, port,
				"--protocol", protocol, "--check", check,
				"--prefix", base+"/"+check, "--timeout", checkTimeout)
		})
	}
}
