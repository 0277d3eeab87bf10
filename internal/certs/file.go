package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Modes of the files this package writes.
const (
	CertMode fs.FileMode = 0o644
	KeyMode  fs.FileMode = 0o600
)

// WriteFile writes data to path atomically: readers see either the old
// file or the complete new one, never a partial write. The content goes to
// a temporary file in the same directory whose mode is set to exactly perm
// (whatever the umask) before any byte is written, then it is synced and
// moved into place. Without force, WriteFile refuses (with an error
// wrapping fs.ErrExist) when path exists, and that check is atomic: the
// file is linked into place, which fails if the name is taken. With force,
// the file is renamed over path; a symbolic link at path is replaced, not
// followed. The final mode is checked after the move.
func WriteFile(path string, data []byte, perm fs.FileMode, force bool) (err error) {
	if perm&^fs.ModePerm != 0 {
		return fmt.Errorf("%s: mode %v has bits beyond the permissions", path, perm)
	}
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s: %w", path, fs.ErrExist)
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return err
	}
	if err := place(tmpName, path, force); err != nil {
		return err
	}
	syncDir(dir)
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if got := fi.Mode(); !got.IsRegular() || got.Perm() != perm {
		return fmt.Errorf("%s: mode is %v after writing, want %v", path, got, perm)
	}
	return nil
}

// place moves the finished temporary file to path.
func place(tmpName, path string, force bool) error {
	if force {
		return os.Rename(tmpName, path)
	}
	err := os.Link(tmpName, path)
	if err == nil {
		os.Remove(tmpName)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", path, fs.ErrExist)
	}
	// The file system has no hard links: check, then rename. The window
	// between the two is the best this file system allows.
	if _, serr := os.Lstat(path); serr == nil {
		return fmt.Errorf("%s: %w", path, fs.ErrExist)
	}
	return os.Rename(tmpName, path)
}

// syncDir makes a rename durable. Errors are ignored: not every platform
// or file system can sync a directory, and the data itself is synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// WritePair writes a certificate (CertMode) and its private key (KeyMode).
// Without force it refuses, before writing either, when one of them
// exists. The key is written first; if the certificate then fails, the new
// key is removed again, so that no key is left without its certificate.
func WritePair(certPath string, certPEM []byte, keyPath string, keyPEM []byte, force bool) error {
	if !force {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s: %w", p, fs.ErrExist)
			}
		}
	}
	if err := WriteFile(keyPath, keyPEM, KeyMode, force); err != nil {
		return err
	}
	if err := WriteFile(certPath, certPEM, CertMode, force); err != nil {
		os.Remove(keyPath)
		return err
	}
	return nil
}
