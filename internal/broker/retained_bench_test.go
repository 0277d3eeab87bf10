package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/topic"
)

// BenchmarkRetainedWildcard measures what one wildcard SUBSCRIBE costs
// with 100,000 retained messages: a filter with one match, "#" capped at
// what a session can hold (1,024 inflight + 1,000 queued), and, as the
// baseline of the same run, the linear scan the index replaced.
func BenchmarkRetainedWildcard(b *testing.B) {
	r := newRetainedStore(200000, &metrics.Metrics{})
	now := time.Now()
	for i := range 100000 {
		t := "site/" + strconv.Itoa(i) + "/temp"
		m := &session.Message{Topic: t, Payload: []byte("21.5"), Created: now}
		r.msgs[t] = m
		r.index.Set(t, m)
	}
	b.Run("one-match-linear-baseline", func(b *testing.B) {
		for b.Loop() {
			n := 0
			for t := range r.msgs {
				if topic.MatchFilter("site/4242/+", t) {
					n++
				}
			}
			if n != 1 {
				b.Fatalf("%d matches", n)
			}
		}
	})
	for _, tc := range []struct {
		name, filter string
		limit, want  int
	}{
		{"one-match", "site/4242/+", 2024, 1},
		{"hash-capped", "#", 2024, 2024},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if got := len(r.matching(tc.filter, tc.limit)); got != tc.want {
					b.Fatalf("%d matches, want %d", got, tc.want)
				}
			}
		})
	}
}
