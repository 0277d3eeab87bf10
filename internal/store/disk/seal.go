package disk

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"sync"
	"sync/atomic"
)

// Every stored value is an envelope:
//
//	plain:  0x01 | plaintext | CRC-32C(key, plaintext)          (4 bytes)
//	sealed: 0x02 | epoch (8) | nonce (12) | AES-256-GCM(plaintext) | tag (16)
//
// A sealed value is encrypted with AES-256-GCM under a record key derived
// from the store key and the value's epoch (HKDF-SHA256), with a random
// 96-bit nonce, and the record's key as additional data: a value moved to
// another key fails authentication. A process draws a fresh random epoch
// at start and after every epochRecords values, which keeps every derived
// key far below the 2^32 random-nonce limit of GCM however long the store
// lives. Meta records are always plain; in an encrypted store every other
// value must be sealed (a plain one is refused, so an attacker cannot
// downgrade a record).
const (
	envPlain  byte = 1
	envSealed byte = 2

	// KeySize is the size of a store key: AES-256.
	KeySize = 32

	epochSize    = 8
	nonceSize    = 12
	tagSize      = 16
	sealedHeader = 1 + epochSize + nonceSize
	epochRecords = 1 << 30

	recordKeyInfo = "moat store record key v1"
	keyIDInfo     = "moat store key id v1"
	keyIDSize     = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(key, plaintext []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, plaintext)
}

// sealPlain appends the plain envelope of plaintext stored at key.
func sealPlain(dst, key, plaintext []byte) []byte {
	dst = append(dst, envPlain)
	dst = append(dst, plaintext...)
	return binary.BigEndian.AppendUint32(dst, checksum(key, plaintext))
}

// openPlain returns the plaintext of a plain envelope (a sub-slice of v).
func openPlain(key, v []byte) ([]byte, error) {
	if len(v) < 5 || v[0] != envPlain {
		return nil, corrupt(key, "not a plain record")
	}
	p := v[1 : len(v)-4]
	if binary.BigEndian.Uint32(v[len(v)-4:]) != checksum(key, p) {
		return nil, corrupt(key, "checksum mismatch")
	}
	return p, nil
}

// keyID is the non-secret identifier of a store key, kept in the store so
// that a wrong key is told apart from a corrupted record.
func keyID(master []byte) []byte {
	id, err := hkdf.Key(sha256.New, master, nil, keyIDInfo, keyIDSize)
	if err != nil {
		panic("disk: hkdf: " + err.Error()) // only for lengths out of range
	}
	return id
}

// epoch is a derived record key.
type epoch struct {
	id   [epochSize]byte
	aead cipher.AEAD
	used atomic.Uint64
}

// sealer seals and opens values. With a nil master key it writes plain
// envelopes and refuses sealed ones. Safe for concurrent use.
type sealer struct {
	master []byte
	cur    atomic.Pointer[epoch]

	mu    sync.Mutex // guards cache and the change of cur
	cache map[[epochSize]byte]cipher.AEAD
}

// maxCachedEpochs bounds the derived keys kept for reading; more epochs
// than this (a store opened that many times, with records left from each)
// are derived again for each read.
const maxCachedEpochs = 1024

func newSealer(master []byte) *sealer {
	s := &sealer{cache: make(map[[epochSize]byte]cipher.AEAD)}
	if master != nil {
		s.master = append([]byte(nil), master...)
	}
	return s
}

func (s *sealer) encrypted() bool { return s.master != nil }

func (s *sealer) derive(id [epochSize]byte) cipher.AEAD {
	k, err := hkdf.Key(sha256.New, s.master, id[:], recordKeyInfo, KeySize)
	if err != nil {
		panic("disk: hkdf: " + err.Error())
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		panic("disk: aes: " + err.Error()) // the key size is fixed
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("disk: gcm: " + err.Error())
	}
	return aead
}

// current returns the epoch to seal with, drawing a new one when the
// current one has sealed epochRecords values.
func (s *sealer) current() *epoch {
	if e := s.cur.Load(); e != nil && e.used.Add(1) <= epochRecords {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.cur.Load(); e != nil && e.used.Load() < epochRecords {
		e.used.Add(1)
		return e
	}
	e := &epoch{}
	rand.Read(e.id[:])
	e.aead = s.derive(e.id)
	e.used.Store(1)
	if len(s.cache) < maxCachedEpochs {
		s.cache[e.id] = e.aead
	}
	s.cur.Store(e)
	return e
}

// reader returns the key of an epoch, for opening.
func (s *sealer) reader(id [epochSize]byte) cipher.AEAD {
	s.mu.Lock()
	aead, ok := s.cache[id]
	s.mu.Unlock()
	if ok {
		return aead
	}
	aead = s.derive(id)
	s.mu.Lock()
	if len(s.cache) < maxCachedEpochs {
		s.cache[id] = aead
	}
	s.mu.Unlock()
	return aead
}

// seal appends the envelope of plaintext stored at key.
func (s *sealer) seal(dst, key, plaintext []byte) []byte {
	if s.master == nil {
		return sealPlain(dst, key, plaintext)
	}
	e := s.current()
	n := len(dst)
	dst = append(dst, envSealed)
	dst = append(dst, e.id[:]...)
	dst = append(dst, make([]byte, nonceSize)...)
	nonce := dst[n+1+epochSize:]
	rand.Read(nonce)
	return e.aead.Seal(dst, nonce, plaintext, key)
}

// open returns the plaintext of the envelope v stored at key. The result
// may share v's memory (plain envelopes) or be fresh (sealed ones).
func (s *sealer) open(key, v []byte) ([]byte, error) {
	if len(v) == 0 {
		return nil, corrupt(key, "empty value")
	}
	switch v[0] {
	case envPlain:
		if s.master != nil {
			return nil, corrupt(key, "a plain record in an encrypted store")
		}
		return openPlain(key, v)
	case envSealed:
		if s.master == nil {
			return nil, corrupt(key, "an encrypted record in a store opened without a key")
		}
		if len(v) < sealedHeader+tagSize {
			return nil, corrupt(key, "truncated")
		}
		var id [epochSize]byte
		copy(id[:], v[1:])
		p, err := s.reader(id).Open(nil, v[1+epochSize:sealedHeader], v[sealedHeader:], key)
		if err != nil {
			return nil, corrupt(key, "authentication failed (altered, truncated or moved)")
		}
		return p, nil
	}
	return nil, corrupt(key, "unknown envelope")
}
