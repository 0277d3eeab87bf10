// Package prom exposes Moat's counters in the Prometheus exposition
// format, with github.com/prometheus/client_golang: a collector that reads
// value snapshots of internal/metrics at scrape time (the broker's hot
// path never touches Prometheus types), plus the Go runtime and process
// collectors. Metric names and labels are stable; docs/operations.md
// lists them.
package prom

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
)

// Source is what the collector reads at each scrape.
type Source struct {
	Metrics *metrics.Metrics
	// Version is reported by moat_build_info.
	Version string
	// Started is when the broker started (moat_start_time_seconds).
	Started time.Time
	// Bans reports the active bans; nil when the brute-force defence is
	// off.
	Bans func() int
	// Queued reports messages waiting in session queues; nil: not
	// reported.
	Queued func() int
}

// Handler serves the metrics of src, Go runtime and process included.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{src: src},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4,
		Timeout: 10 * time.Second})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("moat_"+name, help, labels, nil)
}

var (
	dBuild        = desc("build_info", "Moat's version.", "version")
	dStart        = desc("start_time_seconds", "When the broker started, in seconds since the epoch.")
	dConns        = desc("connections", "Open MQTT connections.")
	dConnsTotal   = desc("connections_total", "MQTT connections handled since start.")
	dRefused      = desc("connections_refused_total", "CONNECTs refused, by CONNACK reason.", "reason")
	dAccept       = desc("accept_refused_total", "Connections closed at accept, before any TLS work, by reason.", "reason")
	dDisconnects  = desc("disconnects_total", "Connections the broker ended, by reason.", "reason")
	dSessions     = desc("sessions", "Sessions, connected or not.")
	dSubs         = desc("subscriptions", "Subscriptions.")
	dRetained     = desc("retained_messages", "Retained messages.")
	dQueued       = desc("queued_messages", "Messages waiting in session queues.")
	dMsgIn        = desc("messages_received_total", "PUBLISH packets received, by QoS.", "qos")
	dMsgOut       = desc("messages_sent_total", "PUBLISH packets sent, by QoS.", "qos")
	dBytesIn      = desc("received_bytes_total", "Bytes received from clients.")
	dBytesOut     = desc("sent_bytes_total", "Bytes sent to clients.")
	dDropped      = desc("messages_dropped_total", "Messages not delivered, by reason.", "reason")
	dAuth         = desc("authentications_total", "Authentication outcomes, by method and result.", "method", "result")
	dACL          = desc("acl_denials_total", "Requests the ACL refused, by action.", "action")
	dTLS          = desc("tls_handshakes_total", "TLS handshakes on MQTT listeners, by result.", "result")
	dSigned       = desc("signed_refused_total", "Messages refused on signed topics, by reason.", "reason")
	dSlow         = desc("slow_consumers_total", "Connections cut because they stopped reading for longer than the write timeout.")
	dThrottled    = desc("publish_throttled_total", "PUBLISH packets that waited for the publish rate limits (back-pressure).")
	dBans         = desc("bans", "Active bans.")
	dBansApplied  = desc("bans_applied_total", "Bans applied by the brute-force defence.")
	dPanics       = desc("handler_panics_total", "Connection handlers that panicked (bugs; the connection was closed).")
	dLatency      = desc("delivery_latency_seconds", "Time from a PUBLISH's arrival to its delivery being written to a subscriber.")
	qosLabels     = [3]string{"0", "1", "2"}
	allCollectors = []*prometheus.Desc{dBuild, dStart, dConns, dConnsTotal, dRefused, dAccept, dDisconnects, dSessions,
		dSubs, dRetained, dQueued, dMsgIn, dMsgOut, dBytesIn, dBytesOut, dDropped, dAuth, dACL, dTLS, dBans,
		dBansApplied, dPanics, dLatency, dThrottled, dSlow, dSigned}
)

// collector turns a snapshot into const metrics at each scrape.
type collector struct{ src Source }

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allCollectors {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.src.Metrics
	s := m.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(dBuild, 1, c.src.Version)
	gauge(dStart, float64(c.src.Started.UnixNano())/1e9)
	gauge(dConns, float64(s.ConnectionsCurrent))
	counter(dConnsTotal, s.ConnectionsTotal)
	for code, v := range s.Refused {
		counter(dRefused, v, reasonLabel(code))
	}
	for _, lv := range m.AcceptRefused.Values() {
		counter(dAccept, lv.Value, lv.Label)
	}
	for code, v := range s.Disconnects {
		counter(dDisconnects, v, reasonLabel(code))
	}
	gauge(dSessions, float64(s.SessionsCurrent))
	gauge(dSubs, float64(s.Subscriptions))
	gauge(dRetained, float64(s.RetainedMessages))
	if c.src.Queued != nil {
		gauge(dQueued, float64(c.src.Queued()))
	}
	for q := range 3 {
		counter(dMsgIn, s.MessagesIn[q], qosLabels[q])
		counter(dMsgOut, s.MessagesOut[q], qosLabels[q])
	}
	counter(dBytesIn, s.BytesIn)
	counter(dBytesOut, s.BytesOut)
	for reason, v := range s.Dropped {
		counter(dDropped, v, reason)
	}
	for _, lv := range m.Auth.Values() {
		method, result := splitAuth(lv.Label)
		counter(dAuth, lv.Value, method, result)
	}
	for _, lv := range m.ACLDenied.Values() {
		counter(dACL, lv.Value, lv.Label)
	}
	counter(dTLS, m.TLSHandshakes.Load(), "ok")
	counter(dTLS, m.TLSHandshakeFailures.Load(), "failed")
	if c.src.Bans != nil {
		gauge(dBans, float64(c.src.Bans()))
	}
	counter(dBansApplied, m.BansApplied.Load())
	counter(dThrottled, m.Throttled.Load())
	counter(dSlow, m.SlowConsumers.Load())
	for _, lv := range m.SignedRefused.Values() {
		counter(dSigned, lv.Value, lv.Label)
	}
	counter(dPanics, m.Panics.Load())
	cum, count, sum := m.Latency.Snapshot()
	buckets := make(map[float64]uint64, len(cum))
	for i, b := range metrics.LatencyBuckets {
		buckets[b] = cum[i]
	}
	ch <- prometheus.MustNewConstHistogram(dLatency, count, sum, buckets)
}

// reasonLabel names a reason code: "0x87_not_authorized".
func reasonLabel(c packet.ReasonCode) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '_'
	}, c.String())
	return "0x" + strconv.FormatUint(uint64(c)|0x100, 16)[1:] + "_" + name
}

// splitAuth splits "method/result".
func splitAuth(s string) (method, result string) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return s[:i], s[i+1:]
		}
	}
	return s, "unknown"
}
