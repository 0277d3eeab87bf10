package mqttsig_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/moatmq/moat/pkg/mqttsig"
)

// A publisher signs an MQTT 5 message and a subscriber verifies it; the
// same message a second time is a replay.
func Example() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)

	// Publisher: one Signer per key, numbering its messages.
	signer, err := mqttsig.NewSigner(mqttsig.SignerConfig{KeyID: "valve-7-2026", Identity: "valve-7", Key: priv, Epoch: 3})
	if err != nil {
		panic(err)
	}
	msg := mqttsig.Message{Topic: "plant/7/valve/cmd", Payload: []byte("open")}
	sig, err := signer.Detached(&msg)
	if err != nil {
		panic(err)
	}
	// Publish msg with the user property (mqttsig.UserProperty, sig) with
	// your MQTT 5 client. A subscriber receives it:
	received := mqttsig.Message{Topic: "plant/7/valve/cmd", Payload: []byte("open"), Signature: sig}

	// Subscriber: trusts the operator's registry, here built in code.
	keys, err := mqttsig.NewKeys(mqttsig.Key{ID: "valve-7-2026", Identity: "valve-7", Public: pub})
	if err != nil {
		panic(err)
	}
	verifier, err := mqttsig.NewVerifier(keys, mqttsig.VerifierConfig{})
	if err != nil {
		panic(err)
	}
	c, err := verifier.Verify(&received)
	if err != nil {
		panic(err)
	}
	fmt.Printf("verified: %s by %s (kid %s), epoch %d seq %d\n", c.Payload, c.Identity, c.KeyID, c.Epoch, c.Seq)

	_, err = verifier.Verify(&received)
	var ve *mqttsig.VerifyError
	if errors.As(err, &ve) {
		fmt.Println("again:", ve.Reason)
	}
	// Output:
	// verified: open by valve-7 (kid valve-7-2026), epoch 3 seq 1
	// again: replayed
}

// MQTT 3.1.1 publishers send an envelope: the payload inside a COSE_Sign1.
func ExampleSigner_Envelope() {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := mqttsig.NewSigner(mqttsig.SignerConfig{KeyID: "door-3", Identity: "door-3", Key: priv,
		Mode: mqttsig.Nonce, Expiry: time.Minute})
	env, err := signer.Envelope(&mqttsig.Message{Topic: "door/3/unlock", Payload: []byte("now")})
	if err != nil {
		panic(err)
	}
	// Publish env as the payload. The subscriber gets the payload back:
	keys, _ := mqttsig.NewKeys(mqttsig.Key{ID: "door-3", Identity: "door-3", Public: pub})
	verifier, _ := mqttsig.NewVerifier(keys, mqttsig.VerifierConfig{})
	c, err := verifier.Verify(&mqttsig.Message{Topic: "door/3/unlock", Payload: env})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s, envelope %t, nonce of %d bytes, expires %s after issue\n",
		c.Payload, c.Envelope, len(c.Nonce), c.ExpiresAt.Sub(c.IssuedAt))

	// The same envelope on another topic is refused.
	_, err = verifier.Verify(&mqttsig.Message{Topic: "door/4/unlock", Payload: env})
	fmt.Println(err)
	// Output:
	// now, envelope true, nonce of 12 bytes, expires 1m0s after issue
	// mqttsig: message not verified: wrong_topic
}

// SignatureOf finds the moat-sig value among a received message's user
// properties, whatever the client library's representation.
func ExampleSignatureOf() {
	type userProperty struct{ Key, Value string } // as a client library has it
	props := []userProperty{{"trace", "abc"}, {"moat-sig", "0oRYUqMB..."}}
	sig, ok, err := mqttsig.SignatureOf(func(yield func(k, v string) bool) {
		for _, p := range props {
			if !yield(p.Key, p.Value) {
				return
			}
		}
	})
	fmt.Println(sig, ok, err)
	// Output: 0oRYUqMB... true <nil>
}
