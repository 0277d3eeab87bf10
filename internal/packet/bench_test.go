package packet

import (
	"io"
	"testing"
)

func benchPublish() *Publish {
	return &Publish{QoS: 1, PacketID: 42, Topic: "factory/line-3/sensor/temperature",
		Payload: make([]byte, 256)}
}

func benchPublishProps() *Publish {
	p := benchPublish()
	p.Properties = Properties{Present: 1<<PropMessageExpiryInterval | 1<<PropUserProperty,
		MessageExpiryInterval: 60, UserProperties: []UserProperty{{"trace", "abc123"}}}
	return p
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    *Publish
		v    Version
	}{{"v311", benchPublish(), V311}, {"v5", benchPublish(), V5}, {"v5-props", benchPublishProps(), V5}} {
		b.Run(bc.name, func(b *testing.B) {
			pkt := AppendPublish(nil, bc.p, bc.v)
			h := FixedHeader{Type: PUBLISH, Flags: pkt[0] & 0x0F, Remaining: len(pkt) - 3}
			body := pkt[3:]
			var p Publish
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				if err := DecodePublish(h, body, bc.v, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopReader serves the same bytes forever.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], l.b[l.off:])
		n += m
		l.off = (l.off + m) % len(l.b)
	}
	return n, nil
}

var _ io.Reader = (*loopReader)(nil)

func BenchmarkReadPacketPublish(b *testing.B) {
	for _, bc := range []struct {
		name string
		v    Version
	}{{"v311", V311}, {"v5", V5}} {
		b.Run(bc.name, func(b *testing.B) {
			var stream []byte
			for range 64 {
				stream = AppendPublish(stream, benchPublish(), bc.v)
			}
			r := NewReader(&loopReader{b: stream}, 64<<10)
			b.SetBytes(int64(len(stream) / 64))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ReadPacket(bc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    *Publish
		v    Version
	}{{"v311", benchPublish(), V311}, {"v5", benchPublish(), V5}, {"v5-props", benchPublishProps(), V5}} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.SetBytes(int64(bc.p.Size(bc.v)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendPublish(buf[:0], bc.p, bc.v)
			}
		})
	}
}

func BenchmarkDecodeConnect(b *testing.B) {
	c := &Connect{ProtocolName: "MQTT", Version: V5, CleanStart: true, KeepAlive: 60,
		Properties: Properties{Present: 1<<PropSessionExpiryInterval | 1<<PropReceiveMaximum,
			SessionExpiryInterval: 3600, ReceiveMaximum: 100},
		ClientID: "device-0123456789", UsernameFlag: true, Username: "device-0123456789",
		PasswordFlag: true, Password: []byte("a-long-enough-password"),
		WillFlag: true, WillQoS: 1, WillTopic: "devices/0123456789/status", WillPayload: []byte("offline")}
	pkt, err := Append(nil, c, V5)
	if err != nil {
		b.Fatal(err)
	}
	h, err := ReadFixedHeader(newByteReader(pkt))
	if err != nil {
		b.Fatal(err)
	}
	body := pkt[len(pkt)-h.Remaining:]
	var p Connect
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		if err := DecodeConnect(h, body, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidUTF8(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"ascii-32", "factory/line-3/sensor/temperatur"},
		{"mixed-32", "usine/ligne-3/capteur/températur"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := []byte(bc.s)
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				if !ValidUTF8(s) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

type byteReader struct {
	b []byte
	i int
}

func newByteReader(b []byte) *byteReader { return &byteReader{b: b} }

func (r *byteReader) ReadByte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}
