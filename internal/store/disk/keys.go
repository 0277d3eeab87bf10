package disk

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// Record keys are namespaced by a prefix:
//
//	meta/<name>                        format version, key id (never encrypted)
//	session/<client id>                a session record
//	queue/<uvarint len><client id><seq as 8 bytes big-endian>
//	retained/<topic>                   a retained message
//	inbound/<uvarint len><client id><packet id as 2 bytes big-endian>
//	                                   an inbound QoS 2 id awaiting PUBREL (format 2)
//	state/<name>                       a named state record (format 2)
//
// Client ids and topics are arbitrary bytes. A session or retained key holds
// its name as the key's whole remainder, so no escaping is needed; a queue
// key length-prefixes the client id, so that one client's queue is a key
// range that no other client's key falls in ("a" and "a/b" included), and
// its messages sort by sequence number.
const (
	prefixMeta     = "meta/"
	prefixSession  = "session/"
	prefixQueue    = "queue/"
	prefixRetained = "retained/"
	prefixInbound  = "inbound/"
	prefixState    = "state/"
)

// Meta record names.
var (
	keyFormat = []byte(prefixMeta + "format")
	keyKeyID  = []byte(prefixMeta + "keyid")
)

// dataPrefixes are the prefixes of the records that hold broker state, in
// the order Load, Check and copies read them.
var dataPrefixes = []string{prefixSession, prefixQueue, prefixRetained, prefixInbound, prefixState}

func sessionKey(clientID string) []byte {
	return append([]byte(prefixSession), clientID...)
}

func retainedKey(topic string) []byte {
	return append([]byte(prefixRetained), topic...)
}

// queuePrefix is the key prefix of a client's queue.
func queuePrefix(clientID string) []byte { return clientPrefix(prefixQueue, clientID) }

func queueKey(clientID string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(queuePrefix(clientID), seq)
}

// clientPrefix is the key prefix of a client's records under prefix p.
func clientPrefix(p, clientID string) []byte {
	k := make([]byte, 0, len(p)+binary.MaxVarintLen64+len(clientID)+8)
	k = append(k, p...)
	k = binary.AppendUvarint(k, uint64(len(clientID)))
	return append(k, clientID...)
}

func inboundKey(clientID string, id uint16) []byte {
	return binary.BigEndian.AppendUint16(clientPrefix(prefixInbound, clientID), id)
}

// parseInboundKey splits an inbound key into client id and packet id.
func parseInboundKey(k []byte) (clientID string, id uint16, ok bool) {
	if len(k) < len(prefixInbound) || string(k[:len(prefixInbound)]) != prefixInbound {
		return "", 0, false
	}
	rest := k[len(prefixInbound):]
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) != n+2 {
		return "", 0, false
	}
	rest = rest[w:]
	id = binary.BigEndian.Uint16(rest[n:])
	return string(rest[:n]), id, id != 0
}

// parseQueueKey splits a queue key into client id and sequence number.
func parseQueueKey(k []byte) (clientID string, seq uint64, ok bool) {
	if len(k) < len(prefixQueue) || string(k[:len(prefixQueue)]) != prefixQueue {
		return "", 0, false
	}
	rest := k[len(prefixQueue):]
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) != n+8 {
		return "", 0, false
	}
	rest = rest[w:]
	return string(rest[:n]), binary.BigEndian.Uint64(rest[n:]), true
}

// prefixEnd is the smallest key greater than every key starting with p, or
// nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// recordName renders a record key for error messages and reports: quoted,
// so that a hostile client id or topic cannot forge log lines, and
// shortened past maxNameLen bytes.
func recordName(k []byte) string {
	const maxNameLen = 200
	q := func(s string) string {
		if len(s) > maxNameLen {
			return strconv.Quote(s[:maxNameLen]) + "..."
		}
		return strconv.Quote(s)
	}
	s := string(k)
	switch {
	case len(s) >= len(prefixQueue) && s[:len(prefixQueue)] == prefixQueue:
		if id, seq, ok := parseQueueKey(k); ok {
			return fmt.Sprintf("queue %s seq %d", q(id), seq)
		}
	case len(s) >= len(prefixSession) && s[:len(prefixSession)] == prefixSession:
		return "session " + q(s[len(prefixSession):])
	case len(s) >= len(prefixInbound) && s[:len(prefixInbound)] == prefixInbound:
		if id, pid, ok := parseInboundKey(k); ok {
			return fmt.Sprintf("inbound %s packet id %d", q(id), pid)
		}
	case len(s) >= len(prefixState) && s[:len(prefixState)] == prefixState:
		return "state " + q(s[len(prefixState):])
	case len(s) >= len(prefixRetained) && s[:len(prefixRetained)] == prefixRetained:
		return "retained " + q(s[len(prefixRetained):])
	case len(s) >= len(prefixMeta) && s[:len(prefixMeta)] == prefixMeta:
		return s
	}
	return "key " + q(s)
}
