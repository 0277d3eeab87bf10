// Package signed implements signed topics: end-to-end signatures on MQTT
// messages that the broker enforces and subscribers can check themselves,
// with replay protection. It imports only the standard library and the
// broker's pure packages (packet, topic, errlist); it knows nothing of
// connections.
//
// A signature is a COSE_Sign1 (RFC 9052) made with EdDSA on Ed25519 (COSE
// alg -8) or ES256 (alg -7, r||s signatures). Its protected header holds
// alg, kid and a CWT Claims map (RFC 9597, label 15) with the publisher
// identity, the topic, the issue time, the retain intent, an optional
// expiry, and either a boot epoch with a sequence number or a 96-bit
// nonce. Its external_aad is the CBOR array [Context, response topic,
// correlation data, content type, payload format indicator]. MQTT 5
// publishers send it detached, base64url, in the moat-sig user property;
// MQTT 3.x publishers send it as the payload with the payload attached
// (the envelope), which the broker forwards unchanged. The byte layout,
// with a worked example, is in docs/signed-topics.md; TestDocumentedVector
// keeps the two in step.
//
// Policy compiles the signed_topics configuration: which topic filters are
// signed, with which algorithms, skew, replay mode, retain, carriage and
// refusal action. Keys is the registry binding each kid to one identity
// (optionally signed by an operator key: SignBinding, TrustOperator), and
// listing the identities that may sign with their client certificate's key
// (CertificateKey). Verifier enforces both and holds the replay state; the
// broker calls Check in its publish path after the ACL and before routing.
// Signer, VerifyDetached, OpenEnvelope and ReplayGuard are the client side,
// which pkg/mqttsig wraps for any Go MQTT client.
//
// Every refusal has a Reason, whose String is the audit detail and the
// metric label.
package signed
