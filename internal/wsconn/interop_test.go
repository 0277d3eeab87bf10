package wsconn_test

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/wsconn"
)

// mqttjsConnect connects with MQTT.js over ws://, waits for CONNACK and
// disconnects.
const mqttjsConnect = `
const mqtt = require('mqtt')
const c = mqtt.connect(process.argv[1], {protocolVersion: Number(process.argv[2]), reconnectPeriod: 0, connectTimeout: 5000})
c.on('connect', () => { process.stdout.write('ok'); c.end(() => process.exit(0)) })
c.on('error', (e) => { process.stderr.write(String(e)); process.exit(1) })
setTimeout(() => { process.stderr.write('timeout'); process.exit(1) }, 8000)
`

// Interop with MQTT.js (test/interop/node_modules): a minimal fake broker
// behind wsconn answers CONNECT with a success CONNACK and waits for
// DISCONNECT. Skipped without node or the npm package.
func TestInteropMQTTjs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	node, err := exec.LookPath("node")
	dir, _ := filepath.Abs("../../test/interop")
	if _, serr := os.Stat(filepath.Join(dir, "node_modules", "mqtt")); err != nil || serr != nil {
		t.Skip("node or test/interop/node_modules/mqtt missing (scripts/deps)")
	}
	for _, version := range []string{"4", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			got := make(chan byte, 4)
			base, _ := start(t, wsconn.Options{}, func(nc net.Conn, _ netip.AddrPort) {
				r := bufio.NewReader(nc)
				for {
					p, err := readPacket(r)
					if err != nil {
						return
					}
					got <- p[0] >> 4
					switch p[0] >> 4 {
					case 1: // CONNECT
						connack := []byte{0x20, 0x02, 0x00, 0x00}
						if version == "5" {
							connack = []byte{0x20, 0x03, 0x00, 0x00, 0x00}
						}
						if _, err := nc.Write(connack); err != nil {
							return
						}
					case 14: // DISCONNECT
						nc.Close()
						return
					}
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "-e", mqttjsConnect, base+"/mqtt", version)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ok") {
				t.Fatalf("MQTT.js: %v: %s", err, out)
			}
			for _, want := range []byte{1, 14} {
				select {
				case typ := <-got:
					if typ != want {
						t.Errorf("packet type %d, want %d", typ, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("packet type %d never arrived", want)
				}
			}
		})
	}
}
