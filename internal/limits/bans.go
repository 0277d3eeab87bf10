package limits

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/fileversion"
)

// userPrefix starts a user-name ban target.
const userPrefix = "user:"

// maxUserKey is the longest user name kept as is; longer names are tracked
// by their SHA-256, so that a tracked entry stays small.
const maxUserKey = 256

// userKey is the tracking and ban key of a user name: "user:NAME", or for a
// long name "user:" NUL "sha256:HEX" (NUL cannot occur in an MQTT string, so
// the two forms never collide).
func userKey(name string) string {
	if len(name) <= maxUserKey {
		return userPrefix + name
	}
	sum := sha256.Sum256([]byte(name))
	return userPrefix + "\x00sha256:" + hex.EncodeToString(sum[:])
}

// addrPrefix is the tracking prefix of addr: /32 for IPv4 (IPv4-mapped IPv6
// included), /64 for IPv6.
func addrPrefix(addr netip.Addr) (netip.Prefix, bool) {
	if !addr.IsValid() {
		return netip.Prefix{}, false
	}
	a := addr.Unmap().WithZone("")
	bits := 64
	if a.Is4() {
		bits = 32
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// prefixTarget is the canonical target of p: a bare address for a single
// host, the masked CIDR otherwise.
func prefixTarget(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// parseTarget parses a ban target: an IP address, a CIDR prefix (masked;
// IPv4-mapped forms become IPv4), or "user:NAME". It returns the prefix (IP
// targets) or the user key, and the canonical target.
func parseTarget(s string) (netip.Prefix, string, string, error) {
	if name, ok := strings.CutPrefix(s, userPrefix); ok {
		if name == "" {
			return netip.Prefix{}, "", "", errors.New("limits: ban target user: needs a name")
		}
		if strings.HasPrefix(name, "\x00sha256:") {
			// A hashed long name, as Bans reports it.
			return netip.Prefix{}, s, s, nil
		}
		k := userKey(name)
		return netip.Prefix{}, k, k, nil
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		q, err := netip.ParsePrefix(s)
		if err != nil {
			return p, "", "", fmt.Errorf("limits: ban target %q: %w", s, err)
		}
		a, bits := q.Addr(), q.Bits()
		if a.Is4In6() {
			if bits < 96 {
				return p, "", "", fmt.Errorf("limits: ban target %q: IPv4-mapped prefix shorter than /96", s)
			}
			a, bits = a.Unmap(), bits-96
		}
		p = netip.PrefixFrom(a, bits).Masked()
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, "", "", fmt.Errorf("limits: ban target %q: not an IP, a CIDR or user:NAME", s)
		}
		a = a.Unmap().WithZone("")
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return p, "", prefixTarget(p), nil
}

// Ban bans target (an IP, a CIDR, or "user:NAME") for d from now, replacing
// any ban of the same target and counting one more offence. It returns an
// error for a bad target or duration, or when the ban cannot be persisted
// (the ban is in force regardless).
func (b *BruteForce) Ban(target string, d time.Duration, reason string) error {
	p, user, canon, err := parseTarget(target)
	if err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("limits: ban of %s: duration must be positive", canon)
	}
	now := b.o.Now()
	b.mu.Lock()
	offences := b.offencesLocked(p, user, now) + 1
	b.setBanLocked(&banEntry{target: canon, prefix: p, user: user, until: now.Add(d), reason: reason, offences: offences}, now)
	b.mu.Unlock()
	return b.save()
}

// Unban lifts the ban of target, given as Ban takes it, and forgets its
// offences. It reports whether an active ban was lifted.
func (b *BruteForce) Unban(target string) bool {
	p, user, _, err := parseTarget(target)
	if err != nil {
		return false
	}
	now := b.o.Now()
	b.mu.Lock()
	e := b.lookupLocked(p, user)
	if e != nil {
		b.removeBanLocked(e)
	}
	b.mu.Unlock()
	if e == nil {
		return false
	}
	if err := b.save(); err != nil {
		b.log.Error("limits: cannot persist bans", "file", b.o.BansFile, "err", err)
	}
	return now.Before(e.until)
}

// Bans returns the active bans, sorted by target. Expired bans are left out.
func (b *BruteForce) Bans() []Ban {
	now := b.o.Now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.snapshotLocked(func(e *banEntry) bool { return now.Before(e.until) })
}

func (b *BruteForce) snapshotLocked(keep func(*banEntry) bool) []Ban {
	out := []Ban{}
	add := func(e *banEntry) {
		if keep(e) {
			out = append(out, Ban{Target: e.target, Until: e.until, Reason: e.reason, Offences: e.offences})
		}
	}
	for _, e := range b.ipBans {
		add(e)
	}
	for _, e := range b.userBans {
		add(e)
	}
	slices.SortFunc(out, func(x, y Ban) int { return cmp.Compare(x.Target, y.Target) })
	return out
}

// bansFile is the layout of BansFile.
type bansFile struct {
	Version int   `json:"version"`
	Bans    []Ban `json:"bans"`
}

const bansFileVersion = 1

// load reads BansFile and replaces the ban list with what it holds;
// failure counts stay. Offences already forgotten are skipped; at most
// MaxTracked entries are kept. A missing file is an empty list. On error
// the ban list is unchanged. The caller holds fileMu.
func (b *BruteForce) load() error {
	name := b.o.BansFile
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		data = []byte(`{"version":1,"bans":[]}`)
	} else if err != nil {
		return fmt.Errorf("limits: bans file %s: %w", name, err)
	}
	b.fileStat, _ = os.Stat(name)
	entries, err := parseBans(name, data)
	if err != nil {
		return err
	}
	now := b.o.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.ipBans)
	clear(b.userBans)
	b.lens4, b.lens6 = [33]int{}, [129]int{}
	b.byUntil = b.byUntil[:0]
	for _, e := range entries {
		if !b.forgotten(e, now) {
			b.setBanLocked(e, now)
		}
	}
	return nil
}

// parseBans decodes a bans file strictly.
func parseBans(name string, data []byte) ([]*banEntry, error) {
	var f bansFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("limits: bans file %s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("limits: bans file %s: trailing data", name)
	}
	if f.Version != bansFileVersion {
		return nil, fmt.Errorf("limits: bans file %s: version %d, want %d", name, f.Version, bansFileVersion)
	}
	out := make([]*banEntry, 0, len(f.Bans))
	for i, ban := range f.Bans {
		p, user, canon, err := parseTarget(ban.Target)
		if err != nil {
			return nil, fmt.Errorf("limits: bans file %s: bans[%d]: %w", name, i, err)
		}
		if ban.Offences < 1 {
			return nil, fmt.Errorf("limits: bans file %s: bans[%d]: offences must be at least 1", name, i)
		}
		out = append(out, &banEntry{target: canon, prefix: p, user: user, until: ban.Until, reason: ban.Reason, offences: ban.Offences})
	}
	return out, nil
}

// Reload replaces the ban list with the bans file's, for changes made by
// another process (moat ban). Failure counts stay. On error nothing
// changes.
func (b *BruteForce) Reload() error {
	if b.o.BansFile == "" {
		return nil
	}
	b.fileMu.Lock()
	defer b.fileMu.Unlock()
	return b.load()
}

// Watch reloads the bans file whenever another process changes it,
// checking every interval, until ctx is done. Its own writes do not
// trigger a reload.
func (b *BruteForce) Watch(ctx context.Context, every time.Duration) {
	if b.o.BansFile == "" {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, _ := os.Stat(b.o.BansFile)
		b.fileMu.Lock()
		changed := !fileversion.Same(st, b.fileStat)
		var err error
		if changed {
			err = b.load()
		}
		b.fileMu.Unlock()
		switch {
		case err != nil:
			b.log.Error("limits: bans file not reloaded; the bans in force stay", "file", b.o.BansFile, "err", err)
		case changed:
			b.log.Info("limits: bans file reloaded", "file", b.o.BansFile, "bans", len(b.Bans()))
		}
	}
}

// save rewrites BansFile with every remembered ban: a temporary file in the
// same directory, mode 0600, synced, then renamed over the old one. fileMu
// makes the snapshot taken last the one written last.
func (b *BruteForce) save() error {
	name := b.o.BansFile
	if name == "" {
		return nil
	}
	b.fileMu.Lock()
	defer b.fileMu.Unlock()
	b.mu.RLock()
	f := bansFile{Version: bansFileVersion, Bans: b.snapshotLocked(func(*banEntry) bool { return true })}
	b.mu.RUnlock()
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("limits: bans file %s: %w", name, err)
	}
	data = append(data, '\n')
	if err := writeFileAtomic(name, data); err != nil {
		return fmt.Errorf("limits: bans file %s: %w", name, err)
	}
	b.fileStat, _ = os.Stat(name)
	return nil
}

func writeFileAtomic(name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
