package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A store directory holds generations of the engine's files and a pointer
// to the live one:
//
//	DIR/ACTIVE          "gen-000002\n": the live generation
//	DIR/gen-000002/     the engine's files
//
// RotateKey and migrations that rewrite every record build the next
// generation beside the live one and switch by replacing ACTIVE (write a
// temporary file, fsync, rename, fsync the directory), so a crash leaves
// either the old or the new generation live, each complete under its own
// key. Generations that ACTIVE does not name are leftovers of such a crash
// and are removed by the next Open that verified the key.
const (
	activeFile = "ACTIVE"
	genPrefix  = "gen-"
)

func genName(n int) string { return fmt.Sprintf("%s%06d", genPrefix, n) }

func parseGen(name string) (int, bool) {
	if !strings.HasPrefix(name, genPrefix) {
		return 0, false
	}
	n, err := strconv.Atoi(name[len(genPrefix):])
	return n, err == nil && n > 0 && genName(n) == name
}

// readActive returns the live generation of dir. ok is false when dir has
// no ACTIVE file.
func readActive(dir string) (gen string, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, activeFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	gen = strings.TrimSuffix(string(b), "\n")
	if _, valid := parseGen(gen); !valid {
		return "", false, fmt.Errorf("%s: %w: %q is not a generation name; %s",
			filepath.Join(dir, activeFile), ErrCorrupted, truncate(gen, 40), recoveryHint)
	}
	return gen, true, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// writeActive makes gen the live generation of dir, atomically.
func writeActive(dir, gen string) error {
	tmp := filepath.Join(dir, activeFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(gen + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, activeFile))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// prepareDir returns the live generation of dir, creating dir and its first
// generation's pointer when dir is missing or empty (created is then true).
// A non-empty directory without ACTIVE is refused: it is not a store, or
// its pointer was lost, and guessing could hide data.
func prepareDir(dir string, create bool) (gen string, created bool, err error) {
	gen, ok, err := readActive(dir)
	if err != nil || ok {
		return gen, false, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	if len(entries) > 0 {
		return "", false, fmt.Errorf("%s is not empty but has no %s file: not a Moat store, or its %s file was lost (if a %s%s directory holds the store, write that name into %s)",
			dir, activeFile, activeFile, genPrefix, "NNNNNN", activeFile)
	}
	if !create {
		return "", false, fmt.Errorf("no store here: %w", os.ErrNotExist)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, err
	}
	gen = genName(1)
	if err := writeActive(dir, gen); err != nil {
		return "", false, err
	}
	return gen, true, nil
}

// removeStale removes the generations of dir other than live, and a
// temporary ACTIVE file: leftovers of an interrupted rotation.
func removeStale(dir, live string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if _, isGen := parseGen(name); (isGen && name != live) || name == activeFile+".tmp" {
			if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextGen is the generation after every one present in dir.
func nextGen(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	last := 0
	for _, e := range entries {
		if n, ok := parseGen(e.Name()); ok && n > last {
			last = n
		}
	}
	return genName(last + 1), nil
}

// dirSize is the size of the files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}
