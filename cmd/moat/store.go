package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/store/disk"
)

const storeUsage = `Usage: moat store [flags] check | rotate-key | recover --into DIR | gen-key

Maintain the durable store (DATA_DIR/store: sessions, queued messages,
retained messages). Every command but gen-key needs the broker stopped.
The key comes from --key-file, else from $MOAT_STORE_KEY (64 hex
characters); no key means a store kept in the clear.

Commands:
  check        read and decrypt every record; exit 1 when one is damaged
  rotate-key   re-encrypt the store under --new-key-file (or in the clear
               with --decrypt); a crash leaves the old or the new key
  recover      copy every readable record into a new store at --into DIR
               and list what could not be read; then move DIR into place
  gen-key      write a new random key to --key-file (mode 0600); refuses to
               overwrite an existing file

See docs/durability.md for backups and recovery.

Flags:
`

// storeCmd runs "moat store". It returns 0 on success, 1 when the command
// failed or found damage, 2 on a usage error.
func storeCmd(args []string) int {
	fl := flag.NewFlagSet("moat store", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	fl.Usage = func() {
		fmt.Fprint(os.Stderr, storeUsage)
		fl.PrintDefaults()
	}
	cfgPath := fl.String("config", "", "take data_dir from this configuration file")
	dataDir := fl.String("data-dir", "", "data directory (default: the configuration's, or "+config.DefaultDataDir+"); the store is DIR/store")
	storeDir := fl.String("store-dir", "", "the store directory itself (overrides --config and --data-dir)")
	keyFile := fl.String("key-file", "", "store key file: 32 raw bytes or 64 hex characters, mode 0600 (default: the configuration's store.key_env or store.key_file, else DIR/store.key when it exists)")
	keyEnv := fl.String("key-env", disk.DefaultKeyEnv, "environment variable holding the key in hex, used without --key-file")
	newKeyFile := fl.String("new-key-file", "", "rotate-key: the new key file")
	decrypt := fl.Bool("decrypt", false, "rotate-key: keep the store in the clear from now on")
	into := fl.String("into", "", "recover: the new store directory (missing or empty)")
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fl.Usage()
		return 2
	}
	cmd := pos[0]
	if cmd == "gen-key" {
		if *keyFile == "" {
			fmt.Fprintln(os.Stderr, "moat store gen-key: --key-file is required")
			return 2
		}
		if err := disk.GenerateKey(*keyFile); err != nil {
			return storeFail(err)
		}
		fmt.Printf("wrote a new store key to %s (mode 0600); keep a copy apart from the store's backups\n", *keyFile)
		return 0
	}
	switch cmd {
	case "check", "rotate-key", "recover":
	default:
		fmt.Fprintf(os.Stderr, "moat store: unknown command %q\n\n", cmd)
		fl.Usage()
		return 2
	}
	cfg := config.Default()
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "moat store:", err)
			return 2
		}
		cfg = c
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	dir := *storeDir
	if dir == "" {
		dir = cfg.StoreDir()
	}
	given := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["key-file"] && !given["key-env"] {
		// The key the broker of this configuration uses.
		switch {
		case cfg.Store.KeyEnv != "":
			*keyEnv = cfg.Store.KeyEnv
		case fileExists(cfg.StoreKeyFile()):
			*keyFile = cfg.StoreKeyFile()
		}
	}
	key, err := disk.LoadKey(*keyFile, *keyEnv)
	if err != nil {
		return storeFail(err)
	}
	switch cmd {
	case "check":
		return storeCheck(dir, key)
	case "recover":
		if *into == "" {
			fmt.Fprintln(os.Stderr, "moat store recover: --into DIR is required")
			return 2
		}
		return storeRecover(dir, key, *into)
	default:
		return storeRotate(dir, key, *newKeyFile, *decrypt)
	}
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

func storeFail(err error) int {
	fmt.Fprintln(os.Stderr, "moat store:", err)
	return 1
}

func storeCheck(dir string, key []byte) int {
	r, err := disk.Check(dir, key)
	if err != nil {
		return storeFail(err)
	}
	printStoreReport(r, "readable")
	if !r.OK() {
		fmt.Printf("\n%d damaged record(s). Stop the broker and run:\n  moat store recover --store-dir %s --into NEWDIR\n"+
			"then move %s aside and NEWDIR in its place (docs/durability.md, Recovery)\n", r.ProblemCount, dir, dir)
		return 1
	}
	fmt.Println("store OK")
	return 0
}

func storeRecover(dir string, key []byte, into string) int {
	r, err := disk.Recover(dir, key, into)
	if err != nil {
		return storeFail(err)
	}
	printStoreReport(r, "copied")
	fmt.Printf("\nrecovered into %s; %d record(s) could not be read.\n"+
		"With the broker stopped, move %s aside and %s in its place.\n", into, r.ProblemCount, dir, into)
	return 0
}

func printStoreReport(r *disk.Report, verb string) {
	enc := "no (clear, checksummed)"
	if r.Encrypted {
		enc = "AES-256-GCM, key id " + r.KeyID
	}
	fmt.Printf("store:      %s (%s, format %d, %d bytes)\n", r.Dir, r.Generation, r.Format, r.Bytes)
	fmt.Printf("encryption: %s\n", enc)
	fmt.Printf("%-12s%d session(s), %d queued message(s), %d retained message(s), %d unreleased QoS 2 id(s)\n",
		verb+":", r.Sessions, r.Queued, r.Retained, r.Inbound)
	for _, p := range r.Problems {
		if strings.HasPrefix(p.Record, "key ") {
			// A damaged block of the engine, not one record: what follows
			// it in the range cannot be read, and nobody knows how much.
			fmt.Printf("damaged:    records from %s on, an unknown number: %s\n", p.Record, p.Err)
			continue
		}
		fmt.Printf("damaged:    %s: %s\n", p.Record, p.Err)
	}
	if n := r.ProblemCount - len(r.Problems); n > 0 {
		fmt.Printf("damaged:    ... and %d more\n", n)
	}
}

func storeRotate(dir string, oldKey []byte, newKeyFile string, decrypt bool) int {
	if (newKeyFile == "") == !decrypt {
		fmt.Fprintln(os.Stderr, "moat store rotate-key: give either --new-key-file FILE or --decrypt")
		return 2
	}
	var newKey []byte
	if !decrypt {
		k, err := disk.LoadKey(newKeyFile, "")
		if err != nil {
			return storeFail(err)
		}
		newKey = k
	}
	if err := disk.RotateKey(dir, oldKey, newKey); err != nil {
		if errors.Is(err, disk.ErrWrongKey) || errors.Is(err, disk.ErrKeyRequired) {
			fmt.Fprintln(os.Stderr, "moat store: the current key is given with --key-file or $"+disk.DefaultKeyEnv)
		}
		return storeFail(err)
	}
	if decrypt {
		fmt.Printf("store %s is now kept in the clear\n", dir)
	} else {
		fmt.Printf("store %s is now encrypted with the key in %s; the old key no longer opens it\n", dir, newKeyFile)
	}
	return 0
}
