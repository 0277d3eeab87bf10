package loadgen

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// loop reads the receiver's connection until it closes: it counts and
// times every PUBLISH and acknowledges QoS 1 and 2, flushing the
// acknowledgements when no more input is buffered.
func (r *receiver) loop() {
	defer close(r.done)
	c := r.c
	who := fmt.Sprintf("subscriber %d", r.idx)
	var (
		body    []byte
		p       packet.Publish
		now     int64
		pending bool // acknowledgements buffered
		got     bool // a message came with the current read
	)
	for {
		// A packet that starts a new read arrived now; the ones that
		// came with it arrived at the same time.
		fresh := c.br.Buffered() == 0
		h, b, err := c.readPacket(&body)
		if err != nil {
			r.f.connErr(who, err)
			return
		}
		if fresh {
			now = nanotime()
		}
		switch h.Type {
		case packet.PUBLISH:
			if err := packet.DecodePublishFrom(h, b, c.v, packet.FromServer, &p); err != nil {
				r.f.connErr(who, err)
				return
			}
			r.deliver(&p, now)
			got = true
			switch p.QoS {
			case 1:
				err, pending = c.appendAck(packet.PUBACK, p.PacketID), true
			case 2:
				err, pending = c.appendAck(packet.PUBREC, p.PacketID), true
			}
		case packet.PUBREL:
			var id uint16
			if id, _, err = decodeAck(h, b, c.v); err == nil {
				err, pending = c.appendAck(packet.PUBCOMP, id), true
			}
		case packet.PINGRESP:
		default:
			err = unexpectedPacket(h, b, c.v)
		}
		if err != nil {
			r.f.connErr(who, err)
			return
		}
		if c.br.Buffered() == 0 {
			if got {
				r.last.Store(now)
				got = false
			}
			if pending {
				if err := c.flush(); err != nil {
					r.f.connErr(who, err)
					return
				}
				pending = false
			}
		}
	}
}

// deliver counts one message: a new one is timed, a repeated one is a
// duplicate, one that no publisher of the group sent is unexpected.
func (r *receiver) deliver(p *packet.Publish, now int64) {
	pl := p.Payload
	if len(pl) < MinPayload {
		r.unexpected++
		return
	}
	idx := binary.LittleEndian.Uint32(pl[offPub:])
	if int(idx) >= len(r.g.sets) || r.g.sets[idx] == nil {
		r.unexpected++
		return
	}
	if pub := r.f.pubs[idx]; pub.delivered.Add(1) >= pub.wakeAt.Load() {
		select {
		case pub.wake <- struct{}{}:
		default:
		}
	}
	fresh, ok := r.g.sets[idx].mark(binary.LittleEndian.Uint32(pl[offSeq:]))
	switch {
	case !ok:
		r.unexpected++
	case fresh:
		r.unique++
		r.hist.Record(time.Duration(now - int64(binary.LittleEndian.Uint64(pl[offTime:]))))
	default:
		r.dups++
	}
}

// readLoop reads a publisher's connection until it closes: it completes
// the QoS 1 and 2 exchanges and frees their packet ids.
func (p *publisher) readLoop() {
	defer close(p.readDone)
	c := p.c
	who := fmt.Sprintf("publisher %d", p.idx)
	var (
		body    []byte
		pending bool
	)
	for {
		h, b, err := c.readPacket(&body)
		if err != nil {
			p.f.connErr(who, err)
			return
		}
		switch h.Type {
		case packet.PUBACK, packet.PUBREC, packet.PUBCOMP:
			var (
				id   uint16
				code packet.ReasonCode
			)
			if id, code, err = decodeAck(h, b, c.v); err == nil {
				var rel bool
				rel, err = p.ack(h.Type, id, code)
				pending = pending || rel
			}
		case packet.PINGRESP:
		default:
			err = unexpectedPacket(h, b, c.v)
		}
		if err != nil {
			p.f.connErr(who, err)
			return
		}
		if pending && c.br.Buffered() == 0 {
			if err := c.flush(); err != nil {
				p.f.connErr(who, err)
				return
			}
			pending = false
		}
	}
}

// ack advances the exchange of packet id: PUBACK and PUBCOMP complete it,
// PUBREC is answered with PUBREL (reported by rel, not flushed). An error
// code completes it as refused.
func (p *publisher) ack(t packet.Type, id uint16, code packet.ReasonCode) (rel bool, err error) {
	if int(id) >= len(p.state) {
		return false, fmt.Errorf("%v for packet id %d, which was never used", t, id)
	}
	st := &p.state[id]
	want := uint32(1)
	if t == packet.PUBCOMP {
		want = 2
	}
	if p.f.cfg.QoS == 1 && t != packet.PUBACK || p.f.cfg.QoS == 2 && t == packet.PUBACK {
		return false, fmt.Errorf("%v at QoS %d", t, p.f.cfg.QoS)
	}
	switch {
	case t == packet.PUBREC && !code.IsError():
		if !st.CompareAndSwap(1, 2) {
			return false, fmt.Errorf("PUBREC for packet id %d, which is not awaiting one", id)
		}
		return true, p.c.appendAck(packet.PUBREL, id)
	case !st.CompareAndSwap(want, 0):
		return false, fmt.Errorf("%v for packet id %d, which is not awaiting one", t, id)
	case code.IsError():
		p.refused.Add(1)
	default:
		p.acked.Add(1)
	}
	p.free <- id // never blocks: one slot per id
	return false, nil
}

// decodeAck decodes PUBACK, PUBREC, PUBREL or PUBCOMP.
func decodeAck(h packet.FixedHeader, b []byte, v packet.Version) (uint16, packet.ReasonCode, error) {
	pk, err := packet.DecodeFrom(h, b, v, packet.FromServer)
	if err != nil {
		return 0, 0, err
	}
	switch a := pk.(type) {
	case *packet.Puback:
		return a.PacketID, a.ReasonCode, nil
	case *packet.Pubrec:
		return a.PacketID, a.ReasonCode, nil
	case *packet.Pubrel:
		return a.PacketID, a.ReasonCode, nil
	case *packet.Pubcomp:
		return a.PacketID, a.ReasonCode, nil
	}
	return 0, 0, fmt.Errorf("%v is not an acknowledgement", h.Type)
}

// unexpectedPacket is the error for a packet the generator never asked
// for; a DISCONNECT carries the broker's reason.
func unexpectedPacket(h packet.FixedHeader, b []byte, v packet.Version) error {
	if h.Type == packet.DISCONNECT {
		if pk, err := packet.DecodeFrom(h, b, v, packet.FromServer); err == nil {
			return fmt.Errorf("broker disconnected: %v", pk.(*packet.Disconnect).ReasonCode)
		}
		return fmt.Errorf("broker disconnected")
	}
	return fmt.Errorf("unexpected %v", h.Type)
}
