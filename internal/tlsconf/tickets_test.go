package tlsconf

import (
	"crypto/tls"
	"testing"
	"time"
)

func TestTicketKeyRotation(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	tk := ticketKeys{now: func() time.Time { return clock }}
	c := &tls.Config{}
	if err := tk.rotate(c); err != nil {
		t.Fatal(err)
	}
	first := tk.keys[0]
	// Within the hour, nothing changes.
	clock = clock.Add(ticketKeyRotation - time.Second)
	if err := tk.rotate(c); err != nil || len(tk.keys) != 1 || tk.keys[0] != first {
		t.Fatalf("rotated early: %d keys, err %v", len(tk.keys), err)
	}
	// Every hour a new key goes first; at most ticketKeyCount are kept,
	// so the first key is dropped after ticketKeyCount rotations.
	for i := 1; i <= ticketKeyCount; i++ {
		clock = clock.Add(ticketKeyRotation)
		if err := tk.rotate(c); err != nil {
			t.Fatal(err)
		}
		if want := min(i+1, ticketKeyCount); len(tk.keys) != want {
			t.Fatalf("rotation %d: %d keys, want %d", i, len(tk.keys), want)
		}
		if tk.keys[0] == tk.keys[1] {
			t.Fatalf("rotation %d: the new key repeats the previous one", i)
		}
		kept := false
		for _, k := range tk.keys {
			kept = kept || k == first
		}
		if want := i < ticketKeyCount; kept != want {
			t.Fatalf("rotation %d: first key kept %v, want %v", i, kept, want)
		}
	}
}
