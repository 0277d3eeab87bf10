package signed

import "github.com/moatmq/moat/internal/auth"

// TokenKey returns the key that verifies kid for identity among the keys
// the identity's login token binds (the signing_keys claim), when the
// registry lets identity use them (token_keys); nil otherwise. The token
// was verified at login by an issuer the broker trusts, so its binding is
// as sound as the identity itself. Keys of other algorithms than Ed25519
// and ECDSA P-256 never verify.
func (k *Keys) TokenKey(identity string, keys []auth.SigningKey, kid []byte) *Key {
	if k == nil || len(keys) == 0 || identity == "" || (!k.tokenAny && !k.tokenIDs[identity]) {
		return nil
	}
	for _, sk := range keys {
		if sk.ID != string(kid) {
			continue
		}
		alg, err := keyAlg(sk.Public)
		if err != nil {
			return nil
		}
		return &Key{ID: sk.ID, Identity: identity, Alg: alg, Public: sk.Public}
	}
	return nil
}
