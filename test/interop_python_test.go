package test

// Interop with Eclipse paho-mqtt for Python: Debian's python3-paho-mqtt run
// by /usr/bin/python3 (not whatever python3 is first on PATH), driving
// interop/paho_check.py.

import (
	"context"
	"testing"
)

// debianPython is the interpreter Debian's python3-paho-mqtt belongs to.
const debianPython = "/usr/bin/python3"

// TestInterop_Python_MQTTv311 runs the paho-mqtt checks over MQTT 3.1.1.
func TestInterop_Python_MQTTv311(t *testing.T) {
	runPahoChecks(t, "311", []string{"connect", "qos", "retain", "will"})
}

// TestInterop_Python_MQTTv5 runs the paho-mqtt checks over MQTT 5, with
// properties and a v5/v3.1.1 mix.
func TestInterop_Python_MQTTv5(t *testing.T) {
	runPahoChecks(t, "5", []string{"connect", "qos", "retain", "will", "properties", "mixed"})
}

func runPahoChecks(t *testing.T, protocol string, checks []string) {
	t.Parallel()
	requirePeer(t, "python3-paho-mqtt", func(ctx context.Context) (string, error) {
		return probeCommand(ctx, ".", debianPython, "-c", "import paho.mqtt; print(paho.mqtt.__version__)")
	})
	host, port, base := interopBroker(t, "interop/py/v"+protocol)
	for _, check := range checks {
		t.Run(check, func(t *testing.T) {
			t.Parallel()
			runCheckProgram(t, check, debianPython, "paho_check.py", host, port,
				"--protocol", protocol, "--check", check,
				"--prefix", base+"/"+check, "--timeout", checkTimeout)
		})
	}
}
