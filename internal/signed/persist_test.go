package signed

import (
	"testing"
	"time"
)

// TestReplayStateAcrossCleanRestart: the state saved at a clean shutdown
// and loaded by the next verifier refuses the replays of what was accepted
// before, lifts the restart window for what was not, and drops what can
// no longer match.
func TestReplayStateAcrossCleanRestart(t *testing.T) {
	anyReplay := Config{Rules: []RuleConfig{{Topics: cmdRule.Topics, Replay: "any"}}}
	clk := newClock()
	v1 := NewVerifier(mustPolicy(t, anyReplay), testKeys(t), clk.Now)
	clk.Add(60 * time.Second)
	s := mustSigner(t, "valve-7-ed", edPriv)
	now := clk.Now().Unix()
	seq2 := signedMsg(t, s, claimsAt(cmdTopic, now, 2), nil, nil)
	nc := nonceClaims(cmdTopic, now)
	nonce := signedMsg(t, s, nc, nil, nil)
	for _, m := range []*Message{signedMsg(t, s, claimsAt(cmdTopic, now, 1), nil, nil), seq2, nonce} {
		if _, why := v1.Check(m); why != OK {
			t.Fatalf("before the restart: %v", why)
		}
	}
	state := v1.ExportReplay()

	// The next start, 5 s later: the restart window would refuse a fresh
	// message issued before it.
	clk.Add(5 * time.Second)
	v2 := NewVerifier(mustPolicy(t, anyReplay), testKeys(t), clk.Now)
	fresh := signedMsg(t, s, claimsAt(cmdTopic, now+3, 3), nil, nil)
	if err := v2.ImportReplay(state[:len(state)-1]); err == nil {
		t.Fatal("a truncated state was accepted")
	}
	if _, why := v2.Check(fresh); why != ReasonRestart {
		t.Fatalf("without the state, want the restart window, got %v", why)
	}
	if err := v2.ImportReplay(state); err != nil {
		t.Fatal(err)
	}
	if _, why := v2.Check(seq2); why != ReasonReplayed {
		t.Fatalf("replayed sequence number after the restart: %v", why)
	}
	if _, why := v2.Check(nonce); why != ReasonReplayed {
		t.Fatalf("replayed nonce after the restart: %v", why)
	}
	if _, why := v2.Check(signedMsg(t, s, claimsAt(cmdTopic, now+3, 4), nil, nil)); why != OK {
		t.Fatalf("a new message after the restart: %v", why)
	}
	if st := v2.Stats(); st.Windows != 1 || st.Nonces != 1 {
		t.Fatalf("state after import: %+v", st)
	}

	// A state so old that nothing in it can match is dropped, window
	// lifted all the same.
	clk.Add(10 * time.Minute)
	v3 := NewVerifier(mustPolicy(t, Config{Rules: []RuleConfig{cmdRule}}), testKeys(t), clk.Now)
	if err := v3.ImportReplay(state); err != nil {
		t.Fatal(err)
	}
	if st := v3.Stats(); st.Windows != 0 || st.Nonces != 0 {
		t.Fatalf("expired state imported: %+v", st)
	}
}

func FuzzImportReplay(f *testing.F) {
	clk := newClock()
	v := NewVerifier(nil, nil, clk.Now)
	f.Add(v.ExportReplay())
	f.Add([]byte{1, 30, 1, 1, 'a', 1, 'k', 1, 2, 3, 4, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		w := NewVerifier(nil, nil, clk.Now)
		if err := w.ImportReplay(b); err != nil {
			return
		}
		again := NewVerifier(nil, nil, clk.Now)
		if err := again.ImportReplay(w.ExportReplay()); err != nil {
			t.Fatalf("an imported state does not import again: %v", err)
		}
	})
}
