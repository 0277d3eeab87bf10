package disk

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultKeyEnv is the environment variable LoadKey reads by default.
const DefaultKeyEnv = "MOAT_STORE_KEY"

// LoadKey returns the store key from file, or when file is "" from the
// environment variable envName, or nil when neither is set (a clear
// store). A key file holds 32 raw bytes or 64 hexadecimal characters (a
// trailing newline allowed) and must not be accessible to group or others
// (mode 0600 or stricter): a looser file is refused, not used. The
// variable holds 64 hexadecimal characters. No error repeats key material.
func LoadKey(file, envName string) ([]byte, error) {
	if file != "" {
		return readKeyFile(file)
	}
	if envName == "" {
		return nil, nil
	}
	v, ok := os.LookupEnv(envName)
	if !ok {
		return nil, nil
	}
	key, err := parseHexKey([]byte(v))
	if err != nil {
		return nil, fmt.Errorf("store key from $%s: %w", envName, err)
	}
	return key, nil
}

func readKeyFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("store key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("store key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("store key file %s: not a regular file", file)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("store key file %s: mode %04o lets group or others read it; run chmod 600 %s", file, perm, file)
	}
	raw, err := io.ReadAll(io.LimitReader(f, 2*KeySize+3))
	if err != nil {
		return nil, fmt.Errorf("store key file %s: %w", file, err)
	}
	defer clear(raw)
	if len(raw) == KeySize {
		return append([]byte(nil), raw...), nil
	}
	key, err := parseHexKey(raw)
	if err != nil {
		return nil, fmt.Errorf("store key file %s: %w", file, err)
	}
	return key, nil
}

var errKeyFormat = fmt.Errorf("a store key is %d raw bytes or %d hexadecimal characters", KeySize, 2*KeySize)

func parseHexKey(b []byte) ([]byte, error) {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) != 2*KeySize {
		return nil, errKeyFormat
	}
	key := make([]byte, KeySize)
	if _, err := hex.Decode(key, b); err != nil {
		return nil, errKeyFormat
	}
	return key, nil
}

// GenerateKey writes a new random store key to file, as 64 hexadecimal
// characters and a newline, with mode 0600. It refuses to replace an
// existing file: a lost key is a lost store.
func GenerateKey(file string) error {
	key := make([]byte, KeySize)
	rand.Read(key)
	defer clear(key)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("store key file %s already exists; a new key would make the store it opens unreadable", file)
	}
	if err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	out := make([]byte, 0, 2*KeySize+1)
	out = hex.AppendEncode(out, key)
	out = append(out, '\n')
	defer clear(out)
	_, err = f.Write(out)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return fmt.Errorf("store key file %s: %w", file, err)
	}
	return nil
}
