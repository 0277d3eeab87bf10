package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is the outcome of one run. Counts are exact; rates divide them by
// the measured interval. Failures lists the broken guarantees (loss at QoS
// 1 or 2, duplicates at QoS 2, refused publishes, dropped connections):
// a run without failures is OK.
type Report struct {
	Scenario    Scenario      `json:"scenario"`
	Addr        string        `json:"addr"`
	Params      Params        `json:"params"`
	Seconds     float64       `json:"seconds"` // the measured interval
	Messages    *MessageStats `json:"messages,omitempty"`
	Latency     *LatencyStats `json:"latency_us,omitempty"`
	Connections *ConnStats    `json:"connections,omitempty"`
	Broker      *BrokerStats  `json:"broker,omitempty"`
	Host        *HostStats    `json:"host,omitempty"`
	Errors      []string      `json:"errors,omitempty"`
	Failures    []string      `json:"failures,omitempty"`
}

// Params are the settings a run used, defaults filled in.
type Params struct {
	MQTT        string  `json:"mqtt"`
	TLS         bool    `json:"tls"`
	TLSResume   bool    `json:"tls_resume,omitempty"` // the client offers session tickets
	QoS         byte    `json:"qos"`
	Clients     int     `json:"clients"`
	Publishers  int     `json:"publishers,omitempty"`
	PayloadSize int     `json:"payload_bytes"`
	Window      int     `json:"window,omitempty"` // per publisher; 0: none
	Rate        float64 `json:"rate,omitempty"`
	Duration    float64 `json:"duration_s"`
	Messages    int     `json:"messages_per_publisher,omitempty"`
	Users       int     `json:"users"`
}

// MessageStats counts the messages of a message scenario. Expected is
// what every receiver should get: each published and not refused message
// once per subscriber (once per shared group). Received counts distinct
// messages, so Received + Lost == Expected; repeats are Duplicates.
type MessageStats struct {
	Published          int64   `json:"published"`
	Acknowledged       int64   `json:"acknowledged"` // QoS 1 and 2: completed with success
	Refused            int64   `json:"refused"`      // QoS 1 and 2: completed with an error code
	Expected           int64   `json:"expected"`
	Received           int64   `json:"received"`
	Lost               int64   `json:"lost"`
	Duplicates         int64   `json:"duplicates"`
	Unexpected         int64   `json:"unexpected"` // not from this run's publishers
	PerSecond          float64 `json:"per_second"` // Received / Seconds
	PublishedPerSecond float64 `json:"published_per_second"`
	// Stalls counts the times a publisher's window stayed full without
	// progress and was reset (messages lost or the broker stalled).
	Stalls int64 `json:"window_stalls"`
}

// LatencyStats summarizes delivery latency (send time in the payload to
// the read that delivered it), in microseconds.
type LatencyStats struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50"`
	P99     float64 `json:"p99"`
	P999    float64 `json:"p999"`
	Max     float64 `json:"max"`
	Mean    float64 `json:"mean"`
}

// ConnStats are the figures of a connection scenario.
type ConnStats struct {
	Phases []ConnPhase `json:"phases"`
	// Held, Alive: idle connections open after connecting, and those that
	// still answered a ping after holding them.
	Held  int64 `json:"held,omitempty"`
	Alive int64 `json:"alive,omitempty"`
	// RSSPerConn is the broker's RSS growth divided by Held (idle), and
	// RSSPerConnSecondHalf the growth while the second half of them
	// opened (and were held), divided by their number.
	RSSPerConn           float64 `json:"broker_rss_per_conn_bytes,omitempty"`
	RSSPerConnSecondHalf float64 `json:"broker_rss_per_conn_second_half_bytes,omitempty"`
}

// ConnPhase is one phase of connections: the idle set being opened, the
// cold logins, the warm storm.
type ConnPhase struct {
	Name        string  `json:"name"`
	Connections int64   `json:"connections"` // completed: CONNACK with success
	Failed      int64   `json:"failed"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	// BrokerCPUPerConn is the broker's CPU time per connection, µs.
	BrokerCPUPerConn float64 `json:"broker_cpu_us_per_conn,omitempty"`
	// TLSResumed counts the connections whose TLS handshake resumed a
	// session (nil without TLS).
	TLSResumed *int64 `json:"tls_resumed,omitempty"`
}

// BrokerStats are the broker process's figures over the measured
// interval, from /proc (CPU time in 10 ms ticks).
type BrokerStats struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_s"`
	// CPUPerMsg is CPUSeconds per received message, µs (message
	// scenarios).
	CPUPerMsg float64 `json:"cpu_us_per_msg,omitempty"`
	RSSStart  int64   `json:"rss_start_bytes"`
	RSSEnd    int64   `json:"rss_end_bytes"`
	RSSPeak   int64   `json:"rss_peak_bytes"`
}

// HostStats are CPU figures of the whole machine while the broker was
// watched (Seconds), from /proc/stat (10 ms ticks): a large
// OthersCPUSeconds means that other processes competed with the broker and
// the generator.
type HostStats struct {
	Seconds             float64 `json:"seconds"`
	GeneratorCPUSeconds float64 `json:"generator_cpu_s"`
	BusyCPUSeconds      float64 `json:"busy_cpu_s"`   // all CPUs, processes (interrupts left out)
	OthersCPUSeconds    float64 `json:"others_cpu_s"` // busy less the generator and the broker
}

// OK reports whether the run kept every guarantee.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	p := r.Params
	tr := "TCP"
	if p.TLS {
		tr = "TLS"
	}
	fmt.Fprintf(&b, "scenario  %s: %s; MQTT %s over %s, %s\n", r.Scenario, r.topology(), p.MQTT, tr, r.Addr)
	if m := r.Messages; m != nil {
		fmt.Fprintf(&b, "load      QoS %d, %d B payloads, ", p.QoS, p.PayloadSize)
		switch {
		case p.Rate > 0:
			fmt.Fprintf(&b, "%s msgs/s offered", num(p.Rate))
		case p.Window > 0:
			fmt.Fprintf(&b, "window %d per publisher", p.Window)
		default:
			b.WriteString("no flow control")
		}
		fmt.Fprintf(&b, ", measured over %.2f s\n", r.Seconds)
		fmt.Fprintf(&b, "messages  received %s/s: %s of %s expected, lost %s, duplicates %s",
			num(m.PerSecond), num(float64(m.Received)), num(float64(m.Expected)), num(float64(m.Lost)),
			num(float64(m.Duplicates)))
		if m.Unexpected > 0 {
			fmt.Fprintf(&b, ", unexpected %s", num(float64(m.Unexpected)))
		}
		fmt.Fprintf(&b, "\n          published %s (%s/s)", num(float64(m.Published)), num(m.PublishedPerSecond))
		if p.QoS > 0 {
			fmt.Fprintf(&b, ", acknowledged %s, refused %s", num(float64(m.Acknowledged)), num(float64(m.Refused)))
		}
		if m.Stalls > 0 {
			fmt.Fprintf(&b, ", window stalls %d", m.Stalls)
		}
		b.WriteString("\n")
	}
	if l := r.Latency; l != nil && l.Samples > 0 {
		fmt.Fprintf(&b, "latency   p50 %s  p99 %s  p99.9 %s  max %s  (mean %s)\n",
			usec(l.P50), usec(l.P99), usec(l.P999), usec(l.Max), usec(l.Mean))
	}
	if c := r.Connections; c != nil {
		for _, ph := range c.Phases {
			fmt.Fprintf(&b, "%-9s %s connections in %.2f s: %s/s, %d failed", ph.Name,
				num(float64(ph.Connections)), ph.Seconds, num(ph.PerSecond), ph.Failed)
			if ph.BrokerCPUPerConn > 0 {
				fmt.Fprintf(&b, ", broker CPU %.0f µs/conn", ph.BrokerCPUPerConn)
			}
			if ph.TLSResumed != nil {
				fmt.Fprintf(&b, ", %s TLS sessions resumed", num(float64(*ph.TLSResumed)))
			}
			b.WriteString("\n")
		}
		if c.Held > 0 {
			fmt.Fprintf(&b, "idle      %s held, %s alive after holding", num(float64(c.Held)), num(float64(c.Alive)))
			if c.RSSPerConn != 0 {
				fmt.Fprintf(&b, "; broker RSS %s per connection (second half: %s)",
					bytesize(int64(c.RSSPerConn)), bytesize(int64(c.RSSPerConnSecondHalf)))
			}
			b.WriteString("\n")
		}
	}
	if s := r.Broker; s != nil {
		fmt.Fprintf(&b, "broker    pid %d: CPU %.2f s", s.PID, s.CPUSeconds)
		if s.CPUPerMsg > 0 {
			fmt.Fprintf(&b, ", %.2f µs/msg", s.CPUPerMsg)
		}
		fmt.Fprintf(&b, "; RSS %s -> %s (peak %s)\n", bytesize(s.RSSStart), bytesize(s.RSSEnd), bytesize(s.RSSPeak))
	}
	if h := r.Host; h != nil {
		fmt.Fprintf(&b, "host      CPU busy %.2f s in %.2f s: generator %.2f s, other processes %.2f s\n",
			h.BusyCPUSeconds, h.Seconds, h.GeneratorCPUSeconds, h.OthersCPUSeconds)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "error     %s\n", e)
	}
	if r.OK() {
		b.WriteString("result    OK\n")
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "FAILED    %s\n", f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// topology describes who talks to whom.
func (r *Report) topology() string {
	p := r.Params
	switch r.Scenario {
	case FanIn:
		return fmt.Sprintf("%d publishers -> 1 subscriber", p.Clients)
	case Pairs:
		return fmt.Sprintf("%d publisher/subscriber pairs", p.Clients)
	case FanOut:
		return fmt.Sprintf("1 publisher -> %d subscribers", p.Clients)
	case Shared:
		return fmt.Sprintf("%d publishers -> %d consumers of a shared subscription", p.Publishers, p.Clients)
	case Idle:
		return fmt.Sprintf("%d idle connections held %.1f s", p.Clients, p.Duration)
	case ConnRate:
		return fmt.Sprintf("%d workers, %d users, warm storm of %.1f s", p.Clients, p.Users, p.Duration)
	}
	return ""
}

// num formats n with thousands separators, without decimals.
func num(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// usec formats microseconds as a duration.
func usec(us float64) string {
	return time.Duration(us * float64(time.Microsecond)).Round(time.Microsecond).String()
}

// bytesize formats a byte count in KiB or MiB.
func bytesize(n int64) string {
	switch a := max(n, -n); {
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// latencyStats summarizes h in microseconds.
func latencyStats(h *Histogram) *LatencyStats {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return &LatencyStats{Samples: h.Count(), P50: us(h.Quantile(0.5)), P99: us(h.Quantile(0.99)),
		P999: us(h.Quantile(0.999)), Max: us(h.Max()), Mean: us(h.Mean())}
}

// params records cfg in a report.
func params(cfg *Config) Params {
	p := Params{MQTT: cfg.Version.String(), TLS: cfg.TLS != nil, QoS: cfg.QoS, Clients: cfg.Clients,
		TLSResume:   cfg.TLS != nil && cfg.TLS.ClientSessionCache != nil,
		PayloadSize: cfg.PayloadSize, Rate: cfg.Rate, Duration: cfg.Duration.Seconds(),
		Messages: cfg.Messages, Users: cfg.Users}
	if cfg.Scenario == Shared {
		p.Publishers = cfg.Publishers
	}
	return p
}
