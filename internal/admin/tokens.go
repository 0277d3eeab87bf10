package admin

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/moatmq/moat/internal/fileversion"
)

// Tokens are the administrators' bearer tokens, kept in a file as
// "name:sha256:HEX" lines (the SHA-256 of the token; tokens are 256-bit
// random values, so a fast hash does not weaken them). The file is read
// again when it changes.
type Tokens struct {
	path string

	mu      sync.Mutex
	stat    os.FileInfo
	entries []tokenEntry
	loadErr error
}

type tokenEntry struct {
	name string
	sum  [sha256.Size]byte
}

// TokenPrefix starts every token, so that scanners can spot leaked ones.
const TokenPrefix = "moat_"

// MaxTokens bounds the tokens a file may hold.
const MaxTokens = 1000

var tokenName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// NewTokens reads the tokens file at path; a missing file holds no
// tokens.
func NewTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// reload reads the file if it changed since the last read.
func (t *Tokens) reload() error {
	st, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		st = nil
	} else if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries != nil && fileversion.Same(st, t.stat) {
		return t.loadErr
	}
	t.stat = st
	if st == nil {
		t.entries, t.loadErr = []tokenEntry{}, nil
		return nil
	}
	data, err := os.ReadFile(t.path)
	if err == nil {
		var entries []tokenEntry
		if entries, err = parseTokens(data); err == nil {
			t.entries = entries
		}
	}
	if t.entries == nil {
		t.entries = []tokenEntry{}
	}
	t.loadErr = err
	return err
}

// parseTokens reads the file format.
func parseTokens(data []byte) ([]tokenEntry, error) {
	var out []tokenEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, ":")
		hexSum, found := strings.CutPrefix(rest, "sha256:")
		sum, err := hex.DecodeString(hexSum)
		if !ok || !found || err != nil || len(sum) != sha256.Size || !tokenName.MatchString(name) {
			return nil, fmt.Errorf("line %d: want NAME:sha256:HEX (made by moat admin token add)", n)
		}
		if len(out) == MaxTokens {
			return nil, fmt.Errorf("line %d: more than %d tokens", n, MaxTokens)
		}
		e := tokenEntry{name: name}
		copy(e.sum[:], sum)
		out = append(out, e)
	}
	return out, sc.Err()
}

// Check returns the name of the token's owner. It compares against every
// entry in constant time, so the time taken tells nothing of which entry,
// if any, matched.
func (t *Tokens) Check(token string) (name string, ok bool) {
	if err := t.reload(); err != nil && t.entries == nil {
		return "", false
	}
	sum := sha256.Sum256([]byte(token))
	t.mu.Lock()
	entries := t.entries
	t.mu.Unlock()
	for _, e := range entries {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 && !ok {
			name, ok = e.name, true
		}
	}
	return name, ok
}

// Names lists the tokens' names, sorted.
func (t *Tokens) Names() ([]string, error) {
	err := t.reload()
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, 0, len(t.entries))
	for _, e := range t.entries {
		names = append(names, e.name)
	}
	sort.Strings(names)
	return names, err
}

// AddToken creates a token for name in the file at path (created 0600),
// and returns it: the only time it is shown.
func AddToken(path, name string) (string, error) {
	if !tokenName.MatchString(name) {
		return "", fmt.Errorf("token name %q: want 1 to 64 of A-Z a-z 0-9 . _ -", name)
	}
	entries, err := readTokenFile(path)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.name == name {
			return "", fmt.Errorf("a token named %q exists; remove it first", name)
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	e := tokenEntry{name: name, sum: sha256.Sum256([]byte(token))}
	return token, writeTokenFile(path, append(entries, e))
}

// RemoveToken deletes name's token from the file at path.
func RemoveToken(path, name string) error {
	entries, err := readTokenFile(path)
	if err != nil {
		return err
	}
	for i, e := range entries {
		if e.name == name {
			return writeTokenFile(path, append(entries[:i], entries[i+1:]...))
		}
	}
	return fmt.Errorf("no token named %q", name)
}

func readTokenFile(path string) ([]tokenEntry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entries, err := parseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}

// writeTokenFile replaces the file atomically, mode 0600.
func writeTokenFile(path string, entries []tokenEntry) error {
	var b bytes.Buffer
	b.WriteString("# Moat admin API tokens: NAME:sha256:HEX. Managed with moat admin token.\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "%s:sha256:%s\n", e.name, hex.EncodeToString(e.sum[:]))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
