package signed

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// docPath is the document whose worked example this test keeps honest.
const docPath = "../../docs/signed-topics.md"

// The markers around the example block in the document.
const (
	vectorBegin = "<!-- vector: begin -->"
	vectorEnd   = "<!-- vector: end -->"
)

// exampleClaims, exampleProps and examplePayload are the inputs of the
// documented example; Ed25519 is deterministic, so its bytes are fixed.
func exampleClaims() Claims {
	return Claims{Identity: "valve-7", Topic: "plant/7/valve/cmd", IssuedAt: 1767225600, ExpiresAt: 1767225660,
		Mode: Sequence, Epoch: 3, Seq: 42}
}

func exampleProps() *packet.Properties { return props("text/plain", 1) }

var examplePayload = []byte("open")

// renderVector renders the example block exactly as the document has it:
// one "name value" line per field, hex wrapped at 64 digits with
// continuation lines indented.
func renderVector(t *testing.T) string {
	s := mustSigner(t, "valve-7-2026", edPriv)
	c := exampleClaims()
	pr := exampleProps()
	detached, err := s.Sign1(&c, examplePayload, pr, false)
	if err != nil {
		t.Fatal(err)
	}
	envelope, _ := s.Sign1(&c, examplePayload, pr, true)
	var p sign1
	if err := parseSign1(detached, &p); err != nil {
		t.Fatal(err)
	}
	tbs, _ := SigStructure(detached, pr, examplePayload)
	var b strings.Builder
	b.WriteString("```text\n")
	field := func(name, value string) {
		first := true
		for len(value) > 0 {
			n := min(len(value), 64)
			if first {
				fmt.Fprintf(&b, "%-14s%s\n", name, value[:n])
			} else {
				fmt.Fprintf(&b, "%-14s%s\n", "", value[:n])
			}
			value, first = value[n:], false
		}
	}
	field("seed", hex.EncodeToString(edSeed))
	field("public_key", hex.EncodeToString(edPriv.Public().(ed25519.PublicKey)))
	field("payload", hex.EncodeToString(examplePayload))
	field("protected", hex.EncodeToString(p.protected))
	field("external_aad", hex.EncodeToString(appendExternalAAD(nil, pr)))
	field("sig_structure", hex.EncodeToString(tbs))
	field("signature", hex.EncodeToString(p.sig))
	field("cose_detached", hex.EncodeToString(detached))
	field("moat_sig", b64.EncodeToString(detached))
	field("cose_envelope", hex.EncodeToString(envelope))
	b.WriteString("```\n")
	return b.String()
}

// TestDocumentedVector checks that the worked example of
// docs/signed-topics.md is what the code produces and accepts.
func TestDocumentedVector(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	want := renderVector(t)
	_, rest, ok1 := strings.Cut(string(doc), vectorBegin+"\n")
	got, _, ok2 := strings.Cut(rest, vectorEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s has no %s ... %s block", docPath, vectorBegin, vectorEnd)
	}
	if got != want {
		t.Fatalf("the example in %s is not what the code produces; it should be:\n%s", docPath, want)
	}
	// And the verifier accepts it, at its issue time.
	keys, err := NewKeys([]Key{{ID: "valve-7-2026", Identity: "valve-7", Public: edPriv.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Unix(1767225600-60, 0)}
	v := NewVerifier(mustPolicy(t, Config{Rules: []RuleConfig{{Topics: []string{"plant/+/valve/cmd"}}}}), keys, clk.Now)
	clk.Add(60 * time.Second)
	c := exampleClaims()
	sig, _ := mustSigner(t, "valve-7-2026", edPriv).Detached(&c, examplePayload, exampleProps())
	m := v5msg(c.Topic, examplePayload, exampleProps(), sig)
	if d, why := v.Check(m); why != OK || !d.Expiry.Equal(time.Unix(1767225660, 0)) {
		t.Fatalf("example refused: %v", why)
	}
}
