package signed

// Reason says why a message on a signed topic was refused. Its String is
// stable, snake_case and short: the audit event's detail and the metric
// label. OK is the zero value.
type Reason uint8

// The reasons, in the order the verifier checks (docs/signed-topics.md,
// "Enforcement order"). Reasons after ReasonBadSignature are only ever
// given for messages whose signature is valid.
const (
	OK                   Reason = iota
	ReasonMissing               // no signature on a signed topic, or not in the carriage the rule wants
	ReasonTooLarge              // the signature data is over the rule's max_signature_bytes
	ReasonMalformed             // not base64url, not strict CBOR, not the COSE_Sign1 layout
	ReasonAlgorithm             // alg not accepted by the rule, or not the key's algorithm
	ReasonUnknownKey            // kid not in the key registry
	ReasonKeyIdentity           // kid is bound to another identity than the publisher's
	ReasonIdentity              // the signed identity (iss) is not the key's identity
	ReasonKeyNotYetValid        // the key's not_before is in the future
	ReasonKeyExpired            // the key's not_after has passed
	ReasonBadSignature          // the signature does not verify: forged or altered
	ReasonWrongTopic            // signed for another topic
	ReasonRetainMismatch        // the PUBLISH retain flag is not the signed retain intent
	ReasonRetainDenied          // retain on a rule that does not allow it
	ReasonReplayMode            // sequence or nonce, not the replay mode the rule wants
	ReasonStale                 // issued more than the skew ago
	ReasonFuture                // issued more than the skew ahead (not yet valid)
	ReasonExpired               // the signed expiry has passed
	ReasonRestart               // issued before the verifier started plus the skew: could be a replay of a message seen before a restart
	ReasonReplayed              // this (key, epoch, seq) or (key, nonce) was accepted before
	ReasonTooOld                // epoch older than the key's current one, or seq below its window
	ReasonReplayFull            // the replay store is at its bound: refused rather than forget
	numReasons
)

var reasonNames = [numReasons]string{
	OK:                   "ok",
	ReasonMissing:        "missing",
	ReasonTooLarge:       "too_large",
	ReasonMalformed:      "malformed",
	ReasonAlgorithm:      "algorithm",
	ReasonUnknownKey:     "unknown_key",
	ReasonKeyIdentity:    "key_identity",
	ReasonIdentity:       "identity",
	ReasonKeyNotYetValid: "key_not_yet_valid",
	ReasonKeyExpired:     "key_expired",
	ReasonBadSignature:   "bad_signature",
	ReasonWrongTopic:     "wrong_topic",
	ReasonRetainMismatch: "retain_mismatch",
	ReasonRetainDenied:   "retain_denied",
	ReasonReplayMode:     "replay_mode",
	ReasonStale:          "stale",
	ReasonFuture:         "future",
	ReasonExpired:        "expired",
	ReasonRestart:        "restart_window",
	ReasonReplayed:       "replayed",
	ReasonTooOld:         "too_old",
	ReasonReplayFull:     "replay_store_full",
}

// String is the reason's stable name.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason(" + itoa(int64(r)) + ")"
}

// Reasons lists every reason but OK, for registering metric labels.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := OK + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}
