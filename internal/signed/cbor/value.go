package cbor

// Kind is the type of a Value.
type Kind uint8

// The kinds of values of the subset.
const (
	KindUint  Kind = iota + 1 // Value.Uint
	KindNeg                   // the integer -1-Value.Uint
	KindBytes                 // Value.Bytes
	KindText                  // Value.Bytes, valid UTF-8
	KindArray                 // Value.Items
	KindMap                   // Value.Items: key, value, key, value...
	KindTag                   // tag Value.Uint of Value.Items[0]
	KindBool                  // Value.Bool
	KindNull
)

// Value is any value of the subset, for tools, tests and fuzzing. The
// signature path does not build Values: it reads the fields it expects
// with a Decoder.
type Value struct {
	Kind  Kind
	Uint  uint64
	Bool  bool
	Bytes []byte
	Items []Value
}

// Decode decodes exactly one value that fills data, with every rule of the
// package: a map key must be an integer or a text string. Strings are
// slices of data.
func Decode(data []byte) (Value, error) {
	d := NewDecoder(data)
	v, err := d.value(1)
	if err != nil {
		return Value{}, err
	}
	if !d.Done() {
		return Value{}, d.fail(d.off, "trailing bytes after the value")
	}
	return v, nil
}

func (d *Decoder) value(depth int) (Value, error) {
	start := d.off
	if depth > MaxDepth {
		return Value{}, d.fail(start, "nested too deeply")
	}
	m, err := d.Peek()
	if err != nil {
		return Value{}, err
	}
	switch m {
	case MajorUint, MajorNeg:
		_, arg, err := d.head()
		return Value{Kind: KindUint + Kind(m), Uint: arg}, err
	case MajorBytes:
		b, err := d.Bytes()
		return Value{Kind: KindBytes, Bytes: b}, err
	case MajorText:
		b, err := d.Text()
		return Value{Kind: KindText, Bytes: b}, err
	case MajorArray:
		n, err := d.Array()
		if err != nil {
			return Value{}, err
		}
		v := Value{Kind: KindArray, Items: make([]Value, n)}
		for i := range v.Items {
			if v.Items[i], err = d.value(depth + 1); err != nil {
				return Value{}, err
			}
		}
		return v, nil
	case MajorMap:
		return d.mapValue(depth)
	case MajorTag:
		tag, err := d.Tag()
		if err != nil {
			return Value{}, err
		}
		if tag != TagCOSESign1 {
			return Value{}, d.fail(start, "tag other than 18")
		}
		inner, err := d.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: KindTag, Uint: tag, Items: []Value{inner}}, nil
	}
	if d.Null() {
		return Value{Kind: KindNull}, nil
	}
	b, err := d.Bool()
	if err != nil {
		// Parse the head for its precise complaint (floating point,
		// reserved, indefinite); a simple value below 24 other than
		// false, true and null is just unsupported.
		if _, _, herr := d.head(); herr != nil {
			return Value{}, herr
		}
		return Value{}, d.fail(start, "simple value other than false, true, null")
	}
	return Value{Kind: KindBool, Bool: b}, nil
}

func (d *Decoder) mapValue(depth int) (Value, error) {
	n, err := d.Map()
	if err != nil {
		return Value{}, err
	}
	v := Value{Kind: KindMap, Items: make([]Value, 2*n)}
	var order KeyOrder
	for i := 0; i < n; i++ {
		start := d.off
		if m, err := d.Peek(); err != nil {
			return Value{}, err
		} else if m != MajorUint && m != MajorNeg && m != MajorText {
			return Value{}, d.fail(start, "map key is not an integer or a text string")
		}
		if v.Items[2*i], err = d.value(depth + 1); err != nil {
			return Value{}, err
		}
		if err := order.Next(d, start); err != nil {
			return Value{}, err
		}
		if v.Items[2*i+1], err = d.value(depth + 1); err != nil {
			return Value{}, err
		}
	}
	return v, nil
}

// Append appends the deterministic encoding of v. Map entries are written
// in the order of v.Items: Decode returns them sorted, a caller building a
// map sorts them.
func Append(b []byte, v Value) []byte {
	switch v.Kind {
	case KindUint, KindNeg:
		return AppendHead(b, byte(v.Kind-KindUint), v.Uint)
	case KindBytes:
		return AppendBytes(b, v.Bytes)
	case KindText:
		return append(AppendHead(b, MajorText, uint64(len(v.Bytes))), v.Bytes...)
	case KindArray:
		b = AppendArray(b, len(v.Items))
	case KindMap:
		b = AppendMap(b, len(v.Items)/2)
	case KindTag:
		b = AppendTag(b, v.Uint)
	case KindBool:
		return AppendBool(b, v.Bool)
	case KindNull:
		return AppendNull(b)
	}
	for _, it := range v.Items {
		b = Append(b, it)
	}
	return b
}
