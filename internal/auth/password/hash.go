// Package password authenticates MQTT clients by user name and password
// against a password file of hashed passwords.
//
// New hashes are argon2id in the PHC string format. Verification also
// accepts the formats a Mosquitto password file holds ($7$ PBKDF2-SHA512
// and $6$ salted SHA-512) and bcrypt, so that such files load unchanged;
// those are reported as legacy so that operators can rehash them.
//
// Only hashes are stored, comparisons are constant-time, and a user who
// does not exist costs a hash verification like one who does.
//
// A user may also hold SCRAM credentials (SCRAMCredential), which the
// scram package verifies in MQTT 5 enhanced authentication; Authenticator
// serves them from the same atomically reloaded snapshot.
package password

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Scheme names a password hash format.
type Scheme string

// Schemes that Verify understands. Only Argon2id is written by Hash; the
// others are legacy.
const (
	Argon2id     Scheme = "argon2id"      // $argon2id$v=19$m=..,t=..,p=..$salt$hash
	PBKDF2SHA512 Scheme = "pbkdf2-sha512" // Mosquitto 2.x: $7$iterations$salt$hash
	SHA512       Scheme = "sha512"        // Mosquitto 1.x: $6$salt$hash
	Bcrypt       Scheme = "bcrypt"        // $2a$, $2b$, $2y$
)

// Legacy reports whether hashes of this scheme should be replaced by
// argon2id ones.
func (s Scheme) Legacy() bool { return s != Argon2id }

// Params tune argon2id. Memory is in KiB.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams returns the parameters Hash is meant to be called with:
// 64 MiB, 2 passes, 2 lanes, a 16-byte salt and a 32-byte key. One
// verification takes about 40-50 ms on a 2-core x86-64 machine (measured
// with Go 1.26), so a reconnect storm is bounded by the authenticator's
// concurrency limit and success cache rather than by the CPU.
func DefaultParams() Params {
	return Params{Memory: 64 * 1024, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// The floor Hash refuses to go below follows the OWASP minimums for
// argon2id (19 MiB with 2 passes, or more memory with fewer passes):
// Memory >= 19 MiB and Memory*Time >= 38 MiB. The ceilings bound what a
// single verification may allocate or spin, for hashes read from a file.
const (
	minMemory     = 19 * 1024
	minMemoryTime = 2 * minMemory
	minSaltLen    = 16
	minKeyLen     = 16

	maxMemory  = 1024 * 1024 // 1 GiB
	maxTime    = 64
	maxSaltLen = 1024
	maxKeyLen  = 1024

	minPBKDF2Iter = 1
	maxPBKDF2Iter = 10_000_000
)

// Validate reports whether p is at or above the floor and within the
// ceilings Hash accepts.
func (p Params) Validate() error {
	switch {
	case p.Memory < minMemory:
		return fmt.Errorf("argon2id memory %d KiB is below the minimum of %d KiB", p.Memory, minMemory)
	case p.Memory > maxMemory:
		return fmt.Errorf("argon2id memory %d KiB is above the maximum of %d KiB", p.Memory, maxMemory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id time %d is outside 1..%d", p.Time, maxTime)
	case uint64(p.Memory)*uint64(p.Time) < minMemoryTime:
		return fmt.Errorf("argon2id memory*time %d KiB is below the minimum of %d KiB (use more memory or more passes)",
			uint64(p.Memory)*uint64(p.Time), minMemoryTime)
	case p.Threads < 1:
		return errors.New("argon2id threads must be at least 1")
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2id salt length %d is outside %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2id key length %d is outside %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Hash returns the argon2id hash of password in PHC string format with a
// fresh random salt. It refuses an empty password and parameters below
// the floor (see Params.Validate).
func Hash(password []byte, p Params) (string, error) {
	if len(password) == 0 {
		return "", errors.New("empty password")
	}
	if err := p.Validate(); err != nil {
		return "", err
	}
	return hashArgon2id(password, p)
}

// hashArgon2id hashes without checking the floor; the dummy hash for
// unknown users must mirror whatever the file holds.
func hashArgon2id(password []byte, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether password matches the encoded hash, and whether
// the hash is of a legacy scheme (anything but argon2id). err is set only
// when encoded is not a hash Verify understands; legacy is then false.
func Verify(encoded string, password []byte) (ok bool, legacy bool, err error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	return h.check(password), h.scheme.Legacy(), nil
}

// hash is a parsed encoded hash.
type hash struct {
	scheme Scheme
	params Params // argon2id
	iter   int    // PBKDF2 iterations
	salt   []byte
	key    []byte
	raw    []byte // bcrypt: the whole encoded hash
}

// mosquittoKeyLen is the size of a Mosquitto hash: a SHA-512 digest.
const mosquittoKeyLen = sha512.Size

// parseHash decodes encoded. It checks every field, so that a file that
// loads holds only hashes that can be verified.
func parseHash(encoded string) (*hash, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		return parseArgon2id(encoded)
	case strings.HasPrefix(encoded, "$7$"):
		return parseMosquitto7(encoded)
	case strings.HasPrefix(encoded, "$6$"):
		return parseMosquitto6(encoded)
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		if _, err := bcrypt.Cost([]byte(encoded)); err != nil {
			return nil, fmt.Errorf("malformed bcrypt hash: %v", err)
		}
		return &hash{scheme: Bcrypt, raw: []byte(encoded)}, nil
	case strings.HasPrefix(encoded, "$argon2i$"), strings.HasPrefix(encoded, "$argon2d$"):
		return nil, errors.New("unsupported hash format (only the argon2id variant of argon2 is accepted)")
	}
	return nil, errors.New("unknown hash format (want $argon2id$, $7$, $6$ or bcrypt $2a$/$2b$/$2y$)")
}

func parseArgon2id(encoded string) (*hash, error) {
	f := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(f) != 6 {
		return nil, errors.New("malformed argon2id hash: want $argon2id$v=19$m=M,t=T,p=P$salt$hash")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("unsupported argon2id version %q (want v=%d)", f[2], argon2.Version)
	}
	var m, t, p uint64
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return nil, errors.New("malformed argon2id parameters: want m=M,t=T,p=P")
	}
	for i, dst := range []*uint64{&m, &t, &p} {
		name := "mtp"[i : i+1]
		v, ok := strings.CutPrefix(ps[i], name+"=")
		if !ok {
			return nil, errors.New("malformed argon2id parameters: want m=M,t=T,p=P")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("malformed argon2id parameter %s: %q", name, v)
		}
		*dst = n
	}
	switch {
	case m < 8*p || m > maxMemory:
		return nil, fmt.Errorf("argon2id memory %d KiB is outside %d..%d", m, 8*p, maxMemory)
	case t < 1 || t > maxTime:
		return nil, fmt.Errorf("argon2id time %d is outside 1..%d", t, maxTime)
	case p < 1 || p > 255:
		return nil, fmt.Errorf("argon2id threads %d is outside 1..255", p)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(f[4])
	if err != nil || len(salt) < 8 || len(salt) > maxSaltLen {
		return nil, errors.New("malformed argon2id salt: want 8 or more bytes in unpadded base64")
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(f[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return nil, fmt.Errorf("malformed argon2id hash value: want %d..%d bytes in unpadded base64", minKeyLen, maxKeyLen)
	}
	return &hash{
		scheme: Argon2id,
		params: Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		salt:   salt,
		key:    key,
	}, nil
}

// decodeB64 decodes standard base64 with or without padding, as Mosquitto
// writes it padded but other tools drop the padding.
func decodeB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
}

func parseMosquitto7(encoded string) (*hash, error) {
	f := strings.Split(encoded, "$")
	// "", "7", iterations, salt, key
	if len(f) != 5 {
		return nil, errors.New("malformed $7$ hash: want $7$iterations$salt$hash")
	}
	iter, err := strconv.Atoi(f[2])
	if err != nil || iter < minPBKDF2Iter || iter > maxPBKDF2Iter {
		return nil, fmt.Errorf("malformed $7$ iteration count %q: want %d..%d", f[2], minPBKDF2Iter, maxPBKDF2Iter)
	}
	salt, key, err := mosquittoSaltKey(f[3], f[4])
	if err != nil {
		return nil, fmt.Errorf("malformed $7$ hash: %v", err)
	}
	return &hash{scheme: PBKDF2SHA512, iter: iter, salt: salt, key: key}, nil
}

func parseMosquitto6(encoded string) (*hash, error) {
	f := strings.Split(encoded, "$")
	// "", "6", salt, key
	if len(f) != 4 {
		return nil, errors.New("malformed $6$ hash: want $6$salt$hash (Mosquitto's format, not crypt(3)'s)")
	}
	salt, key, err := mosquittoSaltKey(f[2], f[3])
	if err != nil {
		return nil, fmt.Errorf("malformed $6$ hash (Mosquitto's format, not crypt(3)'s): %v", err)
	}
	return &hash{scheme: SHA512, salt: salt, key: key}, nil
}

func mosquittoSaltKey(s, k string) (salt, key []byte, err error) {
	salt, err = decodeB64(s)
	if err != nil || len(salt) == 0 || len(salt) > maxSaltLen {
		return nil, nil, errors.New("salt is not base64")
	}
	key, err = decodeB64(k)
	if err != nil || len(key) != mosquittoKeyLen {
		return nil, nil, fmt.Errorf("hash is not %d bytes in base64", mosquittoKeyLen)
	}
	return salt, key, nil
}

// check computes the hash of password with h's salt and parameters and
// compares it with h's in constant time.
func (h *hash) check(password []byte) bool {
	var got []byte
	switch h.scheme {
	case Argon2id:
		got = argon2.IDKey(password, h.salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	case PBKDF2SHA512:
		k, err := pbkdf2.Key(sha512.New, string(password), h.salt, h.iter, mosquittoKeyLen)
		if err != nil {
			return false
		}
		got = k
	case SHA512:
		d := sha512.New()
		d.Write(password)
		d.Write(h.salt)
		got = d.Sum(nil)
	case Bcrypt:
		// CompareHashAndPassword compares in constant time.
		return bcrypt.CompareHashAndPassword(h.raw, password) == nil
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// shape identifies the scheme and cost of h: two hashes of one shape cost
// the same to verify.
func (h *hash) shape() string {
	switch h.scheme {
	case Argon2id:
		p := h.params
		return fmt.Sprintf("argon2id m=%d t=%d p=%d s=%d k=%d", p.Memory, p.Time, p.Threads, p.SaltLen, p.KeyLen)
	case PBKDF2SHA512:
		return fmt.Sprintf("pbkdf2-sha512 i=%d s=%d", h.iter, len(h.salt))
	case SHA512:
		return fmt.Sprintf("sha512 s=%d", len(h.salt))
	case Bcrypt:
		cost, _ := bcrypt.Cost(h.raw)
		return fmt.Sprintf("bcrypt c=%d", cost)
	}
	return string(h.scheme)
}

// dummyLike returns a hash of a random password with the same shape as h,
// so that verifying against it costs what verifying against h does.
func dummyLike(h *hash) (string, error) {
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return "", err
	}
	switch h.scheme {
	case Argon2id:
		return hashArgon2id(pw, h.params)
	case PBKDF2SHA512:
		salt := make([]byte, len(h.salt))
		if _, err := rand.Read(salt); err != nil {
			return "", err
		}
		key, err := pbkdf2.Key(sha512.New, string(pw), salt, h.iter, mosquittoKeyLen)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("$7$%d$%s$%s", h.iter, base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key)), nil
	case SHA512:
		salt := make([]byte, len(h.salt))
		if _, err := rand.Read(salt); err != nil {
			return "", err
		}
		d := sha512.New()
		d.Write(pw)
		d.Write(salt)
		return fmt.Sprintf("$6$%s$%s", base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(d.Sum(nil))), nil
	case Bcrypt:
		cost, err := bcrypt.Cost(h.raw)
		if err != nil {
			return "", err
		}
		b, err := bcrypt.GenerateFromPassword(pw, cost)
		return string(b), err
	}
	return "", fmt.Errorf("no dummy for scheme %s", h.scheme)
}
