package password

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	gohash "hash"
	"log/slog"
	"strconv"
	"strings"
)

// SCRAM mechanisms, by their SASL names (RFC 5802, RFC 7677), which are
// also the MQTT 5 Authentication Method names.
const (
	SCRAMSHA256 = "SCRAM-SHA-256"
	SCRAMSHA512 = "SCRAM-SHA-512"
)

// Bounds on SCRAM credentials. The iteration floor is RFC 7677's minimum;
// the ceiling bounds what a client can make moat passwd spin. Keys and
// salts are never derived on the server at login, which only runs HMACs.
const (
	MinSCRAMIterations     = 4096
	MaxSCRAMIterations     = 10_000_000
	DefaultSCRAMIterations = 10000
	// SCRAMSaltLen is the salt length NewSCRAMCredential uses and the
	// shortest a file may hold.
	SCRAMSaltLen = 16
)

// scramMechs lists the mechanisms in the order Bytes and Users give them,
// with their file prefix (the SASL name in lower case) and hash.
var scramMechs = []struct {
	name, prefix string
	hash         func() gohash.Hash
}{
	{SCRAMSHA256, "scram-sha-256", sha256.New},
	{SCRAMSHA512, "scram-sha-512", sha512.New},
}

// SCRAMMechanisms returns the SCRAM mechanisms a password file can hold.
func SCRAMMechanisms() []string { return []string{SCRAMSHA256, SCRAMSHA512} }

func scramMech(name string) (prefix string, h func() gohash.Hash, ok bool) {
	for _, m := range scramMechs {
		if m.name == name {
			return m.prefix, m.hash, true
		}
	}
	return "", nil, false
}

// SCRAMCredential is what a server stores to verify one SCRAM mechanism
// (RFC 5802 section 3): the salt and iteration count the client derives
// SaltedPassword with, StoredKey = H(HMAC(SaltedPassword, "Client Key"))
// and ServerKey = HMAC(SaltedPassword, "Server Key"). The keys are
// password-equivalent for offline guessing, as a hash is: keep them secret.
//
// In a password file it is one field:
// $scram-sha-256$<iterations>$<salt>$<StoredKey>$<ServerKey>, in padded
// standard base64.
type SCRAMCredential struct {
	Mechanism  string // SCRAMSHA256 or SCRAMSHA512
	Iterations int
	Salt       []byte
	StoredKey  []byte // the hash's size
	ServerKey  []byte // the hash's size
}

// String describes c without its keys.
func (c SCRAMCredential) String() string {
	return fmt.Sprintf("%s i=%d salt=%dB", c.Mechanism, c.Iterations, len(c.Salt))
}

// LogValue implements slog.LogValuer without the keys.
func (c SCRAMCredential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// NewSCRAMCredential derives mechanism's credential for password with a
// fresh random salt of SCRAMSaltLen bytes. The password is used as given:
// SCRAM clients normalize it with SASLprep (RFC 4013), which changes
// nothing in printable ASCII.
func NewSCRAMCredential(mechanism string, password []byte, iterations int) (SCRAMCredential, error) {
	if len(password) == 0 {
		return SCRAMCredential{}, errors.New("empty password")
	}
	if _, _, ok := scramMech(mechanism); !ok {
		return SCRAMCredential{}, fmt.Errorf("unknown SCRAM mechanism %q", mechanism)
	}
	if iterations < MinSCRAMIterations || iterations > MaxSCRAMIterations {
		return SCRAMCredential{}, fmt.Errorf("SCRAM iteration count %d is outside %d..%d", iterations, MinSCRAMIterations, MaxSCRAMIterations)
	}
	salt := make([]byte, SCRAMSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return SCRAMCredential{}, err
	}
	return deriveSCRAM(mechanism, password, salt, iterations)
}

// deriveSCRAM computes the credential; mechanism must be known.
func deriveSCRAM(mechanism string, password, salt []byte, iterations int) (SCRAMCredential, error) {
	_, h, _ := scramMech(mechanism)
	salted, err := pbkdf2.Key(h, string(password), salt, iterations, h().Size())
	if err != nil {
		return SCRAMCredential{}, err
	}
	clientKey := scramHMAC(h, salted, "Client Key")
	d := h()
	d.Write(clientKey)
	return SCRAMCredential{
		Mechanism:  mechanism,
		Iterations: iterations,
		Salt:       salt,
		StoredKey:  d.Sum(nil),
		ServerKey:  scramHMAC(h, salted, "Server Key"),
	}, nil
}

func scramHMAC(h func() gohash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Verify reports whether c was derived from password. It costs a PBKDF2
// run of c.Iterations; the server never calls it at login.
func (c SCRAMCredential) Verify(password []byte) bool {
	if _, _, ok := scramMech(c.Mechanism); !ok || c.Iterations < 1 || c.Iterations > MaxSCRAMIterations {
		return false
	}
	got, err := deriveSCRAM(c.Mechanism, password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	return hmac.Equal(got.StoredKey, c.StoredKey) && hmac.Equal(got.ServerKey, c.ServerKey)
}

// validate checks c as parseSCRAM does.
func (c SCRAMCredential) validate() error {
	_, h, ok := scramMech(c.Mechanism)
	switch {
	case !ok:
		return fmt.Errorf("unknown SCRAM mechanism %q", c.Mechanism)
	case c.Iterations < MinSCRAMIterations || c.Iterations > MaxSCRAMIterations:
		return fmt.Errorf("%s iteration count %d is outside %d..%d", c.Mechanism, c.Iterations, MinSCRAMIterations, MaxSCRAMIterations)
	case len(c.Salt) < SCRAMSaltLen || len(c.Salt) > maxSaltLen:
		return fmt.Errorf("%s salt of %d bytes is outside %d..%d", c.Mechanism, len(c.Salt), SCRAMSaltLen, maxSaltLen)
	case len(c.StoredKey) != h().Size() || len(c.ServerKey) != h().Size():
		return fmt.Errorf("%s keys must be %d bytes", c.Mechanism, h().Size())
	}
	return nil
}

// encode returns c's password file field.
func (c SCRAMCredential) encode() string {
	prefix, _, _ := scramMech(c.Mechanism)
	b64 := base64.StdEncoding.EncodeToString
	return "$" + prefix + "$" + strconv.Itoa(c.Iterations) + "$" + b64(c.Salt) + "$" + b64(c.StoredKey) + "$" + b64(c.ServerKey)
}

// clone returns a deep copy of c.
func (c SCRAMCredential) clone() SCRAMCredential {
	c.Salt = append([]byte(nil), c.Salt...)
	c.StoredKey = append([]byte(nil), c.StoredKey...)
	c.ServerKey = append([]byte(nil), c.ServerKey...)
	return c
}

// parseSCRAM decodes one SCRAM field of a password file. It accepts only
// what encode writes, so that a file round-trips byte for byte. Errors do
// not quote the field: it holds keys.
func parseSCRAM(field string) (SCRAMCredential, error) {
	f := strings.Split(field, "$")
	// "", "scram-sha-256", iterations, salt, StoredKey, ServerKey
	if len(f) < 2 || f[0] != "" {
		return SCRAMCredential{}, errors.New("not a SCRAM credential (want $scram-sha-256$... or $scram-sha-512$...)")
	}
	var c SCRAMCredential
	for _, m := range scramMechs {
		if f[1] == m.prefix {
			c.Mechanism = m.name
		}
	}
	if c.Mechanism == "" {
		return SCRAMCredential{}, errors.New("unknown SCRAM mechanism (want $scram-sha-256$ or $scram-sha-512$)")
	}
	if len(f) != 6 {
		return SCRAMCredential{}, fmt.Errorf("malformed %s credential: want $%s$iterations$salt$StoredKey$ServerKey", c.Mechanism, f[1])
	}
	n, err := strconv.Atoi(f[2])
	if err != nil || strconv.Itoa(n) != f[2] {
		return SCRAMCredential{}, fmt.Errorf("malformed %s iteration count", c.Mechanism)
	}
	c.Iterations = n
	dec := base64.StdEncoding.Strict().DecodeString
	if c.Salt, err = dec(f[3]); err != nil {
		return SCRAMCredential{}, fmt.Errorf("malformed %s salt: want padded standard base64", c.Mechanism)
	}
	if c.StoredKey, err = dec(f[4]); err != nil {
		return SCRAMCredential{}, fmt.Errorf("malformed %s StoredKey: want padded standard base64", c.Mechanism)
	}
	if c.ServerKey, err = dec(f[5]); err != nil {
		return SCRAMCredential{}, fmt.Errorf("malformed %s ServerKey: want padded standard base64", c.Mechanism)
	}
	if err := c.validate(); err != nil {
		return SCRAMCredential{}, err
	}
	return c, nil
}

// parseSCRAMFields parses the fields after the groups, at most one per
// mechanism. first is the 1-based field number of fields[0].
func parseSCRAMFields(fields []string, first int) ([]SCRAMCredential, error) {
	var out []SCRAMCredential
	for i, s := range fields {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, fmt.Errorf("field %d is empty (want a SCRAM credential)", first+i)
		}
		if !strings.HasPrefix(s, "$") {
			return nil, fmt.Errorf("field %d is not a SCRAM credential (a group name cannot contain ':')", first+i)
		}
		c, err := parseSCRAM(s)
		if err != nil {
			return nil, fmt.Errorf("field %d: %v", first+i, err)
		}
		for _, prev := range out {
			if prev.Mechanism == c.Mechanism {
				return nil, fmt.Errorf("field %d: a second %s credential", first+i, c.Mechanism)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// scramShape is the iteration count and salt length of a credential.
type scramShape struct{ iter, saltLen int }

// commonSCRAMShapes returns, per mechanism, the shape most credentials
// have; the first in file order wins a tie.
func commonSCRAMShapes(creds [][]SCRAMCredential) map[string]scramShape {
	counts := map[string]map[scramShape]int{}
	best := map[string]scramShape{}
	for _, cs := range creds {
		for _, c := range cs {
			sh := scramShape{c.Iterations, len(c.Salt)}
			if counts[c.Mechanism] == nil {
				counts[c.Mechanism] = map[scramShape]int{}
			}
			counts[c.Mechanism][sh]++
			if b, ok := best[c.Mechanism]; !ok || counts[c.Mechanism][sh] > counts[c.Mechanism][b] {
				best[c.Mechanism] = sh
			}
		}
	}
	return best
}

// scramOrder is mechanism's position in scramMechs.
func scramOrder(mechanism string) int {
	for i, m := range scramMechs {
		if m.name == mechanism {
			return i
		}
	}
	return len(scramMechs)
}
