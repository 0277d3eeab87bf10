package storetest

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/store"
)

// BenchOpener opens the backend's store in dir, in its strict (durable on
// return) or relaxed mode.
type BenchOpener func(tb testing.TB, dir string, relaxed bool) store.Store

// Benchmark measures a backend as docs/durability.md reports it:
//
//	Enqueue+Dequeue/{strict,strict-sync64,relaxed}/{16B,1KiB}/w{1,16}:
//	    one message enqueued and one dequeued per op by 1 or 16 concurrent
//	    writers, each with its own session keeping a window of 64 messages
//	    queued; msgs/s is the metric. strict: every write durable on return;
//	    strict-sync64: writes with ApplyNoSync and one Sync per 64 messages
//	    per writer (a pipelining connection); relaxed: the relaxed mode.
//	DiskPerMessage/{16B,1KiB}: bytes on disk per queued message after
//	    100,000 were queued and the store closed.
//	Open100k: Open+Load+Close of a store with 100,000 queued 1 KiB
//	    messages.
func Benchmark(b *testing.B, open BenchOpener) {
	for _, mode := range []string{"strict", "strict-sync64", "relaxed"} {
		for _, size := range []int{16, 1024} {
			for _, writers := range []int{1, 16} {
				name := fmt.Sprintf("Enqueue+Dequeue/%s/%s/w%d", mode, sizeName(size), writers)
				b.Run(name, func(b *testing.B) {
					benchEnqueueDequeue(b, open, mode, size, writers)
				})
			}
		}
	}
	for _, size := range []int{16, 1024} {
		b.Run("DiskPerMessage/"+sizeName(size), func(b *testing.B) { benchDisk(b, open, size) })
	}
	b.Run("Open100k", func(b *testing.B) { benchOpen(b, open) })
}

func sizeName(n int) string {
	if n >= 1024 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

func benchMsg(size int) *session.Message {
	return &session.Message{Topic: "bench/topic/with/some/levels", Payload: make([]byte, size), QoS: 1, Created: time.Now()}
}

func benchEnqueueDequeue(b *testing.B, open BenchOpener, mode string, size, writers int) {
	s := open(b, b.TempDir(), mode == "relaxed")
	defer s.Close()
	const window = 64
	write := func(id string, seq uint64, m *session.Message) error { return s.Enqueue(id, seq, m) }
	forget := s.Dequeue
	syncEvery := func(uint64) error { return nil }
	if mode == "strict-sync64" {
		write = func(id string, seq uint64, m *session.Message) error {
			return s.ApplyNoSync(&store.Batch{Ops: []store.Op{{Kind: store.OpEnqueue, ClientID: id, Seq: seq, Msg: m}}})
		}
		forget = func(id string, seq uint64) error {
			return s.ApplyNoSync(&store.Batch{Ops: []store.Op{{Kind: store.OpDequeue, ClientID: id, Seq: seq}}})
		}
		syncEvery = func(seq uint64) error {
			if seq%64 == 0 {
				return s.Sync()
			}
			return nil
		}
	}
	m := benchMsg(size)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		n := b.N / writers
		if w < b.N%writers {
			n++
		}
		wg.Go(func() {
			id := fmt.Sprintf("bench-%d", w)
			for seq := uint64(1); seq <= uint64(n); seq++ {
				if err := write(id, seq, m); err != nil {
					errs <- err
					return
				}
				if seq > window {
					if err := forget(id, seq-window); err != nil {
						errs <- err
						return
					}
				}
				if err := syncEvery(seq); err != nil {
					errs <- err
					return
				}
			}
			if err := s.Sync(); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

const benchQueued = 100_000

// fill queues n messages of size bytes over 100 sessions.
func fill(b *testing.B, s store.Store, n, size int) {
	m := benchMsg(size)
	var batch store.Batch
	for i := range n {
		batch.Enqueue(fmt.Sprintf("client-%d", i%100), uint64(i/100+1), m)
		if batch.Len() == 1000 {
			if err := s.Apply(&batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	if err := s.Apply(&batch); err != nil {
		b.Fatal(err)
	}
}

func benchDisk(b *testing.B, open BenchOpener, size int) {
	for range b.N {
		dir := b.TempDir()
		s := open(b, dir, false)
		fill(b, s, benchQueued, size)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(duSize(b, dir))/benchQueued, "bytes/msg")
	}
}

func benchOpen(b *testing.B, open BenchOpener) {
	dir := b.TempDir()
	s := open(b, dir, false)
	fill(b, s, benchQueued, 1024)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		s := open(b, dir, false)
		snap, err := s.Load()
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, r := range snap.Sessions {
			n += len(r.Queue)
		}
		if n != benchQueued {
			b.Fatalf("loaded %d messages, want %d", n, benchQueued)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// duSize is the size of the files under dir.
func duSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
