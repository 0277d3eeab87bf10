package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/moatmq/moat/internal/packet"
)

// FormatVersion is the version of the line format written in every
// record's "v" key.
const FormatVersion = 1

// ZeroHash is the prev of the first record of a chain: 64 zeros.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineSize bounds one record's line, without its newline. The field
// limits keep written lines far below it; a reader refuses longer lines
// before parsing them.
const MaxLineSize = 32 << 10

// Field limits, in bytes, applied by RecordOf.
const (
	maxField  = 256
	maxDetail = 1024
)

// Record is one line of the audit log: an Event with its place in the
// chain. Its zero value is not a valid record: Seq starts at 1 and Prev is
// 64 hex digits.
type Record struct {
	Seq      uint64
	Time     time.Time
	Kind     Kind
	Listener string
	// Remote is the peer's address as written: "ip:port", an address
	// without a port, or "".
	Remote     string
	ClientID   string
	Identity   string
	Method     string
	Reason     packet.ReasonCode
	ReasonName string
	Detail     string
	// Count and SuppressedKind are set in Suppressed records only.
	Count          uint64
	SuppressedKind Kind
	Prev           string
}

// RecordOf converts an event into a record without its place in the chain
// (Seq, Prev): the time in UTC, the reason's name, and the fields limited
// as Limit does.
func RecordOf(e Event) Record {
	r := Record{
		Time:       e.Time.UTC(),
		Kind:       e.Kind,
		Listener:   e.Listener,
		ClientID:   e.ClientID,
		Identity:   e.Identity,
		Method:     e.Method,
		Reason:     e.Reason,
		ReasonName: e.Reason.String(),
		Detail:     e.Detail,
	}
	if e.Remote.IsValid() {
		r.Remote = e.Remote.String()
	}
	r.Limit()
	return r
}

// Limit replaces invalid UTF-8 and cuts the string fields to the format's
// limits (256 bytes, detail 1024), at a character boundary, marking the
// cut with "…".
func (r *Record) Limit() {
	r.Kind = Kind(clip(string(r.Kind), maxField))
	r.Listener = clip(r.Listener, maxField)
	r.Remote = clip(r.Remote, maxField)
	r.ClientID = clip(r.ClientID, maxField)
	r.Identity = clip(r.Identity, maxField)
	r.Method = clip(r.Method, maxField)
	r.ReasonName = clip(r.ReasonName, maxField)
	r.Detail = clip(r.Detail, maxDetail)
	r.SuppressedKind = Kind(clip(string(r.SuppressedKind), maxField))
	r.Prev = clip(r.Prev, maxField)
}

// clip makes s valid UTF-8 and at most n bytes (plus "…" when cut).
func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// AppendJSON appends the record's line in the canonical encoding described
// in the package documentation, without a newline.
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, FormatVersion, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	dst = appendField(dst, "kind", string(r.Kind))
	dst = appendField(dst, "listener", r.Listener)
	dst = appendField(dst, "remote", r.Remote)
	dst = appendField(dst, "client_id", r.ClientID)
	dst = appendField(dst, "identity", r.Identity)
	dst = appendField(dst, "method", r.Method)
	dst = append(dst, `,"reason":`...)
	dst = strconv.AppendUint(dst, uint64(r.Reason), 10)
	dst = appendField(dst, "reason_name", r.ReasonName)
	dst = appendField(dst, "detail", r.Detail)
	dst = append(dst, `,"count":`...)
	dst = strconv.AppendUint(dst, r.Count, 10)
	dst = appendField(dst, "suppressed_kind", string(r.SuppressedKind))
	dst = appendField(dst, "prev", r.Prev)
	return append(dst, '}')
}

func appendField(dst []byte, key, val string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return appendString(dst, val)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string in the canonical encoding.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for _, c := range s { // invalid bytes arrive as U+FFFD
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', byte(c))
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029':
			dst = append(dst, '\\', 'u', hexDigits[c>>12&0xf], hexDigits[c>>8&0xf], hexDigits[c>>4&0xf], hexDigits[c&0xf])
		default:
			dst = utf8.AppendRune(dst, c)
		}
	}
	return append(dst, '"')
}

// LineHash is the hex SHA-256 of a record's line (without its newline):
// the next record's prev.
func LineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// wireRecord is the decoding shape of a line.
type wireRecord struct {
	V              *int    `json:"v"`
	Seq            uint64  `json:"seq"`
	Time           string  `json:"time"`
	Kind           string  `json:"kind"`
	Listener       string  `json:"listener"`
	Remote         string  `json:"remote"`
	ClientID       string  `json:"client_id"`
	Identity       string  `json:"identity"`
	Method         string  `json:"method"`
	Reason         uint8   `json:"reason"`
	ReasonName     string  `json:"reason_name"`
	Detail         string  `json:"detail"`
	Count          uint64  `json:"count"`
	SuppressedKind string  `json:"suppressed_kind"`
	Prev           *string `json:"prev"`
}

// ErrNotCanonical reports a line that decodes but is not what the
// canonical encoding of its fields produces (key order, spacing, escapes,
// missing keys): no writer of this format wrote it.
var ErrNotCanonical = errors.New("not in the canonical encoding")

// ParseRecord parses one line (without its newline). It accepts exactly
// the lines AppendJSON produces for a valid record: version 1, seq of at
// least 1, a UTC RFC 3339 time, a non-empty kind, prev of 64 lowercase hex
// digits, every key once in the documented order, canonical escapes.
func ParseRecord(line []byte) (Record, error) {
	if len(line) > MaxLineSize {
		return Record{}, fmt.Errorf("line of %d bytes, over the limit of %d", len(line), MaxLineSize)
	}
	if len(line) == 0 || line[0] != '{' {
		return Record{}, errors.New("not a JSON object")
	}
	var w wireRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Record{}, fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Record{}, errors.New("bad JSON: data after the object")
	}
	switch {
	case w.V == nil || *w.V != FormatVersion:
		return Record{}, fmt.Errorf("format version is not %d", FormatVersion)
	case w.Seq == 0:
		return Record{}, errors.New("seq is 0")
	case w.Kind == "":
		return Record{}, errors.New("kind is empty")
	case w.Prev == nil || !isHash(*w.Prev):
		return Record{}, errors.New("prev is not 64 lowercase hex digits")
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return Record{}, fmt.Errorf("bad time: %w", err)
	}
	r := Record{Seq: w.Seq, Time: t.UTC(), Kind: Kind(w.Kind), Listener: w.Listener, Remote: w.Remote,
		ClientID: w.ClientID, Identity: w.Identity, Method: w.Method, Reason: packet.ReasonCode(w.Reason),
		ReasonName: w.ReasonName, Detail: w.Detail, Count: w.Count, SuppressedKind: Kind(w.SuppressedKind),
		Prev: *w.Prev}
	var buf [1024]byte
	if !bytes.Equal(r.AppendJSON(buf[:0]), line) {
		return Record{}, ErrNotCanonical
	}
	return r, nil
}

func isHash(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(hexDigits, rune(s[i])) {
			return false
		}
	}
	return true
}
