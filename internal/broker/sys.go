package broker

import (
	"context"
	"strconv"
	"time"
)

// SysInfo is what the $SYS topics report beyond the broker's own state.
type SysInfo struct {
	Version string
}

// PublishSys publishes the $SYS topics once, retained, with
// Mosquitto-compatible names. Only identities the ACL lets receive $SYS
// topics get them (none by default: "#" never matches them).
func (b *Broker) PublishSys(info SysInfo) {
	s := b.metrics.Snapshot()
	var recv, sent uint64
	for q := range 3 {
		recv += s.MessagesIn[q]
		sent += s.MessagesOut[q]
	}
	sessions := b.SessionCount()
	connected := int(s.ConnectionsCurrent)
	num := func(n int64) []byte { return strconv.AppendInt(nil, n, 10) }
	unum := func(n uint64) []byte { return strconv.AppendUint(nil, n, 10) }
	for _, t := range []struct {
		topic string
		value []byte
	}{
		{"$SYS/broker/version", []byte("moat " + info.Version)},
		{"$SYS/broker/uptime", []byte(strconv.FormatInt(int64(b.Uptime()/time.Second), 10) + " seconds")},
		{"$SYS/broker/clients/connected", num(int64(connected))},
		{"$SYS/broker/clients/disconnected", num(int64(max(sessions-connected, 0)))},
		{"$SYS/broker/clients/total", num(int64(sessions))},
		{"$SYS/broker/messages/received", unum(recv)},
		{"$SYS/broker/messages/sent", unum(sent)},
		{"$SYS/broker/publish/messages/received", unum(recv)},
		{"$SYS/broker/publish/messages/sent", unum(sent)},
		{"$SYS/broker/publish/messages/dropped", unum(sumValues(s.Dropped))},
		{"$SYS/broker/bytes/received", unum(s.BytesIn)},
		{"$SYS/broker/bytes/sent", unum(s.BytesOut)},
		{"$SYS/broker/retained messages/count", num(s.RetainedMessages)},
		{"$SYS/broker/subscriptions/count", num(s.Subscriptions)},
	} {
		b.Publish(t.topic, t.value, 0, true)
	}
}

// RunSys publishes the $SYS topics every interval until ctx ends.
func (b *Broker) RunSys(ctx context.Context, interval time.Duration, info SysInfo) {
	b.PublishSys(info)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.quit:
			return
		case <-t.C:
			b.PublishSys(info)
		}
	}
}

func sumValues(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
