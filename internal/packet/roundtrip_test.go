package packet

import (
	"bytes"
	"reflect"
	"testing"
	"testing/iotest"
)

// TestRoundTrip encodes thousands of random valid packets of every type and
// version, reads them back and compares.
func TestRoundTrip(t *testing.T) {
	g := newGen(1)
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := range n {
		v := versions[i%len(versions)]
		p, o := g.packet(v)
		b, err := Append(nil, p, v)
		if err != nil {
			t.Fatalf("#%d Append(%v, %v): %v", i, p, v, err)
		}
		if s := Size(p, v); s != len(b) {
			t.Fatalf("#%d Size(%T) = %d, encoded %d bytes", i, p, s, len(b))
		}
		rv := v
		if p.Type() == CONNECT {
			rv = 0
		}
		var src = bytes.NewReader(b)
		var rd *Reader
		if i%5 == 0 {
			rd = NewReader(iotest.OneByteReader(src), 0)
		} else {
			rd = NewReader(src, 0)
		}
		rd.SetOrigin(o)
		got, err := rd.ReadPacket(rv)
		if err != nil {
			t.Fatalf("#%d ReadPacket(%v, %v) of % x: %v\npacket %v", i, v, o, b, err, p)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("#%d round trip %v:\n got %#v\nwant %#v\nbytes % x", i, v, got, p, b)
		}
		// The typed encoders agree with Append.
		if b2 := appendTyped(p, v); !bytes.Equal(b, b2) {
			t.Fatalf("#%d typed encoder differs", i)
		}
	}
}

func appendTyped(p Packet, v Version) []byte {
	switch p := p.(type) {
	case *Publish:
		return AppendPublish(nil, p, v)
	case *Puback:
		return AppendPuback(nil, p.PacketID, p.ReasonCode, &p.Properties, v)
	}
	b, _ := Append(nil, p, v)
	return b
}
