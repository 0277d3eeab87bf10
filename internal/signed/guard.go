package signed

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"time"
)

// ReplayGuard is the replay state of a subscriber that verifies messages
// itself: the same sequence windows and bounded nonce cache the broker
// keeps (see Verifier), fed with the claims VerifyDetached and
// OpenEnvelope return. It is safe for concurrent use.
type ReplayGuard struct {
	store                         *replayStore
	maxWindows, maxNonces, perKey int
}

// NewReplayGuard returns an empty guard that remembers a message for keep
// after its issue time (the subscriber's freshness bound: a message older
// than that is refused as stale before the guard is asked). Zero or
// negative bounds take the broker's defaults.
func NewReplayGuard(keep time.Duration, maxWindows, maxNonces, maxNoncesPerKey int) *ReplayGuard {
	g := &ReplayGuard{store: newReplayStore(),
		maxWindows: orDefault(maxWindows, DefaultMaxWindows),
		maxNonces:  orDefault(maxNonces, DefaultMaxNonces),
		perKey:     orDefault(maxNoncesPerKey, DefaultMaxNoncesPerKey)}
	g.store.raiseKeep(int64((keep + time.Second - 1) / time.Second))
	return g
}

// Admit records the message (key, claims) at time now and reports OK when
// it was not seen before, or ReasonReplayed, ReasonTooOld or
// ReasonReplayFull. Call it only for messages whose signature verified,
// so that forgeries cannot burn sequence numbers.
func (g *ReplayGuard) Admit(key *Key, c *Claims, now time.Time) Reason {
	k := replayKey{identity: key.Identity, kid: key.ID}
	if c.Mode == Sequence {
		return g.store.admitSeq(k, c.Epoch, c.Seq, c.IssuedAt, now.Unix(), g.maxWindows)
	}
	return g.store.admitNonce(k, c.Nonce[:], c.IssuedAt, now.Unix(), g.maxNonces, g.perKey)
}

// Stats returns the size of the guard's state.
func (g *ReplayGuard) Stats() Stats { return g.store.stats() }

// SPKIKeyID returns the key id derived from a public key: "sha256:" and
// the unpadded base64url of the SHA-256 of its DER SubjectPublicKeyInfo
// (50 characters). Tools use it as the default kid, so that one key has
// one name wherever it is registered.
func SPKIKeyID(pub any) (string, error) {
	if _, err := keyAlg(pub); err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return "sha256:" + base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// CertificateKey returns the key of a message whose kid is not in the
// registry, when the registry lets identity sign with the public key of
// its verified client certificate (certificate_keys) and kid is that key's
// SPKIKeyID; otherwise nil. pub is the certificate's public key, given by
// the broker only when the connection's identity is the certificate's.
func (k *Keys) CertificateKey(identity string, pub any, kid []byte) *Key {
	if k == nil || pub == nil || identity == "" || (!k.certAny && !k.certIDs[identity]) {
		return nil
	}
	alg, err := keyAlg(pub)
	if err != nil {
		return nil // RSA and other curves cannot sign messages
	}
	id, err := SPKIKeyID(pub)
	if err != nil || id != string(kid) {
		return nil
	}
	return &Key{ID: id, Identity: identity, Alg: alg, Public: pub}
}
