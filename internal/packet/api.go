package packet

// This file declares the codec's entry points. Implementations live in
// varint.go, reader.go, decode*.go and encode*.go.

// VarintSize reports how many bytes the variable byte integer v takes.
func VarintSize(v uint32) int {
	switch {
	case v < 128:
		return 1
	case v < 16384:
		return 2
	case v < 2097152:
		return 3
	default:
		return 4
	}
}
