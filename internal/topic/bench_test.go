package topic

import (
	"fmt"
	"testing"
)

// benchTree holds 10,000 subscriptions shaped like a fleet of devices:
// per-device command filters, per-site wildcards, shared job queues and a
// few catch-alls.
func benchTree(cacheSize int) *Tree[int] {
	tr := NewTree[int](cacheSize)
	for i := range 10000 {
		key := fmt.Sprint("client-", i)
		var f string
		switch i % 10 {
		case 0, 1, 2, 3, 4:
			f = fmt.Sprintf("devices/%d/cmd", i)
		case 5, 6:
			f = fmt.Sprintf("sites/%d/+/telemetry", i%200)
		case 7:
			f = fmt.Sprintf("$share/workers/jobs/%d/+", i%50)
		case 8:
			f = fmt.Sprintf("devices/+/status/%d", i%100)
		case 9:
			f = fmt.Sprintf("sites/%d/#", i%500)
		}
		tr.Add(f, key, i)
	}
	tr.Add("#", "monitor", 0)
	tr.Add("$SYS/#", "sys", 0)
	return tr
}

var benchTopics = []string{
	"devices/1230/cmd",
	"sites/17/dev9/telemetry",
	"jobs/7/run",
	"devices/42/status/42",
	"nobody/listens/here",
	"$SYS/broker/clients",
}

var sink *Matches[int]

func BenchmarkMatchCached(b *testing.B) {
	tr := benchTree(1024)
	for _, tp := range benchTopics {
		tr.Match(tp)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		sink = tr.Match(benchTopics[i%len(benchTopics)])
	}
}

func BenchmarkMatchCachedParallel(b *testing.B) {
	tr := benchTree(1024)
	for _, tp := range benchTopics {
		tr.Match(tp)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tr.Match(benchTopics[i%len(benchTopics)])
			i++
		}
	})
}

func BenchmarkMatchUncached(b *testing.B) {
	tr := benchTree(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink = tr.Match(benchTopics[i%len(benchTopics)])
	}
}

var boolSink bool

func BenchmarkMatchFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		boolSink = MatchFilter("sport/+/player1/#", "sport/tennis/player1/score/wimbledon")
	}
}

func BenchmarkAdd(b *testing.B) {
	const n = 1 << 16
	filters := make([]string, n)
	for i := range filters {
		filters[i] = fmt.Sprintf("devices/%d/+/cmd/%d", i%4096, i)
	}
	tr := NewTree[int](1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%n == 0 && i > 0 {
			b.StopTimer()
			tr = NewTree[int](1024)
			b.StartTimer()
		}
		tr.Add(filters[i%n], "client", i)
	}
}

func BenchmarkAddRemove(b *testing.B) {
	tr := benchTree(1024)
	b.ReportAllocs()
	for b.Loop() {
		tr.Add("devices/churn/cmd", "churner", 1)
		tr.Remove("devices/churn/cmd", "churner")
	}
}
