package broker_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed"
	"github.com/moatmq/moat/internal/testutil"
)

// BenchmarkSignedPublish compares QoS 1 publish throughput through the
// broker on a topic under a signed rule (every message verified: Ed25519,
// replay window) with the same messages on a topic under no rule, in one
// run. The publisher is authenticated as the key's identity in both, and
// its messages are signed before the timer starts in both (the moat-sig
// property travels unchecked on the unsigned topic), so that the
// difference is the broker's verification:
//
//	go test -run '^$' -bench SignedPublish -count 5 ./internal/broker/
func BenchmarkSignedPublish(b *testing.B) {
	for _, variant := range []string{"unsigned", "signed"} {
		b.Run("qos1/"+variant, func(b *testing.B) {
			benchSigned(b, variant == "signed")
		})
	}
}

func benchSigned(b *testing.B, enforce bool) {
	dir := b.TempDir()
	seed := make([]byte, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		b.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "dev.pub"), pubPEM, 0o644); err != nil {
		b.Fatal(err)
	}
	registry := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(registry, []byte(`{"keys": [{"kid": "dev-1", "identity": "dev", "public_key_file": "dev.pub"}]}`), 0o644); err != nil {
		b.Fatal(err)
	}
	pwFile := benchUsers(b, dir, "dev", "sub")
	rule := "other/#"
	if enforce {
		rule = "bench/#"
	}
	addr, _ := testutil.Start(b, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.PasswordFile = pwFile
		c.SignedTopics = config.SignedTopics{Keys: registry, AllowReplayAfterRestart: true,
			Rules: []config.SignedRule{{Topics: []string{rule}}}}
	})

	// b.N signed PUBLISH packets, each with the next sequence number.
	signer, err := signed.NewSigner("dev-1", priv)
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 16)
	epoch := uint64(time.Now().UnixNano())
	pkts := make([][]byte, b.N)
	for i := range pkts {
		c := signed.Claims{Identity: "dev", Topic: "bench/topic", IssuedAt: time.Now().Unix(), Mode: signed.Sequence,
			Epoch: epoch, Seq: uint64(i + 1)}
		sig, err := signer.Detached(&c, payload, nil)
		if err != nil {
			b.Fatal(err)
		}
		p := packet.Publish{Topic: "bench/topic", QoS: 1, PacketID: uint16(i%65535) + 1, Payload: payload}
		p.Properties.UserProperties = []packet.UserProperty{{Key: signed.PropertyName, Value: sig}}
		p.Properties.Set(packet.PropUserProperty)
		pkts[i] = packet.AppendPublish(nil, &p, packet.V5)
	}

	sub := dialUser(b, addr, "sub", "sub")
	sub.subscribe(b, "bench/#", 1)
	pub := dialUser(b, addr, "pub", "dev")

	var received, refused atomic.Int64
	done := make(chan error, 1)
	go func() {
		var ack []byte
		for i := 0; i < b.N; i++ {
			pk, err := sub.r.ReadPacket(packet.V5)
			if err != nil {
				done <- err
				return
			}
			p, ok := pk.(*packet.Publish)
			if !ok {
				done <- fmt.Errorf("subscriber got %T", pk)
				return
			}
			received.Add(1)
			ack = packet.AppendPuback(ack[:0], p.PacketID, 0, nil, packet.V5)
			if _, err := sub.nc.Write(ack); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() {
		for {
			pk, err := pub.r.ReadPacket(packet.V5)
			if err != nil {
				return
			}
			if a, ok := pk.(*packet.Puback); ok && a.ReasonCode.IsError() {
				refused.Add(1)
			}
		}
	}()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := pub.w.Write(pkts[i]); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			pub.flush(b)
			stall := time.Now().Add(30 * time.Second)
			for int64(i)-received.Load() > benchWindow {
				if refused.Load() > 0 {
					b.Fatalf("%d messages refused", refused.Load())
				}
				if time.Now().After(stall) {
					b.Fatalf("no progress for 30 s: %d of %d delivered", received.Load(), i)
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	pub.flush(b)
	select {
	case err := <-done:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		b.Fatalf("timed out waiting for deliveries: %d of %d (%d refused)", received.Load(), b.N, refused.Load())
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// benchUsers writes a password file in dir where each user's password is
// its name, hashed at the lowest parameters Moat accepts.
func benchUsers(tb testing.TB, dir string, users ...string) string {
	tb.Helper()
	f := password.NewFile()
	p := password.DefaultParams()
	p.Memory, p.Time, p.Threads = 19*1024, 2, 1
	for _, u := range users {
		h, err := password.Hash([]byte(u), p)
		if err != nil {
			tb.Fatal(err)
		}
		if err := f.Set(u, h); err != nil {
			tb.Fatal(err)
		}
	}
	path := filepath.Join(dir, "passwd")
	if err := f.Save(path); err != nil {
		tb.Fatal(err)
	}
	return path
}

// dialUser connects an MQTT 5 client logged in as user (password: the
// user name).
func dialUser(tb testing.TB, addr, id, user string) *rawClient {
	tb.Helper()
	return dialConnect(tb, addr, &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, CleanStart: true, ClientID: id,
		UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(user)})
}
