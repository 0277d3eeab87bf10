package signed

import (
	"math"
	"testing"
)

func TestWindowEdges(t *testing.T) {
	type step struct {
		epoch, seq uint64
		want       Reason
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"duplicate", []step{{1, 10, OK}, {1, 10, ReasonReplayed}}},
		{"63 below the top is inside", []step{{1, 100, OK}, {1, 37, OK}, {1, 37, ReasonReplayed}}},
		{"64 below the top is outside", []step{{1, 100, OK}, {1, 36, ReasonTooOld}}},
		{"reordered", []step{{1, 5, OK}, {1, 3, OK}, {1, 4, OK}, {1, 2, OK}, {1, 6, OK}, {1, 3, ReasonReplayed}}},
		{"slide by exactly 63 keeps the old top", []step{{1, 10, OK}, {1, 73, OK}, {1, 10, ReasonReplayed}, {1, 9, ReasonTooOld}}},
		{"slide by 64 drops everything", []step{{1, 10, OK}, {1, 74, OK}, {1, 10, ReasonTooOld}, {1, 11, OK}}},
		{"a huge jump", []step{{1, 0, OK}, {1, math.MaxUint64, OK}, {1, math.MaxUint64, ReasonReplayed}, {1, math.MaxUint64 - 63, OK}, {1, 0, ReasonTooOld}}},
		{"seq 0 first", []step{{0, 0, OK}, {0, 0, ReasonReplayed}, {0, 1, OK}}},
		{"new epoch resets", []step{{1, 1000, OK}, {2, 1, OK}, {2, 1, ReasonReplayed}, {1, 1001, ReasonTooOld}}},
		{"old epoch", []step{{5, 1, OK}, {4, 2, ReasonTooOld}}},
		{"refused leaves no trace", []step{{1, 100, OK}, {1, 30, ReasonTooOld}, {1, 100, ReasonReplayed}, {1, 99, OK}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newReplayStore()
			k := replayKey{"id", "kid"}
			for i, st := range tc.steps {
				if got := s.admitSeq(k, st.epoch, st.seq, t0, t0, 10); got != st.want {
					t.Fatalf("step %d (%d, %d): %v, want %v", i, st.epoch, st.seq, got, st.want)
				}
			}
		})
	}
}

// TestWindowExhaustive compares the window with a set of everything
// accepted, for every order of a few sequence numbers around the edges.
func TestWindowExhaustive(t *testing.T) {
	seqs := []uint64{0, 1, 62, 63, 64, 65, 127, 128, 200}
	var w window
	w0 := window{epoch: 1, top: 64, bits: 1}
	for a := range seqs {
		for b := range seqs {
			for c := range seqs {
				w = w0
				seen := map[uint64]bool{64: true}
				top := uint64(64)
				for _, seq := range []uint64{seqs[a], seqs[b], seqs[c]} {
					var want Reason
					switch {
					case seq+WindowSize <= top:
						want = ReasonTooOld // whether seen or not: the window cannot tell
					case seen[seq]:
						want = ReasonReplayed
					}
					if got := w.admit(1, seq, t0); got != want {
						t.Fatalf("%v: seq %d: %v, want %v", []uint64{seqs[a], seqs[b], seqs[c]}, seq, got, want)
					}
					if want == OK {
						seen[seq] = true
						top = max(top, seq)
					}
				}
			}
		}
	}
}

func TestNonceCache(t *testing.T) {
	s := newReplayStore()
	s.raiseKeep(30)
	a, b := replayKey{"a", "ka"}, replayKey{"b", "kb"}
	n := func(i byte) []byte { return []byte{i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} }
	if got := s.admitNonce(a, n(1), t0, t0, 3, 2); got != OK {
		t.Fatal(got)
	}
	if got := s.admitNonce(a, n(1), t0, t0, 3, 2); got != ReasonReplayed {
		t.Fatalf("same nonce: %v", got)
	}
	if got := s.admitNonce(b, n(1), t0, t0, 3, 2); got != OK {
		t.Fatalf("same nonce, other key: %v", got)
	}
	if got := s.admitNonce(a, n(2), t0+10, t0, 3, 2); got != OK {
		t.Fatal(got)
	}
	if got := s.admitNonce(a, n(3), t0, t0, 3, 2); got != ReasonReplayFull {
		t.Fatalf("key at its share: %v", got)
	}
	if got := s.admitNonce(b, n(3), t0, t0, 3, 2); got != ReasonReplayFull {
		t.Fatalf("cache full: %v", got)
	}
	// At t0+30 the nonces issued at t0 could still be fresh: kept.
	if got := s.admitNonce(b, n(3), t0+30, t0+30, 3, 2); got != ReasonReplayFull {
		t.Fatalf("at the skew: %v", got)
	}
	// At t0+31 they go; the one issued at t0+10 stays.
	if got := s.admitNonce(b, n(3), t0+31, t0+31, 3, 2); got != OK {
		t.Fatalf("after the skew: %v", got)
	}
	if got := s.admitNonce(a, n(2), t0+31, t0+31, 3, 2); got != ReasonReplayed {
		t.Fatalf("t0+10 nonce at t0+31: %v", got)
	}
	if st := s.stats(); st.Nonces != 2 || len(s.perKey) != 2 || s.perKey[a] != 1 {
		t.Fatalf("stats %+v, per key %v", st, s.perKey)
	}
	s.sweep(t0 + 100)
	if st := s.stats(); st.Nonces != 0 || len(s.heap) != 0 || len(s.perKey) != 0 {
		t.Fatalf("after sweep %+v", st)
	}
}

// TestNonceHeap checks the expiry heap against a sort.
func TestNonceHeap(t *testing.T) {
	s := newReplayStore()
	exp := []int64{5, 3, 9, 1, 1, 7, 2, 8, 6, 4, 0}
	for i, e := range exp {
		s.push(nonceEntry{key: nonceKey{nonce: [NonceSize]byte{byte(i)}}, expires: e})
	}
	prev := int64(-1)
	for range exp {
		e := s.pop()
		if e.expires < prev {
			t.Fatalf("%d after %d", e.expires, prev)
		}
		prev = e.expires
	}
}

// TestKeepRaised checks that state is kept for the largest skew any policy
// had: lowering the skew by reload must not forget what a larger skew
// could still accept after another reload.
func TestKeepRaised(t *testing.T) {
	v, clk := newTestVerifier(t, Config{Rules: []RuleConfig{{Topics: []string{"#"}, Skew: 300e9}}})
	v.SetPolicy(mustPolicy(t, Config{Rules: []RuleConfig{{Topics: []string{"#"}}}}))
	s := v.replay
	if s.keep != 300 {
		t.Fatalf("keep %d", s.keep)
	}
	k := replayKey{"a", "k"}
	now := clk.Now().Unix()
	s.admitSeq(k, 1, 1, now, now, 10)
	s.sweep(now + 100)
	if len(s.windows) != 1 {
		t.Fatal("window forgotten within the kept skew")
	}
	s.sweep(now + 301)
	if len(s.windows) != 0 {
		t.Fatal("dead window kept")
	}
}
