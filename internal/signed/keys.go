package signed

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/moatmq/moat/internal/errlist"
)

// Limits of the key registry.
const (
	MaxKeyIDLength    = 64       // bytes of a kid
	MaxIdentityLength = 1024     // bytes of an identity
	MaxKeyFileSize    = 16 << 20 // bytes of a key registry file
)

// Key is a public key bound to one publisher identity: a message signed
// with it is accepted only from a connection authenticated as Identity and
// only while the time is within [NotBefore, NotAfter).
type Key struct {
	ID        string    // the kid, unique in a registry
	Identity  string    // the only identity the key may sign for
	Alg       Alg       // fixed by the key type
	NotBefore time.Time // zero: no lower bound
	NotAfter  time.Time // zero: no upper bound
	// Public is an ed25519.PublicKey (EdDSA) or a *ecdsa.PublicKey on P-256
	// (ES256).
	Public any
	// Operator and OperatorSig are an operator's signature of the binding
	// (see SignBinding): the operator key's SPKIKeyID and the 64-byte
	// signature. Empty when the binding is not signed. The broker does not
	// check them; subscribers that trust only the operator do
	// (Keys.TrustOperator).
	Operator    string
	OperatorSig []byte
}

// Keys is an immutable key registry, safe for concurrent use. Reload by
// building a new one and passing it to Verifier.SetKeys.
type Keys struct {
	byID map[string]*Key
	// certIDs are the identities that may sign with the public key of
	// their verified client certificate (CertificateKey); certAny: every
	// identity authenticated by certificate.
	certIDs map[string]bool
	certAny bool
	// tokenIDs are the identities that may sign with the keys their login
	// token binds (TokenKey); tokenAny: every identity.
	tokenIDs map[string]bool
	tokenAny bool
}

// Lookup returns the key with the given kid, or nil.
func (k *Keys) Lookup(kid []byte) *Key {
	if k == nil {
		return nil
	}
	return k.byID[string(kid)] // no allocation for the lookup
}

// Len is the number of keys.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.byID)
}

// KeyError is one problem of a key registry, located by file and JSON
// path, such as "keys.json: keys[2].public_key: not a PEM block".
type KeyError struct {
	File string
	Path string
	Msg  string
}

func (e *KeyError) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if e.File != "" {
		s = e.File + ": " + s
	}
	return s
}

// NewKeys builds a registry from keys, checking each one; it reports every
// problem at once, as a *errlist.List[*KeyError].
func NewKeys(keys []Key) (*Keys, error) {
	r := &Keys{byID: make(map[string]*Key, len(keys))}
	var errs []*KeyError
	for i := range keys {
		if e := r.add(keys[i], fmt.Sprintf("keys[%d]", i)); e != nil {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, &errlist.List[*KeyError]{List: errs}
	}
	return r, nil
}

// add checks k and adds it to r under its kid.
func (r *Keys) add(k Key, path string) *KeyError {
	if field, msg := checkKey(&k); msg != "" {
		return &KeyError{Path: path + "." + field, Msg: msg}
	}
	if _, dup := r.byID[k.ID]; dup {
		return &KeyError{Path: path + ".kid", Msg: fmt.Sprintf("duplicate kid %q", k.ID)}
	}
	r.byID[k.ID] = &k
	return nil
}

// checkKey checks k and sets its Alg from its public key; on a problem it
// returns the field at fault and a message.
func checkKey(k *Key) (field, msg string) {
	switch {
	case k.ID == "" || len(k.ID) > MaxKeyIDLength || !printable(k.ID):
		return "kid", fmt.Sprintf("must be 1 to %d printable characters without spaces", MaxKeyIDLength)
	case k.Identity == "" || len(k.Identity) > MaxIdentityLength || !utf8.ValidString(k.Identity):
		return "identity", fmt.Sprintf("must be 1 to %d bytes of UTF-8", MaxIdentityLength)
	case !k.NotBefore.IsZero() && !k.NotAfter.IsZero() && !k.NotAfter.After(k.NotBefore):
		return "not_after", "not after not_before"
	}
	alg, err := keyAlg(k.Public)
	if err != nil {
		return "public_key", err.Error()
	}
	if k.Alg != 0 && k.Alg != alg {
		return "alg", fmt.Sprintf("%s does not match the %s key", k.Alg, alg)
	}
	k.Alg = alg
	return "", ""
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == ' ' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// keyAlg returns the algorithm a public key signs with.
func keyAlg(pub any) (Alg, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return EdDSA, nil
		}
	case *ecdsa.PublicKey:
		if k != nil && k.Curve == elliptic.P256() {
			return ES256, nil
		}
		return 0, errors.New("ECDSA key is not on P-256")
	}
	return 0, errors.New("key is neither Ed25519 nor ECDSA P-256")
}

// keyFile is the JSON key registry (docs/signed-topics.md, "Key registry").
type keyFile struct {
	Keys []keyEntry `json:"keys"`
	// CertificateKeys lists the identities that may sign with the key of
	// their client certificate; "*" for every identity.
	CertificateKeys []string `json:"certificate_keys,omitempty"`
	// TokenKeys lists the identities that may sign with the keys their
	// login token binds (the signing_keys claim); "*" for every identity.
	TokenKeys []string `json:"token_keys,omitempty"`
}

type keyEntry struct {
	KID           string `json:"kid"`
	Identity      string `json:"identity"`
	Alg           string `json:"alg,omitempty"`
	PublicKey     string `json:"public_key,omitempty"`
	PublicKeyFile string `json:"public_key_file,omitempty"`
	NotBefore     string `json:"not_before,omitempty"`
	NotAfter      string `json:"not_after,omitempty"`
	Operator      string `json:"operator,omitempty"`
	OperatorSig   string `json:"operator_sig,omitempty"`
}

// LoadKeys reads a key registry file; see ParseKeys.
func LoadKeys(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxKeyFileSize {
		return nil, &KeyError{File: path, Msg: fmt.Sprintf("larger than %d bytes", MaxKeyFileSize)}
	}
	return ParseKeys(data, path, filepath.Dir(path))
}

// ParseKeys decodes a JSON key registry strictly (unknown fields and
// trailing data refused) and reports every problem with its path. name
// labels errors; dir resolves relative public_key_file paths.
func ParseKeys(data []byte, name, dir string) (*Keys, error) {
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&kf)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(data, se.Offset)
			return nil, &KeyError{File: fmt.Sprintf("%s:%d:%d", name, line, col), Msg: se.Error()}
		}
		return nil, &KeyError{File: name, Msg: err.Error()}
	}
	r := &Keys{byID: make(map[string]*Key, len(kf.Keys))}
	var errs []*KeyError
	bad := func(i int, field, msg string) {
		errs = append(errs, &KeyError{File: name, Path: fmt.Sprintf("keys[%d].%s", i, field), Msg: msg})
	}
	identityList := func(field string, ids []string, anyID *bool, set *map[string]bool) {
		for i, id := range ids {
			switch {
			case id == "*":
				*anyID = true
			case id == "" || len(id) > MaxIdentityLength || !utf8.ValidString(id):
				errs = append(errs, &KeyError{File: name, Path: fmt.Sprintf("%s[%d]", field, i),
					Msg: fmt.Sprintf("must be \"*\" or an identity of 1 to %d bytes of UTF-8", MaxIdentityLength)})
			default:
				if *set == nil {
					*set = make(map[string]bool)
				}
				(*set)[id] = true
			}
		}
	}
	identityList("certificate_keys", kf.CertificateKeys, &r.certAny, &r.certIDs)
	identityList("token_keys", kf.TokenKeys, &r.tokenAny, &r.tokenIDs)
	for i, e := range kf.Keys {
		k := Key{ID: e.KID, Identity: e.Identity, Operator: e.Operator}
		ok := true
		if (e.Operator == "") != (e.OperatorSig == "") {
			bad(i, "operator_sig", "operator and operator_sig go together")
			ok = false
		} else if e.OperatorSig != "" {
			sig, err := base64.RawURLEncoding.Strict().DecodeString(e.OperatorSig)
			if err != nil || len(sig) != SignatureSize || strings.ContainsAny(e.OperatorSig, "\r\n") {
				bad(i, "operator_sig", "not the unpadded base64url of a 64-byte signature")
				ok = false
			}
			k.OperatorSig = sig
		}
		if e.Alg != "" {
			if k.Alg, ok = ParseAlg(e.Alg); !ok {
				bad(i, "alg", fmt.Sprintf("unknown algorithm %q (ed25519, es256)", e.Alg))
			}
		}
		pub, field, err := entryKey(e, dir)
		if err != nil {
			bad(i, field, err.Error())
			ok = false
		}
		k.Public = pub
		for _, t := range []struct {
			field, v string
			dst      *time.Time
		}{{"not_before", e.NotBefore, &k.NotBefore}, {"not_after", e.NotAfter, &k.NotAfter}} {
			if t.v == "" {
				continue
			}
			if *t.dst, err = time.Parse(time.RFC3339, t.v); err != nil {
				bad(i, t.field, "not an RFC 3339 time")
				ok = false
			}
		}
		if !ok {
			continue
		}
		if e := r.add(k, fmt.Sprintf("keys[%d]", i)); e != nil {
			e.File = name
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, &errlist.List[*KeyError]{List: errs}
	}
	return r, nil
}

// entryKey returns the public key of an entry and, on error, the field at
// fault.
func entryKey(e keyEntry, dir string) (any, string, error) {
	switch {
	case e.PublicKey != "" && e.PublicKeyFile != "":
		return nil, "public_key", errors.New("give public_key or public_key_file, not both")
	case e.PublicKeyFile != "":
		p := e.PublicKeyFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, "public_key_file", err
		}
		pub, err := ParsePublicKey(string(data))
		return pub, "public_key_file", err
	case e.PublicKey == "":
		return nil, "public_key", errors.New("missing (public_key or public_key_file)")
	}
	pub, err := ParsePublicKey(e.PublicKey)
	return pub, "public_key", err
}

// ParsePublicKey reads a public key given as a PEM "PUBLIC KEY" block
// (SubjectPublicKeyInfo, what openssl and moat sign keygen write) or as the
// unpadded base64url of a raw key: 32 bytes for Ed25519, the 65-byte
// uncompressed point 0x04||x||y for P-256.
func ParsePublicKey(s string) (any, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		block, rest := pem.Decode([]byte(s))
		if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
			return nil, errors.New("not exactly one PEM PUBLIC KEY block")
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		if _, err := keyAlg(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("neither a PEM block nor unpadded base64url")
	}
	switch len(raw) {
	case ed25519.PublicKeySize:
		return ed25519.PublicKey(raw), nil
	case 65:
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	}
	return nil, fmt.Errorf("a raw key is 32 bytes (Ed25519) or 65 (P-256 uncompressed), not %d", len(raw))
}

// lineCol locates a json.SyntaxError: its offset is just past the byte at
// fault.
func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off-1, 0), int64(len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
