package session

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// msgOf returns a delivery whose message topic carries id and whose queue
// weight is exactly size bytes (size must be at least overhead(id)).
func msgOf(id, size int) Delivery {
	topic := "q/" + strconv.Itoa(id)
	pad := size - (&Message{Topic: topic}).Size()
	if pad < 0 {
		panic("msgOf: size below the message overhead")
	}
	return Delivery{Msg: &Message{Topic: topic, Payload: make([]byte, pad)}}
}

// ids lists the ids carried by ds, in order.
func ids(ds []Delivery) []int {
	out := make([]int, len(ds))
	for i, d := range ds {
		n, err := strconv.Atoi(d.Msg.Topic[len("q/"):])
		if err != nil {
			panic(err)
		}
		out[i] = n
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

const unit = 100 // weight of one test message in bytes

func TestQueuePushBounds(t *testing.T) {
	tests := []struct {
		name     string
		maxItems int
		maxBytes int
		sizes    []int // weight of each pushed message, ids 0, 1, ...
		drops    []int // what each Push reports
		want     []int // ids left, oldest first
	}{
		{
			name:     "under both bounds",
			maxItems: 4, maxBytes: 4 * unit,
			sizes: []int{unit, unit, unit},
			drops: []int{0, 0, 0},
			want:  []int{0, 1, 2},
		},
		{
			name:     "item bound drops the oldest",
			maxItems: 3, maxBytes: 100 * unit,
			sizes: []int{unit, unit, unit, unit, unit},
			drops: []int{0, 0, 0, 1, 1},
			want:  []int{2, 3, 4},
		},
		{
			name:     "byte bound drops the oldest",
			maxItems: 100, maxBytes: 3 * unit,
			sizes: []int{unit, unit, unit, unit},
			drops: []int{0, 0, 0, 1},
			want:  []int{1, 2, 3},
		},
		{
			name:     "one large message drops several small ones",
			maxItems: 100, maxBytes: 4 * unit,
			sizes: []int{unit, unit, unit, unit, 3 * unit},
			drops: []int{0, 0, 0, 0, 3},
			want:  []int{3, 4},
		},
		{
			name:     "message of exactly the byte bound empties the queue",
			maxItems: 100, maxBytes: 4 * unit,
			sizes: []int{unit, unit, 4 * unit},
			drops: []int{0, 0, 2},
			want:  []int{2},
		},
		{
			name:     "single message over the byte bound is refused",
			maxItems: 100, maxBytes: 3 * unit,
			sizes: []int{unit, unit, 3*unit + 1},
			drops: []int{0, 0, 1},
			want:  []int{0, 1},
		},
		{
			name:     "refused message into an empty queue",
			maxItems: 100, maxBytes: unit,
			sizes: []int{unit + 1},
			drops: []int{1},
			want:  []int{},
		},
		{
			name:     "bound of one item",
			maxItems: 1, maxBytes: 100 * unit,
			sizes: []int{unit, unit, unit},
			drops: []int{0, 1, 1},
			want:  []int{2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(tc.maxItems, tc.maxBytes)
			for i, sz := range tc.sizes {
				if got := q.Push(msgOf(i, sz)); got != tc.drops[i] {
					t.Errorf("Push(#%d, %dB) dropped %d, want %d", i, sz, got, tc.drops[i])
				}
				if q.Len() > tc.maxItems || q.Bytes() > tc.maxBytes {
					t.Fatalf("after Push #%d: Len %d Bytes %d, over bounds %d/%d",
						i, q.Len(), q.Bytes(), tc.maxItems, tc.maxBytes)
				}
			}
			wantBytes := 0
			for _, id := range tc.want {
				wantBytes += tc.sizes[id]
			}
			if q.Len() != len(tc.want) || q.Bytes() != wantBytes {
				t.Errorf("Len %d Bytes %d, want %d and %d", q.Len(), q.Bytes(), len(tc.want), wantBytes)
			}
			if got := ids(q.Drain()); !slices.Equal(got, tc.want) {
				t.Errorf("Drain = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestQueuePeekPopEmpty(t *testing.T) {
	q := NewQueue(4, 10*unit)
	if _, ok := q.Peek(); ok {
		t.Error("Peek on an empty queue reported a delivery")
	}
	if _, ok := q.Pop(); ok {
		t.Error("Pop on an empty queue reported a delivery")
	}
	if got := q.Drain(); len(got) != 0 {
		t.Errorf("Drain on an empty queue = %v", ids(got))
	}
	q.Push(msgOf(7, unit))
	q.Push(msgOf(8, 2*unit))
	d, ok := q.Peek()
	if !ok || ids([]Delivery{d})[0] != 7 {
		t.Fatalf("Peek = %v, %v; want id 7", d, ok)
	}
	if q.Len() != 2 || q.Bytes() != 3*unit {
		t.Errorf("Peek changed the queue: Len %d Bytes %d", q.Len(), q.Bytes())
	}
	d, ok = q.Pop()
	if !ok || ids([]Delivery{d})[0] != 7 {
		t.Fatalf("Pop = %v, %v; want id 7", d, ok)
	}
	if q.Len() != 1 || q.Bytes() != 2*unit {
		t.Errorf("after Pop: Len %d Bytes %d, want 1 and %d", q.Len(), q.Bytes(), 2*unit)
	}
}

// TestQueueFIFOWrapAndGrow interleaves pushes and pops so that the ring's
// head moves off zero before it grows, which is where a copy that ignores
// the head would reorder entries.
func TestQueueFIFOWrapAndGrow(t *testing.T) {
	tests := []struct {
		name  string
		steps []int // >0: push that many; <0: pop that many
	}{
		{"grow from empty", []int{20}},
		{"wrap then grow", []int{6, -4, 6, 10}},
		{"wrap several times at fixed size", []int{5, -3, 5, -5, 5, -5, 5}},
		{"wrap, grow twice, drain part", []int{7, -6, 7, 9, -10, 30}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(1000, 1000*unit)
			var model []int
			next := 0
			for _, s := range tc.steps {
				for ; s > 0; s-- {
					if n := q.Push(msgOf(next, unit)); n != 0 {
						t.Fatalf("Push #%d dropped %d under bounds", next, n)
					}
					model = append(model, next)
					next++
				}
				for ; s < 0; s++ {
					d, ok := q.Pop()
					if !ok {
						t.Fatal("Pop reported empty; model has", len(model))
					}
					if got := ids([]Delivery{d})[0]; got != model[0] {
						t.Fatalf("Pop = %d, want %d", got, model[0])
					}
					model = model[1:]
				}
			}
			if got := ids(q.Drain()); !slices.Equal(got, model) {
				t.Errorf("Drain = %v, want %v", got, model)
			}
			if q.Len() != 0 || q.Bytes() != 0 {
				t.Errorf("after Drain: Len %d Bytes %d, want 0 and 0", q.Len(), q.Bytes())
			}
		})
	}
}

// TestQueueAgainstModel runs seeded random operations against a plain
// slice model of the documented behaviour.
func TestQueueAgainstModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			maxItems := 1 + r.IntN(40)
			maxBytes := (2 + r.IntN(30)) * unit
			q := NewQueue(maxItems, maxBytes)
			type entry struct{ id, size int }
			var model []entry
			weight := func() int {
				w := 0
				for _, e := range model {
					w += e.size
				}
				return w
			}
			for i := range 2000 {
				if r.IntN(3) == 0 {
					d, ok := q.Pop()
					if ok != (len(model) > 0) {
						t.Fatalf("op %d: Pop ok=%v with model length %d", i, ok, len(model))
					}
					if ok {
						if got := ids([]Delivery{d})[0]; got != model[0].id {
							t.Fatalf("op %d: Pop = %d, want %d", i, got, model[0].id)
						}
						model = model[1:]
					}
					continue
				}
				size := unit + r.IntN(3*unit)
				wantDrop := 0
				if size > maxBytes {
					wantDrop = 1
				} else {
					for len(model) > 0 && (len(model) >= maxItems || weight()+size > maxBytes) {
						model = model[1:]
						wantDrop++
					}
					model = append(model, entry{i, size})
				}
				if got := q.Push(msgOf(i, size)); got != wantDrop {
					t.Fatalf("op %d: Push dropped %d, want %d", i, got, wantDrop)
				}
				if q.Len() != len(model) || q.Bytes() != weight() {
					t.Fatalf("op %d: Len %d Bytes %d, want %d and %d", i, q.Len(), q.Bytes(), len(model), weight())
				}
			}
			want := make([]int, len(model))
			for i, e := range model {
				want[i] = e.id
			}
			if got := ids(q.Drain()); !slices.Equal(got, want) {
				t.Errorf("Drain = %v, want %v", got, want)
			}
		})
	}
}

func TestQueueReleasesBurstMemory(t *testing.T) {
	tests := []struct {
		name  string
		burst int
		empty func(q *Queue)
	}{
		{"popped one by one", 500, func(q *Queue) {
			for q.Len() > 0 {
				q.Pop()
			}
		}},
		{"drained", 500, func(q *Queue) { q.Drain() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(10000, 10000*unit)
			for i := range tc.burst {
				q.Push(msgOf(i, unit))
			}
			if len(q.items) < tc.burst {
				t.Fatalf("ring holds %d slots for %d entries", len(q.items), tc.burst)
			}
			tc.empty(q)
			if q.items != nil {
				t.Errorf("after the burst emptied the ring still holds %d slots; want it released", len(q.items))
			}
			// The queue stays usable after releasing its ring.
			q.Push(msgOf(1, unit))
			q.Push(msgOf(2, unit))
			if got := ids(q.Drain()); !slices.Equal(got, []int{1, 2}) {
				t.Errorf("after release Drain = %v, want [1 2]", got)
			}
		})
	}
}

func TestQueuePopClearsSlot(t *testing.T) {
	// A popped slot must not keep the message alive for the garbage
	// collector.
	q := NewQueue(8, 8*unit)
	q.Push(msgOf(1, unit))
	q.Push(msgOf(2, unit))
	q.Pop()
	for i, d := range q.items {
		if d.Msg != nil && d.Msg.Topic == "q/1" {
			t.Errorf("slot %d still references a popped message", i)
		}
	}
}

func TestQueueGrowthStopsAtItemBound(t *testing.T) {
	q := NewQueue(5, 1000*unit)
	for i := range 50 {
		q.Push(msgOf(i, unit))
	}
	if len(q.items) > 5 {
		t.Errorf("ring grew to %d slots, over the item bound 5", len(q.items))
	}
	if got := ids(q.Drain()); !slices.Equal(got, seq(45, 49)) {
		t.Errorf("Drain = %v, want %v", got, seq(45, 49))
	}
}
