package scram

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"
)

// Bounds on client messages, checked before anything else is looked at. A
// client-final-message repeats the client nonce and carries the gs2
// header in base64, so it may be longer than the client-first-message.
const (
	maxClientFirst = 1024
	maxClientFinal = 4096
)

// Parse errors. Their text goes into Result.Detail: it never quotes the
// message, which holds nonces and proofs.
var (
	errTooLong        = errors.New("SCRAM message too long")
	errNotUTF8        = errors.New("SCRAM message is not valid UTF-8")
	errChannelBinding = errors.New("channel binding (gs2 flag p) is not supported")
	errGS2            = errors.New("malformed gs2 header")
	errMandatoryExt   = errors.New("unsupported mandatory extension (m=)")
	errUsername       = errors.New("malformed SCRAM user name")
	errAuthzid        = errors.New("malformed authorization identity")
	errNonce          = errors.New("malformed nonce")
	errExtension      = errors.New("malformed extension attribute")
	errAttrs          = errors.New("SCRAM attributes missing or out of order")
	errBinding        = errors.New("malformed channel binding attribute")
	errProof          = errors.New("malformed client proof")
)

// clientFirst is a parsed client-first-message (RFC 5802 section 7).
type clientFirst struct {
	gs2Header string // "n,,", "y,,", "n,a=...,", as sent
	authzid   string // decoded; empty when absent
	user      string // decoded
	nonce     string // the client nonce
	bare      string // client-first-message-bare, for the AuthMessage
}

// parseClientFirst parses
//
//	gs2-cbind-flag "," [ "a=" saslname ] "," [ "m=" ... "," ] "n=" saslname "," "r=" nonce [ "," extensions ]
//
// refusing channel binding and the reserved mandatory extension.
func parseClientFirst(data []byte) (clientFirst, error) {
	if len(data) > maxClientFirst {
		return clientFirst{}, errTooLong
	}
	if !utf8.Valid(data) {
		return clientFirst{}, errNotUTF8
	}
	s := string(data)
	var m clientFirst
	switch {
	case strings.HasPrefix(s, "p="):
		return clientFirst{}, errChannelBinding
	case strings.HasPrefix(s, "n,"), strings.HasPrefix(s, "y,"):
		// "y": the client could bind but thinks we cannot; we cannot, and
		// advertise no -PLUS mechanism, so that is right (RFC 5802 6).
	default:
		return clientFirst{}, errGS2
	}
	authz, bare, ok := strings.Cut(s[2:], ",")
	if !ok {
		return clientFirst{}, errGS2
	}
	if authz != "" {
		a, ok := strings.CutPrefix(authz, "a=")
		if !ok {
			return clientFirst{}, errGS2
		}
		if m.authzid, ok = decodeSASLName(a); !ok {
			return clientFirst{}, errAuthzid
		}
	}
	m.gs2Header = s[:len(s)-len(bare)]
	m.bare = bare
	attrs := strings.Split(bare, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		return clientFirst{}, errMandatoryExt
	}
	if len(attrs) < 2 {
		return clientFirst{}, errAttrs
	}
	n, ok := strings.CutPrefix(attrs[0], "n=")
	if !ok {
		return clientFirst{}, errAttrs
	}
	if m.user, ok = decodeSASLName(n); !ok {
		return clientFirst{}, errUsername
	}
	r, ok := strings.CutPrefix(attrs[1], "r=")
	if !ok {
		return clientFirst{}, errAttrs
	}
	if !validNonce(r) {
		return clientFirst{}, errNonce
	}
	m.nonce = r
	if !validExtensions(attrs[2:]) {
		return clientFirst{}, errExtension
	}
	return m, nil
}

// clientFinal is a parsed client-final-message (RFC 5802 section 7).
type clientFinal struct {
	binding      []byte // decoded c=
	nonce        string // r=, the full nonce
	proof        []byte // decoded p=
	withoutProof string // client-final-message-without-proof
}

// parseClientFinal parses
//
//	"c=" base64 "," "r=" nonce [ "," extensions ] "," "p=" base64
func parseClientFinal(data []byte) (clientFinal, error) {
	if len(data) > maxClientFinal {
		return clientFinal{}, errTooLong
	}
	if !utf8.Valid(data) {
		return clientFinal{}, errNotUTF8
	}
	s := string(data)
	attrs := strings.Split(s, ",")
	if len(attrs) < 3 {
		return clientFinal{}, errAttrs
	}
	var m clientFinal
	c, ok := strings.CutPrefix(attrs[0], "c=")
	if !ok {
		return clientFinal{}, errAttrs
	}
	b, err := base64.StdEncoding.Strict().DecodeString(c)
	if err != nil || len(b) == 0 {
		return clientFinal{}, errBinding
	}
	m.binding = b
	r, ok := strings.CutPrefix(attrs[1], "r=")
	if !ok {
		return clientFinal{}, errAttrs
	}
	if !validNonce(r) {
		return clientFinal{}, errNonce
	}
	m.nonce = r
	last := attrs[len(attrs)-1]
	p, ok := strings.CutPrefix(last, "p=")
	if !ok {
		return clientFinal{}, errAttrs
	}
	if !validExtensions(attrs[2 : len(attrs)-1]) {
		return clientFinal{}, errExtension
	}
	if m.proof, err = base64.StdEncoding.Strict().DecodeString(p); err != nil || len(m.proof) == 0 {
		return clientFinal{}, errProof
	}
	m.withoutProof = s[:len(s)-len(last)-1]
	return m, nil
}

// decodeSASLName decodes a saslname: "=2C" is ',' and "=3D" is '='; any
// other '=' and NUL are refused, and the result is not empty.
func decodeSASLName(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if !strings.ContainsAny(s, "=\x00") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0:
			return "", false
		case '=':
			switch {
			case strings.HasPrefix(s[i:], "=2C"):
				b.WriteByte(',')
			case strings.HasPrefix(s[i:], "=3D"):
				b.WriteByte('=')
			default:
				return "", false
			}
			i += 2
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), true
}

// validNonce reports whether s is a non-empty run of printable ASCII
// other than ','.
func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// definedAttrs are the attribute names RFC 5802 gives a meaning; an
// extension may not reuse one.
const definedAttrs = "acveimnprs"

// validExtensions reports whether each attribute is ALPHA "=" followed by
// at least one character (UTF-8 other than ',' and NUL; ',' is already
// split off) and names no defined attribute. Extensions are ignored.
func validExtensions(attrs []string) bool {
	for _, a := range attrs {
		if len(a) < 3 || a[1] != '=' || strings.IndexByte(a, 0) >= 0 {
			return false
		}
		if c := a[0] | 0x20; c < 'a' || c > 'z' || strings.IndexByte(definedAttrs, a[0]) >= 0 {
			return false
		}
	}
	return true
}
