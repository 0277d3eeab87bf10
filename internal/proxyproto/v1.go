package proxyproto

import (
	"io"
	"net/netip"
	"strings"
)

// v1MinSize is the shortest valid line, "PROXY UNKNOWN\r\n" [PP-2.1]; reading
// that many bytes at once cannot cross the end of a valid header.
const v1MinSize = 15

// readV1 reads the rest of a text header whose first byte ('P') was consumed.
// It reads the minimum line length at once, then two bytes at a time (one
// when the last byte is CR), so it stops exactly after the CRLF.
func readV1(r io.Reader) (*Header, error) {
	var buf [MaxV1Size]byte
	buf[0] = v1Signature[0]
	n := 1
	// Fail fast on anything that is not "PROXY " [PP-2.1].
	if err := fill(r, buf[:], &n, len(v1Signature)+1); err != nil {
		return nil, err
	}
	if string(buf[:n]) != v1Signature+" " {
		return nil, errorf(CodeSignature, 0, "signature", "not a PROXY header")
	}
	if err := fill(r, buf[:], &n, v1MinSize); err != nil {
		return nil, err
	}
	if err := checkLineBytes(buf[:n], 0); err != nil {
		return nil, err
	}
	for !endsWithCRLF(buf[:n]) {
		step := 2
		if buf[n-1] == '\r' {
			step = 1
		}
		if n+step > MaxV1Size {
			return nil, errorf(CodeTooLong, 1, "v1.line", "no CRLF within %d bytes", MaxV1Size)
		}
		from := n
		if err := fill(r, buf[:], &n, n+step); err != nil {
			return nil, err
		}
		if err := checkLineBytes(buf[:n], from); err != nil {
			return nil, err
		}
	}
	return parseV1(string(buf[:n-2]))
}

// fill reads into buf[*n:want], advancing *n; a short stream is CodeIO.
func fill(r io.Reader, buf []byte, n *int, want int) error {
	got, err := io.ReadFull(r, buf[*n:want])
	*n += got
	if err != nil {
		return ioError(1, "v1.line", err, true)
	}
	return nil
}

func endsWithCRLF(b []byte) bool {
	return len(b) >= 2 && b[len(b)-2] == '\r' && b[len(b)-1] == '\n'
}

// checkLineBytes validates the bytes from line[from:] on: printable
// US-ASCII, and CR only as the first half of a final CRLF; a lone CR or LF
// ends nothing [PP-2.1]. It rechecks line[from-1], a CR whose successor was
// not yet read.
func checkLineBytes(line []byte, from int) *Error {
	for i := max(from-1, 0); i < len(line); i++ {
		switch b := line[i]; {
		case b == '\r':
			if i+1 < len(line) && line[i+1] != '\n' {
				return errorf(CodeSyntax, 1, "v1.line", "CR not followed by LF at byte %d", i)
			}
		case b == '\n':
			if i == 0 || line[i-1] != '\r' {
				return errorf(CodeSyntax, 1, "v1.line", "LF without CR at byte %d", i)
			}
			if i != len(line)-1 {
				// Only possible inside the first v1MinSize bytes: a line
				// shorter than any valid one.
				return errorf(CodeSyntax, 1, "v1.line", "line ends at byte %d, shorter than any valid header", i+1)
			}
		case b < 0x20 || b > 0x7e:
			return errorf(CodeSyntax, 1, "v1.line", "byte 0x%02x at %d is not printable US-ASCII", b, i)
		}
	}
	return nil
}

// parseV1 parses a line without its CRLF:
// "PROXY" SP ("TCP4"|"TCP6") SP src SP dst SP sport SP dport, or
// "PROXY" SP "UNKNOWN" [SP anything] [PP-2.1].
func parseV1(line string) (*Header, error) {
	rest, ok := strings.CutPrefix(line, v1Signature+" ")
	if !ok {
		return nil, errorf(CodeSignature, 0, "signature", "not a PROXY header")
	}
	proto, rest, hasRest := strings.Cut(rest, " ")
	switch proto {
	case "UNKNOWN":
		// The receiver must ignore anything before the CRLF [PP-2.1].
		return &Header{Version: 1, Command: Local}, nil
	case "TCP4", "TCP6":
	default:
		return nil, errorf(CodeFamily, 1, "v1.protocol", "want TCP4, TCP6 or UNKNOWN")
	}
	if !hasRest {
		return nil, errorf(CodeSyntax, 1, "v1.line", "%s without addresses", proto)
	}
	var f [4]string
	for i := range f {
		var found bool
		f[i], rest, found = strings.Cut(rest, " ")
		if found != (i < len(f)-1) {
			return nil, errorf(CodeSyntax, 1, "v1.line", "%s needs exactly 4 fields after it, single-spaced", proto)
		}
	}
	v6 := proto == "TCP6"
	src, err := parseV1Addr(f[0], v6, "v1.source_address")
	if err != nil {
		return nil, err
	}
	dst, err := parseV1Addr(f[1], v6, "v1.destination_address")
	if err != nil {
		return nil, err
	}
	sport, err := parseV1Port(f[2], "v1.source_port")
	if err != nil {
		return nil, err
	}
	dport, err := parseV1Port(f[3], "v1.destination_port")
	if err != nil {
		return nil, err
	}
	return &Header{
		Version: 1,
		Command: Proxy,
		Source:  netip.AddrPortFrom(src, sport),
		Dest:    netip.AddrPortFrom(dst, dport),
	}, nil
}

// parseV1Addr accepts a dotted quad without leading zeros for TCP4, and
// colon-separated hex groups (no zone, no embedded dotted quad) for TCP6.
func parseV1Addr(s string, v6 bool, field string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errorf(CodeAddress, 1, field, "not an IP address")
	}
	if !v6 {
		if !a.Is4() {
			return netip.Addr{}, errorf(CodeAddress, 1, field, "TCP4 needs an IPv4 address")
		}
		return a, nil
	}
	if !a.Is6() || a.Zone() != "" || strings.Contains(s, ".") {
		return netip.Addr{}, errorf(CodeAddress, 1, field, "TCP6 needs an IPv6 address in hex groups, without zone")
	}
	return a, nil
}

// parseV1Port accepts decimal 0..65535 with no sign and no leading zero.
func parseV1Port(s, field string) (uint16, error) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, errorf(CodePort, 1, field, "want 0..65535 without leading zeros")
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errorf(CodePort, 1, field, "want decimal digits only")
		}
		v = v*10 + int(c-'0')
	}
	if v > 65535 {
		return 0, errorf(CodePort, 1, field, "%d is over 65535", v)
	}
	return uint16(v), nil
}
