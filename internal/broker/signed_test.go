package broker_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed"
	"github.com/moatmq/moat/internal/testutil"
)

// TestSignedResendVersusReplay: a QoS 1 retransmission (DUP, same packet
// id, same bytes, same session) of an accepted signed message is
// acknowledged and not delivered again; the same message sent again with
// DUP under another packet id, or without DUP, is a replay and refused.
func TestSignedResendVersusReplay(t *testing.T) {
	dir := t.TempDir()
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "dev.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644))
	registry := filepath.Join(dir, "keys.json")
	must(os.WriteFile(registry, []byte(`{"keys": [{"kid": "dev-1", "identity": "dev", "public_key_file": "dev.pub"}]}`), 0o644))
	pwFile := benchUsers(t, dir, "dev", "sub")
	addr, _ := testutil.Start(t, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.PasswordFile = pwFile
		c.SignedTopics = config.SignedTopics{Keys: registry, AllowReplayAfterRestart: true, Rules: []config.SignedRule{{Topics: []string{"cmd/#"}}}}
	})
	signer, err := signed.NewSigner("dev-1", priv)
	must(err)
	claims := signed.Claims{Identity: "dev", Topic: "cmd/open", IssuedAt: time.Now().Unix(), Mode: signed.Sequence,
		Epoch: uint64(time.Now().UnixNano()), Seq: 1}
	sig, err := signer.Detached(&claims, []byte("open"), nil)
	must(err)
	publish := func(id uint16, dup bool) *packet.Publish {
		p := &packet.Publish{Topic: "cmd/open", QoS: 1, PacketID: id, Dup: dup, Payload: []byte("open")}
		p.Properties.UserProperties = []packet.UserProperty{{Key: signed.PropertyName, Value: sig}}
		p.Properties.Set(packet.PropUserProperty)
		return p
	}

	sub := dialUser(t, addr, "sub", "sub")
	sub.subscribe(t, "#", 1)
	pub := dialUser(t, addr, "pub", "dev")
	ack := func(p *packet.Publish) packet.ReasonCode {
		t.Helper()
		pub.write(t, p)
		pub.flush(t)
		pk, err := pub.r.ReadPacket(packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		a, ok := pk.(*packet.Puback)
		if !ok || a.PacketID != p.PacketID {
			t.Fatalf("want PUBACK %d, got %+v", p.PacketID, pk)
		}
		return a.ReasonCode
	}
	if code := ack(publish(5, false)); code != 0 {
		t.Fatalf("signed message refused: %v", code)
	}
	if code := ack(publish(5, true)); code != 0 {
		t.Fatalf("retransmission refused: %v", code)
	}
	if code := ack(publish(6, true)); code != packet.NotAuthorized {
		t.Fatalf("replay with DUP under another packet id: %v, want 0x87", code)
	}
	if code := ack(publish(5, false)); code != packet.NotAuthorized {
		t.Fatalf("replay without DUP: %v, want 0x87", code)
	}
	marker := &packet.Publish{Topic: "plain/marker", QoS: 1, PacketID: 7, Payload: []byte("m")}
	if code := ack(marker); code != 0 {
		t.Fatalf("marker: %v", code)
	}
	for _, want := range []string{"cmd/open", "plain/marker"} {
		_ = sub.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		pk, err := sub.r.ReadPacket(packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := pk.(*packet.Publish)
		if !ok || p.Topic != want {
			t.Fatalf("want %s, got %+v (delivered twice?)", want, pk)
		}
		sub.write(t, &packet.Puback{PacketID: p.PacketID})
		sub.flush(t)
	}
}
