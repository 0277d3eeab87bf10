package broker_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed"
	"github.com/moatmq/moat/internal/testutil"
)

// TestSignedResendVersusReplay: a QoS 1 retransmission (DUP, same packet
// id, same bytes, same session, also after a reconnect) of an accepted
// signed message is acknowledged and not delivered again; the same message
// sent again with DUP under another packet id, or without DUP, is a replay
// and refused.
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
	// After a reconnect to the same persistent session, the client
	// retransmits an unacknowledged message with DUP: not a replay.
	cp := &packet.Connect{ProtocolName: "MQTT", Version: packet.V5, ClientID: "pub-p", UsernameFlag: true, Username: "dev",
		PasswordFlag: true, Password: []byte("dev")}
	cp.Properties.SessionExpiryInterval = 600
	cp.Properties.Set(packet.PropSessionExpiryInterval)
	claims.Seq = 2
	sig, err = signer.Detached(&claims, []byte("open"), nil)
	must(err)
	first := dial(t, addr, cp)
	if ack := first.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	first.send(t, publish(11, false), packet.V5)
	if a, ok := first.read(t, packet.V5).(*packet.Puback); !ok || a.ReasonCode != 0 {
		t.Fatalf("PUBACK %+v", a)
	}
	first.nc.Close() // as if the PUBACK was lost with the connection
	again := dial(t, addr, cp)
	if ack := again.read(t, packet.V5).(*packet.Connack); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	again.send(t, publish(11, true), packet.V5)
	if a, ok := again.read(t, packet.V5).(*packet.Puback); !ok || a.ReasonCode != 0 {
		t.Fatalf("retransmission after a reconnect: %+v, want success", a)
	}
	marker := &packet.Publish{Topic: "plain/marker", QoS: 1, PacketID: 7, Payload: []byte("m")}
	if code := ack(marker); code != 0 {
		t.Fatalf("marker: %v", code)
	}
	for _, want := range []string{"cmd/open", "cmd/open", "plain/marker"} {
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

// TestSignedReplayStateAcrossCleanRestart: a clean shutdown saves the
// replay state in the store and the next start loads it: a message
// accepted before is refused as a replay, and a fresh one is accepted at
// once instead of falling in the restart window.
func TestSignedReplayStateAcrossCleanRestart(t *testing.T) {
	dir := t.TempDir()
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "k.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := signed.ParseKeys([]byte(`{"keys": [{"kid": "k1", "identity": "anonymous", "public_key_file": "k.pub"}]}`), "keys.json", dir)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := signed.NewPolicy(signed.Config{Rules: []signed.RuleConfig{{Topics: []string{"cmd/#"}}}})
	if err != nil {
		t.Fatal(err)
	}
	// The verifiers' clock runs 60 s ahead once they are made, so that
	// the first broker is past its restart window.
	var ahead atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	signer, err := signed.NewSigner("k1", priv)
	if err != nil {
		t.Fatal(err)
	}
	epoch := uint64(time.Now().UnixNano())
	publish := func(addr string, seq uint64, id uint16) packet.ReasonCode {
		t.Helper()
		c := signed.Claims{Identity: "anonymous", Topic: "cmd/x", IssuedAt: clock().Unix(), Mode: signed.Sequence, Epoch: epoch, Seq: seq}
		sig, err := signer.Detached(&c, []byte("go"), nil)
		if err != nil {
			t.Fatal(err)
		}
		pub := connected(t, addr, v5(fmt.Sprintf("pub%d", id)))
		p := &packet.Publish{Topic: "cmd/x", QoS: 1, PacketID: id, Payload: []byte("go")}
		p.Properties.UserProperties = []packet.UserProperty{{Key: signed.PropertyName, Value: sig}}
		p.Properties.Set(packet.PropUserProperty)
		pub.send(t, p, packet.V5)
		ack, ok := pub.read(t, packet.V5).(*packet.Puback)
		if !ok {
			t.Fatal("no PUBACK")
		}
		return ack.ReasonCode
	}

	storeDir := filepath.Join(dir, "store")
	v1 := signed.NewVerifier(policy, keys, clock)
	ahead.Store(int64(60 * time.Second))
	addr, b1 := startBroker(t, broker.Options{Store: openDisk(t, storeDir), HoldAcks: true, Signed: v1})
	if code := publish(addr, 1, 1); code.IsError() {
		t.Fatalf("before the restart: %v", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	st := openDisk(t, storeDir)
	snap, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	v2 := signed.NewVerifier(policy, keys, clock) // its restart window covers the next 30 s
	addr, b2 := startBroker(t, broker.Options{Store: st, HoldAcks: true, Signed: v2})
	if rep, err := b2.Restore(snap); err != nil || !rep.ReplayState {
		t.Fatalf("restore: %+v %v", rep, err)
	}
	// Used once: deleted as it is loaded, so a crash now would not bring
	// it back stale.
	if again, err := st.Load(); err != nil || again.State["signed/replay"] != nil {
		t.Fatalf("the saved state outlived its loading: %v", err)
	}
	if code := publish(addr, 1, 2); code != packet.NotAuthorized {
		t.Fatalf("a replay of a message accepted before the restart: %v, want 0x87", code)
	}
	if code := publish(addr, 2, 3); code.IsError() {
		t.Fatalf("a fresh message right after the restart: %v (restart window not lifted)", code)
	}
	// The next clean shutdown saves it again.
	if err := b2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st = openDisk(t, storeDir)
	defer st.Close()
	snap, err = st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.State["signed/replay"]) == 0 {
		t.Fatal("the second clean shutdown saved no state")
	}
}
