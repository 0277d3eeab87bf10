package broker

import (
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
)

const (
	flushThreshold = 32 << 10 // write once this much is buffered
	keepBufferCap  = 64 << 10 // larger buffers are released when idle
)

// writerState tells whether a connection has a writer goroutine. An idle
// connection has none: its reader is its only goroutine, which halves the
// goroutine stacks that idle connections hold (docs/performance.md). The
// first item queued starts one; it ends once the queue is empty.
type writerState uint8

const (
	writerIdle    writerState = iota // no writer; the next item queued starts one
	writerRunning                    // a writer runs and will see new items
	writerStopped                    // writing is over: writerDone is closed
)

// startWriting ends the CONNECT exchange's direct writes: from now on
// queued items are written by a writer goroutine, started for what is
// already queued (CONNACK and a resumed session's window).
func (c *conn) startWriting() {
	c.outMu.Lock()
	c.writing.Store(true)
	c.wakeWriterLocked()
	c.outMu.Unlock()
}

// wakeWriterLocked starts a writer for what is queued, unless one runs,
// writing is over, or CONNECT is not done yet. It tells whether a writer
// runs now. outMu must be held.
func (c *conn) wakeWriterLocked() bool {
	if c.wstate == writerIdle && len(c.out) > 0 && c.writing.Load() {
		c.wstate = writerRunning
		go c.writeLoop()
	}
	return c.wstate == writerRunning
}

// writeLoop encodes queued items and writes them in as few syscalls as the
// queue allows: it drains the whole queue into one buffer and flushes when
// the queue is empty (or the buffer is large). It returns once the queue is
// empty; after stopWriter, it closes writerDone as it returns.
func (c *conn) writeLoop() {
	for {
		c.outMu.Lock()
		if len(c.out) == 0 {
			if cap(c.wbuf) > keepBufferCap {
				c.wbuf = nil
			}
			if c.outClosed {
				c.wstate = writerStopped
				close(c.writerDone)
			} else {
				c.wstate = writerIdle
			}
			c.outMu.Unlock()
			return
		}
		batch := c.out
		c.out, c.spare = c.spare[:0], nil
		c.outQoS0, c.outQoS0B, c.outCtl = 0, 0, 0
		c.outMu.Unlock()
		c.batchNow = time.Now()
		select {
		case c.drained <- struct{}{}:
		default:
		}

		last := false
		for i := range batch {
			c.encode(&batch[i])
			last = last || batch[i].last
			if len(c.wbuf) >= flushThreshold {
				if !c.flush() {
					c.abandon()
					return
				}
			}
		}
		clear(batch) // release messages
		if !c.flush() || last {
			c.abandon()
			return
		}
		if cap(batch) <= 1024 {
			c.spare = batch[:0] // the next batch's queue
		}
	}
}

// abandon is the writer's exit on a write error or after the last item:
// close the socket so the reader ends too, and mark the queue closed.
func (c *conn) abandon() {
	c.closeNow()
	c.outMu.Lock()
	c.outClosed = true
	c.out = nil
	c.wstate = writerStopped
	close(c.writerDone)
	c.outMu.Unlock()
}

func (c *conn) flush() bool {
	if len(c.wbuf) == 0 {
		return true
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.b.lim.WriteTimeout))
	n, err := c.nc.Write(c.wbuf)
	c.b.metrics.BytesOut.Add(uint64(n))
	c.wbuf = c.wbuf[:0]
	if err == nil {
		return true // without calling isTimeout, whose errors.As allocates
	}
	if isTimeout(err) && !c.closed.Load() {
		// A slow consumer: it stopped reading for longer than the write
		// timeout. Named, counted and audited, not just closed.
		c.b.metrics.SlowConsumers.Add(1)
		c.b.log.Info("slow consumer cut", "client_id", c.clientID, "remote", c.info.Remote,
			"listener", c.info.Listener, "write_timeout", c.b.lim.WriteTimeout)
		c.b.record(audit.Event{Kind: audit.ClientDisconnected, Listener: c.info.Listener, Remote: c.info.Remote,
			ClientID: c.clientID, Identity: c.sessionIdentity(),
			Detail: "slow consumer: not reading for longer than the write timeout " + c.b.lim.WriteTimeout.String()})
	}
	return false
}

// encode appends one item to the write buffer.
func (c *conn) encode(it *outItem) {
	switch it.kind {
	case outPublish:
		c.encodePublish(it)
	case outAck:
		c.encodeAck(it)
	case outPacket:
		if it.pkt == nil {
			return
		}
		c.encodePacket(it.pkt)
	}
}

// encodePacket appends a control packet. One over the client's Maximum
// Packet Size [MQTT-3.1.2-24] loses its Reason String and User Properties
// first [MQTT-3.1.2-25]; if it is still too large it is not sent.
func (c *conn) encodePacket(p packet.Packet) {
	start := len(c.wbuf)
	buf, err := packet.Append(c.wbuf, p, c.version)
	if err == nil && c.maxOut > 0 && len(buf)-start > c.maxOut {
		if props := propertiesOf(p); props != nil {
			props.DropDiagnostics()
			buf, err = packet.Append(c.wbuf, p, c.version)
		}
		if err == nil && len(buf)-start > c.maxOut {
			c.b.log.Warn("packet over the client's maximum size not sent", "client_id", c.clientID,
				"type", p.Type().String(), "size", len(buf)-start, "max", c.maxOut)
			c.wbuf = buf[:start]
			return
		}
	}
	if err != nil {
		c.b.log.Error("encoding packet", "client_id", c.clientID, "type", p.Type().String(), "error", err)
		c.wbuf = c.wbuf[:start]
		return
	}
	c.wbuf = buf
}

// propertiesOf returns the properties of the control packets the broker
// sends through the writer.
func propertiesOf(p packet.Packet) *packet.Properties {
	switch p := p.(type) {
	case *packet.Connack:
		return &p.Properties
	case *packet.Suback:
		return &p.Properties
	case *packet.Unsuback:
		return &p.Properties
	case *packet.Disconnect:
		return &p.Properties
	case *packet.Auth:
		return &p.Properties
	}
	return nil
}

func (c *conn) encodeAck(it *outItem) {
	switch it.typ {
	case packet.PUBACK:
		c.wbuf = packet.AppendPuback(c.wbuf, it.id, it.code, nil, c.version)
	case packet.PUBREC:
		c.wbuf = packet.AppendPubrec(c.wbuf, it.id, it.code, nil, c.version)
	case packet.PUBREL:
		c.wbuf = packet.AppendPubrel(c.wbuf, it.id, it.code, nil, c.version)
	case packet.PUBCOMP:
		c.wbuf = packet.AppendPubcomp(c.wbuf, it.id, it.code, nil, c.version)
	}
}

// encodePublish builds the PUBLISH for one delivery: the message's
// forwardable properties with the expiry counted down [MQTT-3.3.2-6], the
// subscription identifiers, an outbound topic alias when the client allows
// them, and the packet's size checked against the client's maximum.
func (c *conn) encodePublish(it *outItem) {
	d := &it.d
	m := d.Msg
	if m.Expired(time.Now()) {
		c.b.metrics.Drop(metrics.DropExpired)
		c.releaseDropped(d.QoS, d.PacketID)
		return
	}
	p := packet.Publish{
		Dup:      d.Dup,
		QoS:      d.QoS,
		Retain:   d.Retain,
		Topic:    m.Topic,
		PacketID: d.PacketID,
		Payload:  m.Payload,
	}
	if c.version == packet.V5 {
		p.Properties = m.Properties
		if !m.Expiry.IsZero() {
			p.Properties.MessageExpiryInterval = m.RemainingExpiry(time.Now())
			p.Properties.Set(packet.PropMessageExpiryInterval)
		}
		if len(d.SubIDs) > 0 {
			p.Properties.SubscriptionIdentifiers = d.SubIDs
			p.Properties.Set(packet.PropSubscriptionIdentifier)
		}
		c.applyOutAlias(&p)
	}
	start := len(c.wbuf)
	c.wbuf = packet.AppendPublish(c.wbuf, &p, c.version)
	if c.maxOut > 0 && len(c.wbuf)-start > c.maxOut {
		// [MQTT-3.1.2-24] never send a packet over the client's maximum:
		// the message is discarded as if it had been delivered.
		c.wbuf = c.wbuf[:start]
		c.b.metrics.Drop(metrics.DropTooLarge)
		c.releaseDropped(d.QoS, d.PacketID)
		return
	}
	c.b.metrics.MessagesOut[d.QoS].Add(1)
	if !d.Retain {
		// Retained deliveries are old by nature; live ones (queued ones
		// included) measure the broker.
		c.b.metrics.Latency.Observe(c.batchNow.Sub(d.Msg.Created))
	}
}

// applyOutAlias replaces the topic with an alias the client already knows,
// or assigns a new one while aliases are left [MQTT-3.3.2-10].
func (c *conn) applyOutAlias(p *packet.Publish) {
	if c.aliasOutMax == 0 {
		return
	}
	if a, ok := c.aliasOut[p.Topic]; ok {
		p.Topic = ""
		p.Properties.TopicAlias = a
		p.Properties.Set(packet.PropTopicAlias)
		return
	}
	if len(c.aliasOut) >= int(c.aliasOutMax) {
		return
	}
	if c.aliasOut == nil {
		c.aliasOut = make(map[string]uint16)
	}
	a := uint16(len(c.aliasOut) + 1)
	c.aliasOut[p.Topic] = a
	p.Properties.TopicAlias = a
	p.Properties.Set(packet.PropTopicAlias)
}

// releaseDropped frees the inflight slot of a delivery that was not sent.
func (c *conn) releaseDropped(qos byte, id uint16) {
	if qos > 0 && c.sess != nil {
		c.sess.dropInflight(id)
	}
}

// sessionIdentity names the session's owner, for goroutines other than the
// reader (which owns c.subject).
func (c *conn) sessionIdentity() string {
	if c.sess == nil {
		return ""
	}
	if subj := c.sess.subject.Load(); subj != nil && subj.Identity != nil {
		return subj.Identity.Name
	}
	return ""
}
