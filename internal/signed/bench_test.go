package signed

import (
	"crypto"
	"testing"

	"github.com/moatmq/moat/internal/packet"
)

// benchCheck measures Check on fresh signed messages: every iteration
// verifies a signature and records a new sequence number. The messages are
// signed before the timer starts.
func benchCheck(b *testing.B, kid string, priv crypto.Signer, envelope bool) {
	v, clk := newTestVerifier(b, Config{Rules: []RuleConfig{cmdRule}})
	s := mustSigner(b, kid, priv)
	now := clk.Now().Unix()
	payload := make([]byte, 64)
	msgs := make([]*Message, b.N)
	for i := range msgs {
		c := claimsAt(cmdTopic, now, uint64(i+1))
		if envelope {
			env, err := s.Envelope(&c, payload, nil)
			if err != nil {
				b.Fatal(err)
			}
			msgs[i] = &Message{Topic: cmdTopic, Identity: "valve-7", Version: packet.V311, Payload: env}
			continue
		}
		sig, err := s.Detached(&c, payload, nil)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = v5msg(cmdTopic, payload, nil, sig)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, why := v.Check(msgs[i]); why != OK {
			b.Fatal(why)
		}
	}
}

func BenchmarkCheckEd25519(b *testing.B)         { benchCheck(b, "valve-7-ed", edPriv, false) }
func BenchmarkCheckES256(b *testing.B)           { benchCheck(b, "valve-7-ec", ecPriv(), false) }
func BenchmarkCheckEd25519Envelope(b *testing.B) { benchCheck(b, "valve-7-ed", edPriv, true) }

// BenchmarkUnsignedTopic is the cost the broker pays on every PUBLISH to a
// topic no rule signs, with a few rules configured.
func BenchmarkUnsignedTopic(b *testing.B) {
	v, _ := newTestVerifier(b, Config{Rules: []RuleConfig{
		cmdRule,
		{Topics: []string{"factory/+/cmd/#", "+/firmware/#"}},
	}})
	m := v5msg("sensors/kitchen/temperature", []byte("21.5"), nil, "")
	b.Run("Signed", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if v.Signed(m.Topic) {
				b.Fatal("signed")
			}
		}
	})
	b.Run("Check", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if d, _ := v.Check(m); d.Signed {
				b.Fatal("signed")
			}
		}
	})
	b.Run("NoPolicy", func(b *testing.B) {
		empty := NewVerifier(nil, nil, nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if empty.Signed(m.Topic) {
				b.Fatal("signed")
			}
		}
	})
}

func BenchmarkSignEd25519(b *testing.B) {
	s := mustSigner(b, "valve-7-ed", edPriv)
	c := claimsAt(cmdTopic, t0, 1)
	payload := make([]byte, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := s.Detached(&c, payload, nil); err != nil {
			b.Fatal(err)
		}
	}
}
