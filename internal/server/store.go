package server

import (
	"errors"
	"fmt"
	"os"

	"github.com/moatmq/moat/internal/store"
	"github.com/moatmq/moat/internal/store/disk"
)

// openStore opens the durable store of s.cfg (nil in memory mode). The key
// comes from store.key_env, else from the key file; the default key file
// is generated together with a new store. A store whose key is missing,
// wrong or whose files are damaged is an error: the broker never starts
// on an empty store in place of one it could not read.
func (s *Server) openStore() (st store.Store, strict bool, err error) {
	sc := s.cfg.Store
	if sc.Mode == "memory" {
		return nil, false, nil
	}
	dir := s.cfg.StoreDir()
	var key []byte
	if sc.KeyEnv != "" {
		key, err = disk.LoadKey("", sc.KeyEnv)
		if err == nil && key == nil {
			err = fmt.Errorf("store.key_env: the environment variable %s is not set", sc.KeyEnv)
		}
	} else {
		key, err = s.storeKeyFromFile(dir)
	}
	if err != nil {
		return nil, false, err
	}
	defer clear(key)
	mode := disk.Strict
	if sc.Mode == "relaxed" {
		mode = disk.Relaxed
	}
	ds, err := disk.Open(disk.Options{Dir: dir, Mode: mode, FlushInterval: sc.FlushInterval.D(), Key: key, Logger: s.log})
	if err != nil {
		return nil, false, err
	}
	return ds, mode == disk.Strict, nil
}

// storeKeyFromFile reads the key file, generating the default one when
// neither it nor the store exists yet.
func (s *Server) storeKeyFromFile(dir string) ([]byte, error) {
	file := s.cfg.StoreKeyFile()
	_, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) {
		if storeExists(dir) {
			return nil, fmt.Errorf("store key file %s is missing, but the store %s exists: put its key back (store.key_file or store.key_env); a new key cannot read it", file, dir)
		}
		if s.cfg.Store.KeyFile != "" {
			return nil, fmt.Errorf("store.key_file: %s does not exist (moat store gen-key --key-file %s makes one)", file, file)
		}
		if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
		if err := disk.GenerateKey(file); err != nil {
			return nil, err
		}
		s.log.Info("generated the store key; keep a copy apart from the store's backups", "file", file)
	} else if err != nil {
		return nil, fmt.Errorf("store key file: %w", err)
	}
	return disk.LoadKey(file, "")
}

// storeExists reports whether dir holds anything (a store or its debris).
func storeExists(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err == nil && len(entries) > 0
}

// restoreState loads the store into the broker before anything is served.
func (s *Server) restoreState(st store.Store) error {
	snap, err := st.Load()
	if err != nil {
		return err
	}
	rep, err := s.broker.Restore(snap)
	if err != nil {
		return fmt.Errorf("store: restoring: %w", err)
	}
	s.log.Info("store loaded", "dir", s.cfg.StoreDir(), "mode", s.cfg.Store.Mode, "sessions", rep.Sessions,
		"queued", rep.Queued, "retained", rep.Retained, "expired", rep.Expired, "orphans", rep.Orphans,
		"signed_replay_state", rep.ReplayState)
	return nil
}
