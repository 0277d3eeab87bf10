package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/signed"
	"github.com/moatmq/moat/internal/smallfile"
	"github.com/moatmq/moat/pkg/mqttsig"
)

const keysUsage = `Usage: moat keys COMMAND [flags]

Signing keys and the key registry of signed topics (docs/signed-topics.md).

Commands:
  gen       create a key pair: KEY (private, PEM, mode 0600) and KEY.pub
  bind      bind a public key to an identity in a registry file, optionally
            signed by an operator key (--operator-key)
  export    print a key's registry entry (for moat sub --trust-key) or its
            public key
  fetch     read the operator-signed bindings the broker publishes on
            $moat/keys/<identity> into a registry, trusting only the
            operator key (--operator-key)

Example:
  moat keys gen --out valve-7.key
  moat keys bind --keys signing-keys.json --identity valve-7 --pub valve-7.key.pub
  moat pub -u valve-7 --password-file pw -t plant/7/valve/cmd -m open -q 1 --sign-key valve-7.key
  moat sub -u ops --password-file pw -t 'plant/#' --verify --keys signing-keys.json

Run 'moat keys COMMAND --help' for a command's flags.
`

// keysCmd runs 'moat keys'. It returns 0 on success, 1 on failure and 2 on
// a usage error.
func keysCmd(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, keysUsage)
		return 2
	}
	switch args[0] {
	case "gen":
		return keysGen(args[1:])
	case "bind":
		return keysBind(args[1:])
	case "export":
		return keysExport(args[1:])
	case "fetch":
		return keysFetch(args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Print(keysUsage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "moat keys: unknown command %q\n\n%s", args[0], keysUsage)
	return 2
}

func newKeysFlags(name, synopsis, doc string) *flag.FlagSet {
	fl := flag.NewFlagSet("keys "+name, flag.ContinueOnError)
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "Usage: moat keys %s %s\n\n%s\nFlags:\n", name, synopsis, doc)
		fl.PrintDefaults()
	}
	return fl
}

func keysUsageError(fl *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "moat keys: "+format+"\n\n", a...)
	fl.Usage()
	return 2
}

func keysFail(err error) int {
	if errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%w; pass --force to replace it", err)
	}
	fmt.Fprintf(os.Stderr, "moat keys: %v\n", err)
	return 1
}

func keysGen(args []string) int {
	fl := newKeysFlags("gen", "--out KEY [--alg ed25519|es256] [--force]",
		"Create a key pair: KEY holds the private key (PKCS #8 PEM, mode 0600),\n"+
			"KEY.pub the public key (PEM). Print the key's default kid, the\n"+
			"sha256: id of its public key.\n")
	out := fl.String("out", "", "private key file to create (required)")
	alg := fl.String("alg", "ed25519", "ed25519 or es256 (ECDSA P-256, for secure elements)")
	force := fl.Bool("force", false, "replace existing files")
	if code, ok := parseSignFlags(fl, args); !ok {
		return code
	}
	if *out == "" {
		return keysUsageError(fl, "--out is required")
	}
	a, ok := signed.ParseAlg(*alg)
	if !ok {
		return keysUsageError(fl, "--alg must be ed25519 or es256")
	}
	pubPath, err := genKeyPair(*out, a, *force)
	if err != nil {
		return keysFail(err)
	}
	pub, err := readPublicKey(pubPath)
	if err != nil {
		return keysFail(err)
	}
	kid, err := spkiKeyID(pub)
	if err != nil {
		return keysFail(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s (private, keep it on the device) and %s\n", *out, pubPath)
	fmt.Println(kid)
	return 0
}

// spkiKeyID is the default kid of a public key.
func spkiKeyID(pub crypto.PublicKey) (string, error) { return signed.SPKIKeyID(pub) }

// readPublicKey reads a public key from a PEM PUBLIC KEY file, takes it
// from a certificate (the first of a PEM file: a client certificate whose
// key signs under certificate_keys), or derives it from a private key file
// (which must then be private: mode 0600).
func readPublicKey(path string) (crypto.PublicKey, error) {
	data, err := smallfile.Read(path, 64<<10)
	if err != nil {
		return nil, err
	}
	if block, _ := pem.Decode(data); block != nil && block.Type == "CERTIFICATE" {
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return cert.PublicKey, nil
	}
	if strings.Contains(string(data), "PRIVATE KEY") {
		key, err := mqttsig.LoadPrivateKey(path)
		if err != nil {
			return nil, err
		}
		return key.Public(), nil
	}
	pub, err := signed.ParsePublicKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// keyFlags are the flags that describe one binding.
type keyFlags struct {
	pub, kid, identity  string
	notBefore, notAfter string
	validFor            time.Duration
	operatorKey         string
}

func addKeyFlags(fl *flag.FlagSet) *keyFlags {
	k := &keyFlags{}
	fl.StringVar(&k.pub, "pub", "", "public key file (PEM), or a certificate or private key file to take it from (required)")
	fl.StringVar(&k.kid, "kid", "", "key id (default: the key's sha256: id)")
	fl.StringVar(&k.identity, "identity", "", "identity the key signs for (required)")
	fl.StringVar(&k.notBefore, "not-before", "", "first valid time, RFC 3339")
	fl.StringVar(&k.notAfter, "not-after", "", "end of validity, RFC 3339")
	fl.DurationVar(&k.validFor, "valid-for", 0, "end of validity this long from now (instead of --not-after)")
	fl.StringVar(&k.operatorKey, "operator-key", "", "sign the binding with this operator private key (keep it offline)")
	return k
}

// key builds the binding the flags describe, signed when asked.
func (k *keyFlags) key() (*signed.Key, error) {
	if k.pub == "" || k.identity == "" {
		return nil, errors.New("--pub and --identity are required")
	}
	pub, err := readPublicKey(k.pub)
	if err != nil {
		return nil, err
	}
	key := &signed.Key{ID: k.kid, Identity: k.identity, Public: pub}
	if key.ID == "" {
		if key.ID, err = spkiKeyID(pub); err != nil {
			return nil, err
		}
	}
	if k.notBefore != "" {
		if key.NotBefore, err = time.Parse(time.RFC3339, k.notBefore); err != nil {
			return nil, fmt.Errorf("--not-before: %w", err)
		}
	}
	switch {
	case k.notAfter != "" && k.validFor != 0:
		return nil, errors.New("give --not-after or --valid-for, not both")
	case k.notAfter != "":
		if key.NotAfter, err = time.Parse(time.RFC3339, k.notAfter); err != nil {
			return nil, fmt.Errorf("--not-after: %w", err)
		}
	case k.validFor < 0:
		return nil, errors.New("--valid-for must be positive")
	case k.validFor > 0:
		key.NotAfter = time.Now().Add(k.validFor).Truncate(time.Second)
	}
	if k.operatorKey != "" {
		op, err := mqttsig.LoadPrivateKey(k.operatorKey)
		if err != nil {
			return nil, err
		}
		if err := signed.SignBinding(key, op); err != nil {
			return nil, err
		}
	} else if _, err := signed.NewKeys([]signed.Key{*key}); err != nil {
		return nil, err
	}
	return key, nil
}

func keysBind(args []string) int {
	fl := newKeysFlags("bind", "--keys REGISTRY --identity NAME --pub KEY.pub [--kid ID] [flags]",
		"Add a binding of a public key to an identity to the key registry\n"+
			"(created when absent; the broker reads it again on SIGHUP). A kid\n"+
			"already bound is refused. With --operator-key the binding is signed\n"+
			"by that operator key, so that subscribers can trust the operator\n"+
			"rather than whoever hands them the registry (moat sub --operator-key).\n")
	registry := fl.String("keys", "", "key registry file (JSON; required)")
	kf := addKeyFlags(fl)
	if code, ok := parseSignFlags(fl, args); !ok {
		return code
	}
	if *registry == "" || kf.pub == "" || kf.identity == "" {
		return keysUsageError(fl, "--keys, --pub and --identity are required")
	}
	key, err := kf.key()
	if err != nil {
		return keysFail(err)
	}
	data, err := os.ReadFile(*registry)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return keysFail(err)
	}
	out, err := signed.AddKey(data, *registry, filepath.Dir(*registry), key)
	if err != nil {
		return keysFail(err)
	}
	if err := writeAtomic(*registry, out, 0o644); err != nil {
		return keysFail(err)
	}
	signedBy := ""
	if key.Operator != "" {
		signedBy = ", signed by operator key " + key.Operator
	}
	fmt.Fprintf(os.Stderr, "bound kid %s to identity %s in %s%s\n", key.ID, key.Identity, *registry, signedBy)
	fmt.Println(key.ID)
	return 0
}

// writeAtomic replaces path with data through a temporary file in the
// same directory, so that a reader (the broker on SIGHUP) never sees half
// a file.
func writeAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename: already gone
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func keysExport(args []string) int {
	fl := newKeysFlags("export", "(--pub KEY --identity NAME [--kid ID] | --keys REGISTRY --kid ID | --pub KEY --pem)",
		"Print a registry entry with the public key inline: built from a key\n"+
			"file, or taken from a registry. moat sub --trust-key reads it, and\n"+
			"moat keys bind accepts the key file. With --pem, print only the\n"+
			"public key (PEM); given a private key, export never prints it.\n")
	registry := fl.String("keys", "", "take the entry of --kid from this registry")
	asPEM := fl.Bool("pem", false, "print the public key only, as PEM")
	kf := addKeyFlags(fl)
	if code, ok := parseSignFlags(fl, args); !ok {
		return code
	}
	switch {
	case *asPEM:
		if kf.pub == "" {
			return keysUsageError(fl, "--pem needs --pub")
		}
		pub, err := readPublicKey(kf.pub)
		if err != nil {
			return keysFail(err)
		}
		return printPublicPEM(pub)
	case *registry != "":
		if kf.kid == "" || kf.pub != "" {
			return keysUsageError(fl, "--keys takes --kid, and no --pub")
		}
		keys, err := signed.LoadKeys(*registry)
		if err != nil {
			return keysFail(err)
		}
		k := keys.Lookup([]byte(kf.kid))
		if k == nil {
			return keysFail(fmt.Errorf("%s: no kid %q", *registry, kf.kid))
		}
		e, err := signed.Entry(k)
		if err != nil {
			return keysFail(err)
		}
		fmt.Println(string(e))
		return 0
	}
	if kf.pub == "" || kf.identity == "" {
		return keysUsageError(fl, "--pub and --identity are required")
	}
	key, err := kf.key()
	if err != nil {
		return keysFail(err)
	}
	e, err := signed.Entry(key)
	if err != nil {
		return keysFail(err)
	}
	fmt.Println(string(e))
	return 0
}

// printPublicPEM prints pub as a PEM PUBLIC KEY block.
func printPublicPEM(pub crypto.PublicKey) int {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return keysFail(err)
	}
	os.Stdout.Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return 0
}
