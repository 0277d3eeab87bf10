package test

// Prometheus metrics on the HTTPS admin listener after real traffic:
// promtool accepts the exposition, and the counters match what the test
// sent.

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

func TestMetrics_PromtoolAfterTraffic(t *testing.T) {
	promtool := requireTool(t, "prometheus (promtool)", "promtool")
	pki := testutil.NewPKI(t)
	addr, srv := testutil.Start(t, func(c *config.Config) {
		c.Admin = config.Admin{Listen: "127.0.0.1:0", Cert: pki.CertFile, Key: pki.KeyFile, PublicMetrics: true}
	})
	const n = 25
	sub := dialRaw(t, addr, true)
	sub.connect(rawConnect{Version: 5, ClientID: "m-sub", Clean: true, KeepAlive: 30})
	if code := sub.subscribe(1, "m/#", 1, nil); code != 1 {
		t.Fatalf("SUBACK %#x", code)
	}
	pub := dialRaw(t, addr, true)
	pub.connect(rawConnect{Version: 5, ClientID: "m-pub", Clean: true, KeepAlive: 30})
	for i := range n {
		if code := pub.aclPublish(uint16(i+1), "m/x", 1, false, "payload"); code != 0 {
			t.Fatalf("PUBACK %#x", code)
		}
	}
	for range n {
		p := sub.expect(tPUBLISH)
		sub.send(rawAck(tPUBACK, parsePublish(t, p, true).ID))
	}
	sub.ping() // the PUBACKs are handled
	bad := dialRaw(t, addr, true)
	bad.send([]byte{0x10, 0x01, 0xFF}) // malformed CONNECT

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool}}}
	var body []byte
	testutil.Eventually(t, waitTimeout, "the counters reach the traffic sent", func() bool {
		resp, err := hc.Get("https://" + srv.AdminAddr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return metricValue(body, `moat_messages_received_total{qos="1"}`) == n &&
			metricValue(body, `moat_messages_sent_total{qos="1"}`) == n && metricValue(body, "moat_connections") == 2
	})
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", body)
	}
	if got := metricValue(body, "moat_received_bytes_total"); got < n*10 {
		t.Errorf("moat_received_bytes_total = %v, want at least %d", got, n*10)
	}
	for metric, want := range map[string]float64{
		`moat_subscriptions`:                                             1,
		`moat_delivery_latency_seconds_count`:                            n,
		`moat_authentications_total{method="anonymous",result="ok"}`:     2,
		`moat_connections_refused_total{reason="0x81_malformed_packet"}`: 1,
	} {
		if got := metricValue(body, metric); got != want {
			t.Errorf("%s = %v, want %v", metric, got, want)
		}
	}
}

// metricValue is the value of the sample named exactly name (labels
// included), or -1.
func metricValue(body []byte, name string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return -1
	}
	return v
}
