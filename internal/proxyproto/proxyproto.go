// Package proxyproto reads the HAProxy PROXY protocol header, versions 1
// (text) and 2 (binary), that a load balancer puts in front of a proxied TCP
// stream to name the real client.
//
// The reader is strict and bounded: it reads exactly one header and never a
// byte past it, it allocates at most MaxV2Size bytes, and anything that does
// not match the specification exactly is refused with an *Error naming the
// field at fault. Section numbers in comments ("[PP-2.1]") refer to HAProxy's
// proxy-protocol.txt.
//
// Trust is separate from parsing: Accept honours a header only from a peer in
// a Trusted set, requires one from such a peer, and refuses a connection that
// sends a header from anywhere else.
package proxyproto

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// Limits of the format. MaxV1Size comes from the specification; MaxV2Size is
// Moat's own cap on a binary header (the wire format allows 16+65535 bytes)
// and MaxTLVs its cap on the TLVs kept from one header.
const (
	MaxV1Size = 107  // [PP-2.1] longest line, CRLF included
	MaxV2Size = 4096 // whole binary header: 16 fixed bytes + address block + TLVs
	MaxTLVs   = 32   // TLVs kept per header (PP2_TYPE_NOOP is skipped, not kept)
)

// Command says whose addresses a header carries.
type Command uint8

// The values are the v2 wire values of the command nibble.
const (
	// Local: the proxy opened the connection itself (a health check), or a
	// v1 header said UNKNOWN. The socket's own addresses apply.
	Local Command = 0x0
	// Proxy: the connection is relayed; Source and Dest are the real ones.
	Proxy Command = 0x1
)

// String names the command.
func (c Command) String() string {
	switch c {
	case Local:
		return "LOCAL"
	case Proxy:
		return "PROXY"
	}
	return fmt.Sprintf("Command(%d)", uint8(c))
}

// TLVType is the type byte of a v2 TLV.
type TLVType uint8

// Registered TLV types [PP-2.2].
const (
	TLVALPN      TLVType = 0x01
	TLVAuthority TLVType = 0x02
	TLVCRC32C    TLVType = 0x03 // verified by Read when present
	TLVNoop      TLVType = 0x04 // skipped by Read
	TLVUniqueID  TLVType = 0x05 // at most 128 bytes
	TLVSSL       TLVType = 0x20 // sub-TLVs are kept raw in Value
	TLVNetNS     TLVType = 0x30
)

// TLV is one type-length-value entry of a v2 header. Value aliases a buffer
// owned by its Header and is at most MaxV2Size bytes.
type TLV struct {
	Type  TLVType
	Value []byte
}

// Header is what a PROXY header says. For Command Proxy, Source and Dest are
// valid and of the same family; for Command Local they are the zero value and
// the socket's addresses apply. Addresses are reported as sent: an
// IPv4-mapped IPv6 address in a TCP6 or AF_INET6 header stays IPv6.
type Header struct {
	Version int     // 1 or 2
	Command Command // Proxy or Local (v1 "UNKNOWN" is Local)
	Source  netip.AddrPort
	Dest    netip.AddrPort
	TLVs    []TLV // v2 only; at most MaxTLVs, in wire order, NOOP left out
}

// TLV returns the value of the first TLV of type t, and whether there is one.
func (h *Header) TLV(t TLVType) ([]byte, bool) {
	for _, v := range h.TLVs {
		if v.Type == t {
			return v.Value, true
		}
	}
	return nil, false
}

// Code classifies what was wrong with a header. It is stable and suitable as
// a log value or metric label.
type Code uint8

// Codes returned in Error.Code.
const (
	CodeIO          Code = iota + 1 // the stream failed or ended inside the header; Err says how
	CodeSignature                   // the stream does not start with a PROXY signature
	CodeTooLong                     // v1 line without CRLF in MaxV1Size bytes, or v2 header over MaxV2Size
	CodeSyntax                      // v1 line malformed: spacing, characters, CR/LF, field count
	CodeVersion                     // v2 version nibble is not 2
	CodeCommand                     // v2 command is neither LOCAL nor PROXY
	CodeFamily                      // unknown family or transport, or one not allowed with the command
	CodeUnsupported                 // valid but not supported here: AF_UNIX, DGRAM
	CodeLength                      // v2 length disagrees with the address family
	CodeAddress                     // address malformed or of the wrong family
	CodePort                        // port malformed or out of range
	CodeTLV                         // TLV truncated, too many, too long, or duplicated
	CodeChecksum                    // CRC32c TLV does not match the header
)

var codeNames = [...]string{
	CodeIO:          "io",
	CodeSignature:   "signature",
	CodeTooLong:     "too_long",
	CodeSyntax:      "syntax",
	CodeVersion:     "version",
	CodeCommand:     "command",
	CodeFamily:      "family",
	CodeUnsupported: "unsupported",
	CodeLength:      "length",
	CodeAddress:     "address",
	CodePort:        "port",
	CodeTLV:         "tlv",
	CodeChecksum:    "checksum",
}

// String returns the stable snake_case name of the code.
func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Error reports a malformed or unreadable header. Version is 1 or 2 once the
// signature was recognised, else 0. Err holds the I/O error for CodeIO (a
// deadline, io.EOF, io.ErrUnexpectedEOF) and is reachable with errors.Is.
// Messages never quote more than a few header bytes.
type Error struct {
	Code    Code
	Version int
	Field   string // e.g. "v1.source_port", "v2.length", "v2.tlv[3]"
	Msg     string
	Err     error
}

// Error formats the version, code, field and message.
func (e *Error) Error() string {
	s := "proxyproto"
	if e.Version != 0 {
		s += fmt.Sprintf(" v%d", e.Version)
	}
	s += ": " + e.Code.String()
	if e.Field != "" && e.Field != e.Code.String() {
		s += ": " + e.Field
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying I/O error, if any.
func (e *Error) Unwrap() error { return e.Err }

func errorf(code Code, version int, field, format string, args ...any) *Error {
	return &Error{Code: code, Version: version, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ioError wraps a read failure. io.EOF after part of a header becomes
// io.ErrUnexpectedEOF; io.EOF before the first byte stays io.EOF.
func ioError(version int, field string, err error, started bool) *Error {
	if started && errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &Error{Code: CodeIO, Version: version, Field: field, Err: err}
}

// v2Signature is the 12-byte prefix of every binary header [PP-2.2].
var v2Signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// v1Signature is the prefix of every text header [PP-2.1].
const v1Signature = "PROXY"

// Read reads exactly one PROXY header, version 1 or 2, from r and nothing
// after it: it never asks r for a byte beyond the header's end, so the stream
// that follows stays in r. Any malformed header, or a stream that does not
// start with one, yields an *Error. Read allocates at most MaxV2Size bytes
// and needs no deadline of its own: the caller bounds the time.
func Read(r io.Reader) (*Header, error) {
	var first [1]byte
	if _, err := io.ReadFull(r, first[:]); err != nil {
		return nil, ioError(0, "signature", err, false)
	}
	switch first[0] {
	case v1Signature[0]:
		return readV1(r)
	case v2Signature[0]:
		return readV2(r)
	}
	return nil, errorf(CodeSignature, 0, "signature", "first byte 0x%02x starts neither v1 nor v2", first[0])
}
