package disk

import (
	"bytes"
	"testing"

	"github.com/moatmq/moat/internal/store"
	"github.com/moatmq/moat/internal/store/storetest"
)

// testKey is a fixed store key for tests.
var testKey = bytes.Repeat([]byte{0x42}, KeySize)

func opener(o Options) storetest.Opener {
	return func(tb testing.TB, dir string) store.Store {
		tb.Helper()
		o := o
		o.Dir = dir
		s, err := Open(o)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
}

func TestContract(t *testing.T) {
	t.Run("strict+key", func(t *testing.T) { storetest.Run(t, opener(Options{Key: testKey})) })
	t.Run("relaxed+clear", func(t *testing.T) { storetest.Run(t, opener(Options{Mode: Relaxed})) })
}

// BenchmarkStore runs the storetest measurements with a key (the broker's
// default). docs/durability.md has the command and the
// figures.
func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(tb testing.TB, dir string, relaxed bool) store.Store {
		o := Options{Key: testKey}
		if relaxed {
			o.Mode = Relaxed
		}
		return opener(o)(tb, dir)
	})
}
