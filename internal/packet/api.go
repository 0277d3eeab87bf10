package packet

// This file declares the codec's entry points. Implementations live in
// varint.go, reader.go, decode*.go, encode*.go, check.go, props.go,
// validate.go and redact.go.
//
// Reading: NewReader, Reader.ReadPacket (header checks and the size limit
// before the body is read), Reader.ReadRaw, ReadFixedHeader, Decode,
// DecodeFrom and the typed DecodeConnect, DecodePublish, ... that fill a
// caller's struct.
//
// Writing: Append (checked by CheckEncode) and the typed, unchecked,
// allocation-free AppendConnect, AppendPublish, AppendPuback, ...; Size,
// Publish.Size, AckSize and Properties.Size report encoded sizes, and
// Properties.DropDiagnostics lets a sender fit a packet under the peer's
// Maximum Packet Size.
//
// Tables: PropAllowed and WillPropAllowed (property legality),
// ReasonAllowed (reason codes per packet type and sender), ValidUTF8.

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
