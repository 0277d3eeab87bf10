package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed"
)

const signUsage = `Usage: moat sign COMMAND [flags]

Keys and messages for signed topics (docs/signed-topics.md).

Commands:
  keygen    create a signing key pair: KEY (private, 0600) and KEY.pub
  message   sign a message: print the moat-sig user property value (MQTT 5)
            or write the envelope payload (MQTT 3.1.1, --envelope)
  verify    check a signed message against a key registry

Example, MQTT 5 with mosquitto_pub:
  mosquitto_pub -V mqttv5 -t plant/7/valve/cmd -m open \
    -D publish user-property moat-sig \
    "$(moat sign message --key valve-7.key --kid valve-7-2026 \
         --identity valve-7 --topic plant/7/valve/cmd --epoch 3 --seq 42 --payload open)"

Run 'moat sign COMMAND --help' for a command's flags.
`

// signCmd runs 'moat sign'. It returns 0 on success, 1 on failure (verify:
// the message does not verify) and 2 on a usage error.
func signCmd(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, signUsage)
		return 2
	}
	switch args[0] {
	case "keygen":
		return signKeygen(args[1:])
	case "message":
		return signMessage(args[1:])
	case "verify":
		return signVerify(args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Print(signUsage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "moat sign: unknown command %q\n\n%s", args[0], signUsage)
	return 2
}

// newSignFlags returns a flag set whose usage shows synopsis and doc.
func newSignFlags(name, synopsis, doc string) *flag.FlagSet {
	fl := flag.NewFlagSet("sign "+name, flag.ContinueOnError)
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "Usage: moat sign %s %s\n\n%s\nFlags:\n", name, synopsis, doc)
		fl.PrintDefaults()
	}
	return fl
}

// parseSignFlags parses args, which may hold no positional argument. The
// int is the exit code to return when ok is false.
func parseSignFlags(fl *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fl.NArg() > 0 {
		return signUsageError(fl, "unexpected argument %q", fl.Arg(0)), false
	}
	return 0, true
}

func signUsageError(fl *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "moat sign: "+format+"\n\n", a...)
	fl.Usage()
	return 2
}

func signFail(err error) int {
	if errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%w; pass --force to replace it", err)
	}
	fmt.Fprintf(os.Stderr, "moat sign: %v\n", err)
	return 1
}

func signKeygen(args []string) int {
	fl := newSignFlags("keygen", "--out KEY [--alg ed25519|es256] [--kid ID --identity NAME]",
		"Create a key pair: KEY holds the private key (PKCS #8 PEM, mode 0600),\n"+
			"KEY.pub the public key (PEM) for the key registry. With --kid and\n"+
			"--identity, print the registry entry to add.\n")
	out := fl.String("out", "", "private key file to create (required)")
	alg := fl.String("alg", "ed25519", "ed25519 or es256 (ECDSA P-256, for secure elements)")
	kid := fl.String("kid", "", "key id of the printed registry entry")
	identity := fl.String("identity", "", "identity of the printed registry entry")
	force := fl.Bool("force", false, "replace existing files")
	if code, ok := parseSignFlags(fl, args); !ok {
		return code
	}
	if *out == "" {
		return signUsageError(fl, "--out is required")
	}
	a, ok := signed.ParseAlg(*alg)
	if !ok {
		return signUsageError(fl, "--alg must be ed25519 or es256")
	}
	if (*kid == "") != (*identity == "") {
		return signUsageError(fl, "--kid and --identity go together")
	}
	pubPath, err := genKeyPair(*out, a, *force)
	if err != nil {
		return signFail(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s (private, keep it on the device) and %s\n", *out, pubPath)
	if *kid != "" {
		entry, _ := json.Marshal(map[string]string{"kid": *kid, "identity": *identity, "alg": a.String(),
			"public_key_file": filepath.Base(pubPath)})
		fmt.Println(string(entry))
	}
	return 0
}

// genKeyPair creates a key pair of algorithm a: the private key in path
// (PKCS #8 PEM, mode 0600) and the public key in path.pub (PEM, 0644). It
// returns the public key's path. Without force it refuses existing files.
func genKeyPair(path string, a signed.Alg, force bool) (string, error) {
	var priv crypto.Signer
	var err error
	if a == signed.EdDSA {
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	} else {
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return "", err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return "", err
	}
	pubPath := path + ".pub"
	if !force {
		for _, p := range []string{path, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return "", fmt.Errorf("%s: %w", p, fs.ErrExist)
			}
		}
	}
	if err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600, force); err != nil {
		return "", err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644, force); err != nil {
		return "", err
	}
	return pubPath, nil
}

// writeNew writes data to path with mode perm; without force it refuses an
// existing file.
func writeNew(path string, data []byte, perm fs.FileMode, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, perm)
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil { // an existing file keeps its mode otherwise
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// propFlags are the MQTT 5 properties that are signed, as flags; a flag
// not given is an absent property.
type propFlags struct {
	contentType, responseTopic, correlation *string
	payloadFormat                           *int
}

func addPropFlags(fl *flag.FlagSet) *propFlags {
	return &propFlags{
		contentType:   fl.String("content-type", "", "MQTT 5 content type the PUBLISH carries"),
		responseTopic: fl.String("response-topic", "", "MQTT 5 response topic the PUBLISH carries"),
		correlation:   fl.String("correlation-data", "", "MQTT 5 correlation data the PUBLISH carries (as mosquitto_pub takes it)"),
		payloadFormat: fl.Int("payload-format", 0, "MQTT 5 payload format indicator the PUBLISH carries (0 or 1)"),
	}
}

// properties returns the properties given on the command line, nil when
// none was; call it after parsing.
func (p *propFlags) properties(fl *flag.FlagSet) (*packet.Properties, error) {
	set := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var props packet.Properties
	if set["content-type"] {
		props.ContentType = *p.contentType
		props.Set(packet.PropContentType)
	}
	if set["response-topic"] {
		props.ResponseTopic = *p.responseTopic
		props.Set(packet.PropResponseTopic)
	}
	if set["correlation-data"] {
		props.CorrelationData = []byte(*p.correlation)
		props.Set(packet.PropCorrelationData)
	}
	if set["payload-format"] {
		if *p.payloadFormat != 0 && *p.payloadFormat != 1 {
			return nil, errors.New("--payload-format must be 0 or 1")
		}
		props.PayloadFormat = byte(*p.payloadFormat)
		props.Set(packet.PropPayloadFormat)
	}
	if props.Present == 0 {
		return nil, nil
	}
	return &props, nil
}

// readPayload returns --payload or the content of --payload-file.
func readPayload(payload, file string, payloadSet bool) ([]byte, error) {
	switch {
	case payloadSet && file != "":
		return nil, errors.New("give --payload or --payload-file, not both")
	case file == "-":
		return io.ReadAll(os.Stdin)
	case file != "":
		return os.ReadFile(file)
	}
	return []byte(payload), nil
}

func signMessage(args []string) int {
	fl := newSignFlags("message", "--key KEY --kid ID --identity NAME --topic TOPIC [--seq N [--epoch E]] [flags]",
		"Sign a message. Without --envelope, print the value of the moat-sig user\n"+
			"property for an MQTT 5 PUBLISH of the payload. With --envelope, write the\n"+
			"COSE_Sign1 envelope to publish as the payload (MQTT 3.1.1). With --seq the\n"+
			"message uses sequence mode (the sequence number must grow per key, the\n"+
			"epoch at each boot); without, a random 96-bit nonce. The PUBLISH must\n"+
			"carry exactly the retain flag and properties given here.\n")
	keyPath := fl.String("key", "", "private key file, PEM (required)")
	kid := fl.String("kid", "", "key id in the broker's key registry (required)")
	identity := fl.String("identity", "", "identity the publisher authenticates as (required)")
	topicName := fl.String("topic", "", "full topic name (required)")
	seq := fl.String("seq", "", "sequence number (sequence mode)")
	epoch := fl.Uint64("epoch", 0, "boot epoch (sequence mode)")
	payload := fl.String("payload", "", "payload")
	payloadFile := fl.String("payload-file", "", "read the payload from this file ('-': standard input)")
	retain := fl.Bool("retain", false, "the message is published retained")
	expires := fl.Duration("expires", 0, "sign an absolute expiry this long after the issue time")
	issued := fl.Int64("issued", 0, "issue time, Unix seconds (default now)")
	envelope := fl.Bool("envelope", false, "write the envelope instead of printing the property value")
	out := fl.String("out", "-", "--envelope: file to write ('-': standard output)")
	pf := addPropFlags(fl)
	if code, ok := parseSignFlags(fl, args); !ok {
		return code
	}
	if *keyPath == "" || *kid == "" || *identity == "" || *topicName == "" {
		return signUsageError(fl, "--key, --kid, --identity and --topic are required")
	}
	props, err := pf.properties(fl)
	if err != nil {
		return signUsageError(fl, "%v", err)
	}
	payloadSet := false
	fl.Visit(func(f *flag.Flag) { payloadSet = payloadSet || f.Name == "payload" })
	body, err := readPayload(*payload, *payloadFile, payloadSet)
	if err != nil {
		return signFail(err)
	}
	c := signed.Claims{Identity: *identity, Topic: *topicName, IssuedAt: *issued, Retain: *retain}
	if c.IssuedAt == 0 {
		c.IssuedAt = time.Now().Unix()
	}
	if *expires < 0 {
		return signUsageError(fl, "--expires must not be negative")
	}
	if *expires > 0 {
		c.ExpiresAt = c.IssuedAt + int64((*expires+time.Second-1)/time.Second)
	}
	if *seq != "" {
		n, err := strconv.ParseUint(*seq, 10, 64)
		if err != nil {
			return signUsageError(fl, "--seq must be an unsigned integer")
		}
		c.Mode, c.Seq, c.Epoch = signed.Sequence, n, *epoch
	} else {
		c.Mode, c.Nonce = signed.Nonce, signed.NewNonce()
	}
	signer, err := loadSigner(*keyPath, *kid)
	if err != nil {
		return signFail(err)
	}
	if !*envelope {
		value, err := signer.Detached(&c, body, props)
		if err != nil {
			return signFail(err)
		}
		fmt.Println(value)
		return 0
	}
	env, err := signer.Envelope(&c, body, props)
	if err != nil {
		return signFail(err)
	}
	if *out == "-" {
		_, err = os.Stdout.Write(env)
	} else {
		err = writeNew(*out, env, 0o644, true)
	}
	if err != nil {
		return signFail(err)
	}
	return 0
}

// loadSigner reads a PEM private key and warns when others may read it.
func loadSigner(path, kid string) (*signed.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(os.Stderr, "moat sign: warning: %s is readable by others (mode %04o)\n", path, st.Mode().Perm())
	}
	key, err := certs.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return signed.NewSigner(kid, key)
}

func signVerify(args []string) int {
	fl := newSignFlags("verify", "--keys FILE --topic TOPIC (--sig VALUE [--payload ...] | --envelope FILE) [flags]",
		"Check a signed message as a subscriber would: the key (known, bound to\n"+
			"the signed identity, valid at the signed issue time), the signature and\n"+
			"the topic. Print the signed claims and the age of the message; exit 0\n"+
			"when it verifies, 1 when not. Freshness and replay are not judged.\n")
	keysPath := fl.String("keys", "", "key registry file, JSON (required)")
	topicName := fl.String("topic", "", "topic the message was received on (required)")
	sig := fl.String("sig", "", "value of the moat-sig user property")
	payload := fl.String("payload", "", "payload of a detached message")
	payloadFile := fl.String("payload-file", "", "read the payload of a detached message from this file ('-': standard input)")
	envelope := fl.String("envelope", "", "file holding an envelope payload ('-': standard input)")
	pf := addPropFlags(fl)
	if code, ok := parseSignFlags(fl, args); !ok {
		return code
	}
	if *keysPath == "" || *topicName == "" || (*sig == "") == (*envelope == "") {
		return signUsageError(fl, "--keys, --topic and one of --sig and --envelope are required")
	}
	props, err := pf.properties(fl)
	if err != nil {
		return signUsageError(fl, "%v", err)
	}
	keys, err := signed.LoadKeys(*keysPath)
	if err != nil {
		return signFail(err)
	}
	var claims signed.Claims
	var key *signed.Key
	var why signed.Reason
	if *sig != "" {
		payloadSet := false
		fl.Visit(func(f *flag.Flag) { payloadSet = payloadSet || f.Name == "payload" })
		body, err := readPayload(*payload, *payloadFile, payloadSet)
		if err != nil {
			return signFail(err)
		}
		claims, key, why = signed.VerifyDetached(keys, *topicName, body, props, *sig)
	} else {
		env, err := readPayload("", *envelope, false)
		if err != nil {
			return signFail(err)
		}
		var body []byte
		body, claims, key, why = signed.OpenEnvelope(keys, *topicName, env, props)
		if why == signed.OK {
			fmt.Printf("payload:    %s\n", hex.EncodeToString(body))
		}
	}
	if why != signed.OK {
		fmt.Fprintf(os.Stderr, "moat sign: not valid: %s\n", why)
		return 1
	}
	printClaims(key, &claims)
	return 0
}

func printClaims(key *signed.Key, c *signed.Claims) {
	fmt.Printf("valid:      %s signature by %s (identity %s)\n", key.Alg, key.ID, c.Identity)
	fmt.Printf("topic:      %s\n", c.Topic)
	age := time.Since(time.Unix(c.IssuedAt, 0)).Round(time.Second)
	fmt.Printf("issued:     %s (%s ago)\n", time.Unix(c.IssuedAt, 0).UTC().Format(time.RFC3339), age)
	if c.ExpiresAt != 0 {
		fmt.Printf("expires:    %s\n", time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
	fmt.Printf("retain:     %t\n", c.Retain)
	if c.Mode == signed.Sequence {
		fmt.Printf("sequence:   epoch %d, seq %d\n", c.Epoch, c.Seq)
	} else {
		fmt.Printf("nonce:      %s\n", hex.EncodeToString(c.Nonce[:]))
	}
}
