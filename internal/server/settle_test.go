package server

import (
	"testing"
	"time"
)

func TestSettler(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	const MiB = 1 << 20

	t.Run("start-up garbage settles once quiet", func(t *testing.T) {
		var st settler
		steps := []struct {
			total uint64
			sec   int
			want  bool
		}{
			{70 * MiB, 0, false},       // start-up: a burst, not quiet
			{70*MiB + 1000, 1, false},  // quiet from here
			{70*MiB + 2000, 2, false},  // 1 s quiet
			{70*MiB + 3000, 3, true},   // 2 s quiet: settle
			{70*MiB + 4000, 4, false},  // nothing new to settle
			{70*MiB + 5000, 5, false},  //
			{70*MiB + 6000, 20, false}, // still nothing
		}
		for i, s := range steps {
			if got := st.observe(s.total, 0, at(s.sec), time.Second); got != s.want {
				t.Fatalf("step %d (t=%ds): settle %v, want %v", i, s.sec, got, s.want)
			}
		}
	})

	t.Run("steady traffic never settles", func(t *testing.T) {
		var st settler
		total := uint64(0)
		for sec := range 600 {
			total += 20 * MiB // 20 MiB/s of messages
			if st.observe(total, 0, at(sec), time.Second) {
				t.Fatalf("settled under steady traffic at t=%ds", sec)
			}
		}
	})

	t.Run("a small burst does not settle", func(t *testing.T) {
		var st settler
		st.observe(1*MiB, 0, at(0), time.Second)
		for sec := 1; sec < 60; sec++ {
			if st.observe(1*MiB+uint64(sec)*1000, 0, at(sec), time.Second) {
				t.Fatalf("settled after a 1 MiB burst at t=%ds", sec)
			}
		}
	})

	t.Run("bursts add up and traffic restarts the quiet clock", func(t *testing.T) {
		var st settler
		st.observe(1000, 0, at(0), time.Second)
		st.observe(20*MiB, 0, at(1), time.Second) // burst 1
		st.observe(20*MiB, 0, at(2), time.Second) // quiet
		st.observe(20*MiB, 0, at(4), time.Second) // 2 s quiet, but 20 MiB is no burst
		st.observe(40*MiB, 0, at(5), time.Second) // burst 2: quiet clock restarts
		for _, sec := range []int{6, 7} {         // quiet since t=6: not 2 s yet
			if st.observe(40*MiB, 0, at(sec), time.Second) {
				t.Fatalf("t=%ds: settled before 2 s of quiet", sec)
			}
		}
		if !st.observe(40*MiB, 0, at(8), time.Second) {
			t.Fatal("40 MiB of bursts and 2 s quiet did not settle")
		}
	})

	t.Run("a burst small against the live heap does not settle", func(t *testing.T) {
		var st settler
		const live = 1 << 30 // a broker holding 1 GiB
		st.observe(10*MiB, live, at(0), time.Second)
		st.observe(300*MiB, live, at(1), time.Second) // a wave of 290 MiB
		for sec := 2; sec < 30; sec++ {
			if st.observe(300*MiB, live, at(sec), time.Second) {
				t.Fatalf("settled 290 MiB against a 1 GiB live heap at t=%ds", sec)
			}
		}
		st.observe(700*MiB, live, at(30), time.Second) // 690 MiB in all: more than half
		st.observe(700*MiB, live, at(31), time.Second)
		if !st.observe(700*MiB, live, at(33), time.Second) {
			t.Fatal("690 MiB against a 1 GiB live heap and 2 s quiet did not settle")
		}
	})
}
