package disk

import (
	"testing"

	"github.com/moatmq/moat/internal/store/storetest"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoders and the
// envelope opener: they must fail cleanly, never panic or allocate beyond
// the input. A message that decodes must encode back to bytes that decode
// to the same message.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeMessage(nil, storetest.FullMessage("a/b")))
	f.Add(encodeMessage(nil, storetest.Msg("t", 1)))
	f.Add(encodeSession(nil, storetest.FullSession("c")))
	f.Add(sealPlain(nil, []byte("k"), encodeMessage(nil, storetest.Msg("t", 1))))
	f.Add(newSealer(testKey).seal(nil, []byte("k"), []byte("x")))
	f.Add([]byte{kindMessage, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{kindSession, 0, 5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	clear, sealed := newSealer(nil), newSealer(testKey)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeMessage(b); err == nil {
			again, err := decodeMessage(encodeMessage(nil, m))
			if err != nil || !storetest.Equal(again, m) {
				t.Fatalf("message does not survive a re-encoding: %v", err)
			}
		}
		if s, err := decodeSession("c", b); err == nil {
			again, err := decodeSession("c", encodeSession(nil, s))
			if err != nil || !storetest.Equal(again, s) {
				t.Fatalf("session does not survive a re-encoding: %v", err)
			}
		}
		clear.open([]byte("k"), b)
		sealed.open([]byte("k"), b)
		parseQueueKey(b)
		recordName(b)
	})
}
