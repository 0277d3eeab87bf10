package jwt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	jose "github.com/go-jose/go-jose/v4"
)

// Limits on what the key files may hold.
const (
	maxKeyFileSize = 1 << 20 // bytes per PEM, JWKS or secret file
	maxKeys        = 1000    // keys in one snapshot
	minRSABits     = 2048
	minHMACSecret  = 32 // bytes
)

// verifyKey is one key able to verify tokens of exactly one algorithm. Keys
// are chosen by algorithm first, so an asymmetric key never meets an HS256
// token and the HMAC secret never meets an RS256 one.
type verifyKey struct {
	alg jose.SignatureAlgorithm
	kid string // empty for PEM keys and the HMAC secret: they match any kid
	key any    // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte
	src string // file the key came from, for errors and logs
}

// keySet is one loaded version of every configured key file. It is never
// mutated after load.
type keySet struct {
	keys     []verifyKey
	stats    []os.FileInfo // one per file, in load order
	warnings []string      // JWKS keys skipped as unusable
}

// loadKeys reads every key file named by o. Any malformed file is an error
// that names the file.
func loadKeys(o *Options) (*keySet, error) {
	ks := &keySet{}
	for _, path := range o.Keys {
		data, st, err := readBounded(path)
		if err != nil {
			return nil, err
		}
		keys, err := parsePEMKeys(data)
		if err != nil {
			return nil, fmt.Errorf("jwt key file %s: %w", path, err)
		}
		for _, k := range keys {
			k.src = path
			ks.keys = append(ks.keys, k)
		}
		ks.stats = append(ks.stats, st)
	}
	if o.JWKSFile != "" {
		data, st, err := readBounded(o.JWKSFile)
		if err != nil {
			return nil, err
		}
		keys, warnings, err := parseJWKS(data)
		if err != nil {
			return nil, fmt.Errorf("jwt JWKS file %s: %w", o.JWKSFile, err)
		}
		for _, k := range keys {
			k.src = o.JWKSFile
			ks.keys = append(ks.keys, k)
		}
		for _, w := range warnings {
			ks.warnings = append(ks.warnings, o.JWKSFile+": "+w)
		}
		ks.stats = append(ks.stats, st)
	}
	if o.HMACSecretFile != "" {
		data, st, err := readBounded(o.HMACSecretFile)
		if err != nil {
			return nil, err
		}
		secret := bytes.TrimSpace(data)
		if len(secret) < minHMACSecret {
			return nil, fmt.Errorf("jwt HMAC secret file %s: secret is %d bytes, need at least %d", o.HMACSecretFile, len(secret), minHMACSecret)
		}
		ks.keys = append(ks.keys, verifyKey{alg: jose.HS256, key: bytes.Clone(secret), src: o.HMACSecretFile})
		ks.stats = append(ks.stats, st)
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("jwt: no usable verification key (set keys, jwks_file or hmac_secret_file)")
	}
	if len(ks.keys) > maxKeys {
		return nil, fmt.Errorf("jwt: %d keys, at most %d allowed", len(ks.keys), maxKeys)
	}
	return ks, nil
}

// readBounded reads a file of at most maxKeyFileSize bytes.
func readBounded(path string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("jwt: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("jwt: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("jwt: read %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, nil, fmt.Errorf("jwt: %s is larger than %d bytes", path, maxKeyFileSize)
	}
	return data, st, nil
}

// parsePEMKeys returns the public keys of every PEM block in data: PUBLIC
// KEY, RSA PUBLIC KEY or CERTIFICATE. Private keys and other blocks are
// refused, as is text outside the blocks.
func parsePEMKeys(data []byte) ([]verifyKey, error) {
	var out []verifyKey
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				pub = cert.PublicKey
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("holds a %s; give the public key or certificate instead", block.Type)
		default:
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%s block %d: %w", block.Type, len(out)+1, err)
		}
		alg, err := algFor(pub)
		if err != nil {
			return nil, fmt.Errorf("%s block %d: %w", block.Type, len(out)+1, err)
		}
		out = append(out, verifyKey{alg: alg, key: pub})
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("text that is not a PEM block")
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return out, nil
}

// parseJWKS returns the verification keys of a JSON Web Key Set. Keys
// meant for encryption or for an algorithm Moat does not accept are
// skipped with a warning; symmetric and private keys are errors, because
// publishing them is a mistake that must not go unnoticed.
func parseJWKS(data []byte) ([]verifyKey, []string, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, nil, fmt.Errorf("%s: %w", position(data, se.Offset-1), err) // Offset is past the bad byte
		case errors.As(err, &te):
			return nil, nil, fmt.Errorf("%s: %w", position(data, te.Offset), err)
		}
		return nil, nil, err
	}
	if set.Keys == nil {
		return nil, nil, errors.New(`no "keys" array`)
	}
	var out []verifyKey
	var warnings []string
	for i, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			return nil, nil, fmt.Errorf("key %d: %w", i, err)
		}
		if _, ok := k.Key.([]byte); ok {
			return nil, nil, fmt.Errorf("key %d (kid %q): symmetric key; HS256 secrets go in hmac_secret_file", i, k.KeyID)
		}
		if !k.IsPublic() {
			return nil, nil, fmt.Errorf("key %d (kid %q): holds private key material", i, k.KeyID)
		}
		if k.Use != "" && k.Use != "sig" {
			warnings = append(warnings, fmt.Sprintf("key %d (kid %q): use %q, skipped", i, k.KeyID, k.Use))
			continue
		}
		alg, err := algFor(k.Key)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("key %d (kid %q): %v, skipped", i, k.KeyID, err))
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			warnings = append(warnings, fmt.Sprintf("key %d (kid %q): algorithm %q not allowed, skipped", i, k.KeyID, k.Algorithm))
			continue
		}
		out = append(out, verifyKey{alg: alg, kid: k.KeyID, key: k.Key})
	}
	if len(out) == 0 {
		return nil, warnings, errors.New("no usable signing key")
	}
	return out, warnings, nil
}

// algFor returns the one algorithm a public key may verify.
func algFor(pub any) (jose.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, need at least %d", k.N.BitLen(), minRSABits)
		}
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("EC key on %s, only P-256 (ES256) is allowed", k.Curve.Params().Name)
		}
		return jose.ES256, nil
	case ed25519.PublicKey:
		return jose.EdDSA, nil
	default:
		return "", fmt.Errorf("unsupported key type %T", pub)
	}
}

// position turns a byte offset into "line L, column C" (1-based).
func position(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d", line, col)
}
