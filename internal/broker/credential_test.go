package broker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil/poll"
)

// releasing allows everyone and counts the uses of its credentials that
// the broker ended (auth.Result.Release).
type releasing struct{ held, released atomic.Int64 }

func (r *releasing) Name() string { return "releasing" }

func (r *releasing) Authenticate(context.Context, *auth.Request) (auth.Result, error) {
	r.held.Add(1)
	return auth.Result{Decision: auth.Allow, Identity: &auth.Identity{Name: "dev"},
		Release: func() { r.released.Add(1) }}, nil
}

// TestCredentialReleasedWhenConnectionEnds: the broker holds an allowed
// credential for as long as the connection it admitted lasts (an
// authenticator keeps it cached meanwhile), and releases it once when the
// connection ends, refused after authentication included.
func TestCredentialReleasedWhenConnectionEnds(t *testing.T) {
	r := &releasing{}
	addr, _ := startBrokerWith(t, broker.Options{Auth: auth.Chain{r}}, func(l *broker.Limits) {
		l.ClientIDs = []string{"%u-*"}
	})
	c := dial(t, addr, v5("dev-1"))
	if ack := c.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	c.send(t, &packet.Pingreq{}, packet.V5)
	c.read(t, packet.V5)
	if got := r.released.Load(); got != 0 {
		t.Fatalf("released %d times while the connection is open", got)
	}
	c.send(t, &packet.Disconnect{}, packet.V5)
	poll.Until(t, 5*time.Second, "released once the connection ended", func() bool { return r.released.Load() == 1 })

	// Refused after authentication: a client id the identity may not use.
	bad := dial(t, addr, v5("other-1"))
	if ack := bad.read(t, packet.V5).(*packet.Connack); ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Fatalf("CONNACK %v, want client identifier not valid", ack.ReasonCode)
	}
	poll.Until(t, 5*time.Second, "released after the refusal", func() bool { return r.released.Load() == 2 })
	if h := r.held.Load(); h != 2 {
		t.Fatalf("held %d credentials, want 2", h)
	}
}
