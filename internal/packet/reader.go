package packet

import (
	"errors"
	"io"
	"slices"
)

// ReadFixedHeader reads a fixed header: the type and flags byte and the
// remaining length. It checks only the variable byte integer rules; the
// rules that depend on the type and version are applied by Decode and
// Reader.ReadPacket. io.EOF before the first byte is returned as is; after
// it, as io.ErrUnexpectedEOF.
func ReadFixedHeader(r io.ByteReader) (FixedHeader, error) {
	b, err := r.ReadByte()
	if err != nil {
		return FixedHeader{}, err
	}
	n, err := ReadVarint(r)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if e, ok := err.(*Error); ok {
			e.Field = "header.remaining_length"
		}
		return FixedHeader{}, err
	}
	return FixedHeader{Type: Type(b >> 4), Flags: b & 0x0F, Remaining: int(n)}, nil
}

// DefaultMaxPacketSize is the packet size limit of a new Reader.
const DefaultMaxPacketSize = 1 << 20

// firstReadBuffer is the size of a Reader's first buffer: an idle
// connection's, which holds it for as long as it stays idle. A read that
// fills the buffer doubles the next one, up to the Reader's largest.
const firstReadBuffer = 128

// minReadBuffer is the least a Reader's buffer may grow to.
const minReadBuffer = 512

// Reader reads packets from a stream. It buffers small reads in a buffer
// that it allocates on the first read, starting at 128 bytes and growing up
// to the size given to NewReader only when reads fill it, so that idle
// connections stay lean. Packet bodies are read into a fresh allocation per
// packet, never into the shared buffer, so decoded packets may be kept.
// Bodies over 64 KiB are allocated as their bytes arrive.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	src     io.Reader
	buf     []byte
	r, w    int // buf[r:w] is buffered, unread data
	bufMax  int
	maxSize int
	origin  Origin
	err     error // sticky error from src, returned once buf is drained
	full    bool  // the last read filled buf
}

// NewReader returns a Reader on r whose buffer may grow to bufSize bytes
// (at least 512; 4096 when bufSize <= 0). The maximum packet size starts at
// DefaultMaxPacketSize.
func NewReader(r io.Reader, bufSize int) *Reader {
	if bufSize <= 0 {
		bufSize = 4096
	}
	if bufSize < minReadBuffer {
		bufSize = minReadBuffer
	}
	return &Reader{src: r, bufMax: bufSize, maxSize: DefaultMaxPacketSize}
}

// SetMaxPacketSize sets the largest whole packet (fixed header included)
// that ReadPacket accepts. n <= 0 or above MaxPacketSize means
// MaxPacketSize.
func (r *Reader) SetMaxPacketSize(n int) {
	if n <= 0 || n > MaxPacketSize {
		n = MaxPacketSize
	}
	r.maxSize = n
}

// MaxPacketSize reports the current limit.
func (r *Reader) MaxPacketSize() int { return r.maxSize }

// SetOrigin sets who sends the packets read; the default is FromClient.
func (r *Reader) SetOrigin(o Origin) { r.origin = o }

// Buffered reports how many bytes are buffered and not yet consumed.
func (r *Reader) Buffered() int { return r.w - r.r }

// fill reads more data into the buffer, which must be drained (every
// caller has consumed it). It returns an error only when no byte was read;
// an error that comes with data is kept for the next fill.
func (r *Reader) fill() error {
	r.r, r.w = 0, 0
	if r.err != nil {
		return r.takeErr()
	}
	switch {
	case r.buf == nil:
		r.buf = make([]byte, firstReadBuffer)
	case r.full && len(r.buf) < r.bufMax:
		// The last read filled the buffer: the connection is busy.
		r.buf = make([]byte, min(2*len(r.buf), r.bufMax))
	}
	for range 100 {
		n, err := r.src.Read(r.buf)
		if n < 0 || n > len(r.buf) {
			return errBadRead
		}
		r.w = n
		r.full = n == len(r.buf)
		if n > 0 {
			r.err = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

var errBadRead = errors.New("packet: source returned an invalid count")

// ReadByte implements io.ByteReader.
func (r *Reader) ReadByte() (byte, error) {
	if r.r == r.w {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	b := r.buf[r.r]
	r.r++
	return b, nil
}

// ReadPacket reads and decodes one packet for protocol version v. v == 0
// means no CONNECT has been read yet: only a CONNECT is accepted, anything
// else is a protocol error [MQTT-3.1.0-1].
//
// The fixed header is checked before the body is read: a packet larger
// than the maximum packet size is refused with PacketTooLarge without
// reading or allocating its body, and reserved types and flags are refused
// as malformed. io errors are returned as they are: io.EOF for a stream
// closed between packets, io.ErrUnexpectedEOF for one closed inside a
// packet. After any error the stream position is undefined: close the
// connection.
func (r *Reader) ReadPacket(v Version) (Packet, error) {
	h, body, err := r.ReadRaw(v)
	if err != nil {
		return nil, err
	}
	return DecodeFrom(h, body, v, r.origin)
}

// ReadRaw reads one packet without decoding it, applying the same header
// checks as ReadPacket. The body is a fresh allocation (nil when empty),
// owned by the caller.
func (r *Reader) ReadRaw(v Version) (FixedHeader, []byte, error) {
	h, err := ReadFixedHeader(r)
	if err != nil {
		return h, nil, err
	}
	if err := h.check(v); err != nil {
		return h, nil, err
	}
	if h.Size() > r.maxSize {
		// Bound before allocating: the body is neither read nor
		// allocated (3.1.2.11.4, 3.2.2.3.6).
		return h, nil, &Error{Code: PacketTooLarge, Field: "header.remaining_length",
			Msg: "packet exceeds the maximum packet size"}
	}
	if h.Remaining == 0 {
		return h, nil, nil
	}
	body, err := r.readBody(h.Remaining)
	if err != nil {
		return h, nil, err
	}
	return h, body, nil
}

// eagerBody is the largest body allocated in one piece before any of it
// has arrived. Larger bodies grow as their bytes arrive, so a peer that
// announces a large packet and then stalls holds at most twice what it
// has sent, not the announced size.
const eagerBody = 64 << 10

func (r *Reader) readBody(n int) ([]byte, error) {
	if n <= eagerBody {
		body := make([]byte, n)
		return body, r.readFull(body)
	}
	body := make([]byte, 0, eagerBody)
	for len(body) < n {
		if len(body) == cap(body) {
			body = slices.Grow(body, min(cap(body), n-len(body)))
		}
		chunk := body[len(body):min(cap(body), n)]
		if err := r.readFull(chunk); err != nil {
			return nil, err
		}
		body = body[:len(body)+len(chunk)]
	}
	return body[:n:n], nil
}

// readFull fills p from the buffer and then the source. Large remainders
// are read straight into p; small ones go through the buffer so that the
// next packet's header comes with the same read.
func (r *Reader) readFull(p []byte) error {
	n := copy(p, r.buf[r.r:r.w])
	r.r += n
	for n < len(p) {
		if len(p)-n >= len(r.buf) {
			if r.err != nil {
				return unexpected(r.takeErr())
			}
			m, err := io.ReadFull(r.src, p[n:])
			n += m
			if err != nil {
				return unexpected(err)
			}
			continue
		}
		if err := r.fill(); err != nil {
			return unexpected(err)
		}
		m := copy(p[n:], r.buf[r.r:r.w])
		r.r += m
		n += m
	}
	return nil
}

func (r *Reader) takeErr() error {
	err := r.err
	r.err = nil
	return err
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
