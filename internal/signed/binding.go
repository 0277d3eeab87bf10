package signed

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/signed/cbor"
)

// BindingContext is the domain-separation string of an operator's
// signature over a key binding. A message signature never verifies as a
// binding signature, nor the reverse.
const BindingContext = "moat-key-binding/v1"

// BindingBytes returns what an operator key signs to bind k to its
// identity: the deterministic CBOR array [BindingContext, kid, identity,
// SubjectPublicKeyInfo DER, not_before, not_after], the times as Unix
// seconds or null when unbounded (docs/signed-topics.md, "Operator-signed
// bindings").
func BindingBytes(k *Key) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return nil, err
	}
	b := cbor.AppendArray(nil, 6)
	b = cbor.AppendText(b, BindingContext)
	b = cbor.AppendText(b, k.ID)
	b = cbor.AppendText(b, k.Identity)
	b = cbor.AppendBytes(b, spki)
	for _, t := range []time.Time{k.NotBefore, k.NotAfter} {
		if t.IsZero() {
			b = cbor.AppendNull(b)
		} else {
			b = cbor.AppendUint(b, uint64(t.Unix()))
		}
	}
	return b, nil
}

// SignBinding signs k's binding with the operator's private key (Ed25519
// or P-256) and sets k.Operator and k.OperatorSig.
func SignBinding(k *Key, op crypto.Signer) error {
	if field, msg := checkKey(k); msg != "" {
		return fmt.Errorf("signed: %s: %s", field, msg)
	}
	id, err := SPKIKeyID(op.Public())
	if err != nil {
		return err
	}
	s, err := NewSigner(id, op)
	if err != nil {
		return err
	}
	tbs, err := BindingBytes(k)
	if err != nil {
		return err
	}
	sig, err := s.sign(tbs)
	if err != nil {
		return err
	}
	k.Operator, k.OperatorSig = id, sig
	return nil
}

// BindingSignedBy reports whether k's binding carries a valid signature
// by the operator public key op.
func (k *Key) BindingSignedBy(op any) bool {
	id, err := SPKIKeyID(op)
	if err != nil || k.Operator != id || len(k.OperatorSig) != SignatureSize {
		return false
	}
	tbs, err := BindingBytes(k)
	if err != nil {
		return false
	}
	return verifySig(op, tbs, k.OperatorSig)
}

// TrustOperator returns the registry of the keys in r whose binding the
// operator key op signed, and the kids of those it left out.
func (r *Keys) TrustOperator(op any) (*Keys, []string, error) {
	if _, err := keyAlg(op); err != nil {
		return nil, nil, fmt.Errorf("operator key: %w", err)
	}
	out := &Keys{byID: make(map[string]*Key)}
	var dropped []string
	if r != nil {
		for id, k := range r.byID {
			if k.BindingSignedBy(op) {
				out.byID[id] = k
			} else {
				dropped = append(dropped, id)
			}
		}
	}
	return out, dropped, nil
}

// Entry returns k as a registry entry (the JSON object of one key), with
// the public key inline as PEM.
func Entry(k *Key) ([]byte, error) {
	e, err := entryOf(k)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(e, "", "  ")
}

func entryOf(k *Key) (keyEntry, error) {
	if field, msg := checkKey(k); msg != "" {
		return keyEntry{}, fmt.Errorf("%s: %s", field, msg)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return keyEntry{}, err
	}
	e := keyEntry{KID: k.ID, Identity: k.Identity, Alg: k.Alg.String(),
		PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), Operator: k.Operator}
	if len(k.OperatorSig) > 0 {
		e.OperatorSig = base64.RawURLEncoding.EncodeToString(k.OperatorSig)
	}
	if !k.NotBefore.IsZero() {
		e.NotBefore = k.NotBefore.UTC().Format(time.RFC3339)
	}
	if !k.NotAfter.IsZero() {
		e.NotAfter = k.NotAfter.UTC().Format(time.RFC3339)
	}
	return e, nil
}

// AddKey returns the registry file data with k appended (data empty: a new
// registry), after checking that the result loads: a duplicate kid or a
// broken existing entry is refused. name labels errors; dir resolves the
// existing public_key_file entries.
func AddKey(data []byte, name, dir string, k *Key) ([]byte, error) {
	var kf keyFile
	if len(bytes.TrimSpace(data)) > 0 {
		if _, err := ParseKeys(data, name, dir); err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&kf); err != nil {
			return nil, err
		}
	}
	for _, e := range kf.Keys {
		if e.KID == k.ID {
			return nil, fmt.Errorf("%s: kid %q is already bound (to %q)", name, k.ID, e.Identity)
		}
	}
	e, err := entryOf(k)
	if err != nil {
		return nil, err
	}
	kf.Keys = append(kf.Keys, e)
	out, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, err
	}
	out = append(out, '\n')
	if _, err := ParseKeys(out, name, dir); err != nil {
		return nil, errors.Join(errors.New("the new registry would not load"), err)
	}
	return out, nil
}

// OperatorBindings returns, for each identity with operator-signed keys,
// a key registry (the JSON of a registry file, compact) of just those
// keys, sorted by kid: what the broker publishes retained on
// KeysTopic(identity) so that subscribers who trust only the operator can
// learn the keys from the broker without trusting it (they check the
// operator signature themselves: TrustOperator).
func (k *Keys) OperatorBindings() (map[string][]byte, error) {
	if k == nil {
		return nil, nil
	}
	byIdentity := map[string][]keyEntry{}
	kids := make([]string, 0, len(k.byID))
	for kid, key := range k.byID {
		if len(key.OperatorSig) > 0 {
			kids = append(kids, kid)
		}
	}
	slices.Sort(kids)
	for _, kid := range kids {
		key := k.byID[kid]
		e, err := entryOf(key)
		if err != nil {
			return nil, err
		}
		byIdentity[key.Identity] = append(byIdentity[key.Identity], e)
	}
	out := make(map[string][]byte, len(byIdentity))
	for id, entries := range byIdentity {
		b, err := json.Marshal(keyFile{Keys: entries})
		if err != nil {
			return nil, err
		}
		out[id] = b
	}
	return out, nil
}

// All returns the registry's keys, sorted by kid.
func (k *Keys) All() []*Key {
	if k == nil {
		return nil
	}
	out := make([]*Key, 0, len(k.byID))
	for _, key := range k.byID {
		out = append(out, key)
	}
	slices.SortFunc(out, func(a, b *Key) int { return strings.Compare(a.ID, b.ID) })
	return out
}
