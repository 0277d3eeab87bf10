package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// formatVersion is the version of the on-disk format this code writes:
// layout, keys, record encoding and envelope. A change to any of them that
// an older Moat would misread raises it and adds a migration.
//
//	0: development stores written before the format record existed; the
//	   records are those of version 1.
//	1: the format record, the key id record, keys.go, record.go, seal.go.
//	2: inbound QoS 2 records and state records (keys.go), and the identity section of session
//	   records (record.go); a store of format 1 is one of format 2 without
//	   them, so the migration only writes the format record.
const formatVersion = 2

// migrations[v] upgrades a store of format v to v+1. Each ends by writing
// the new format record in the same durable batch as its last change, so a
// crash leaves the store at v or at v+1, never between.
var migrations = map[uint64]func(s *Store) error{
	0: func(s *Store) error {
		var b kvBatch
		b.set(keyFormat, formatRecord(1))
		return s.eng.write(&b, true)
	},
	1: func(s *Store) error {
		var b kvBatch
		b.set(keyFormat, formatRecord(2))
		return s.eng.write(&b, true)
	},
}

func formatRecord(v uint64) []byte {
	return sealPlain(nil, keyFormat, binary.AppendUvarint(nil, v))
}

// readFormat returns the store's format version; found is false when the
// record is missing.
func readFormat(eng engine) (v uint64, found bool, err error) {
	raw, err := eng.get(keyFormat)
	if errors.Is(err, errNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, metaErr(err)
	}
	p, err := openPlain(keyFormat, raw)
	if err != nil {
		return 0, false, fmt.Errorf("%w; %s", err, recoveryHint)
	}
	v, n := binary.Uvarint(p)
	if n <= 0 || n != len(p) {
		return 0, false, fmt.Errorf("%w; %s", corrupt(keyFormat, "not a version number"), recoveryHint)
	}
	return v, true, nil
}

// metaErr marks engine corruption met while reading the store's own
// records: record-level recovery cannot help then.
func metaErr(err error) error {
	var ee *engineError
	if errors.As(err, &ee) && ee.corrupted {
		ee.meta = true
	}
	return err
}

// isEmpty reports whether the engine holds no record at all.
func isEmpty(eng engine) (bool, error) {
	empty := true
	stop := errors.New("stop")
	for _, p := range append([]string{prefixMeta}, dataPrefixes...) {
		err := eng.scan([]byte(p), func(_, _ []byte) error { empty = false; return stop })
		if err != nil && err != stop {
			return false, err
		}
		if !empty {
			break
		}
	}
	return empty, nil
}

// checkKey compares the store's key id record with the sealer's key.
func checkKey(eng engine, seal *sealer) error {
	raw, err := eng.get(keyKeyID)
	if errors.Is(err, errNotFound) {
		if seal.encrypted() {
			return ErrNotEncrypted
		}
		return nil
	}
	if err != nil {
		return metaErr(err)
	}
	id, err := openPlain(keyKeyID, raw)
	if err != nil {
		return fmt.Errorf("%w; %s", err, recoveryHint)
	}
	if !seal.encrypted() {
		return ErrKeyRequired
	}
	if !bytes.Equal(id, keyID(seal.master)) {
		return ErrWrongKey
	}
	return nil
}

// prepare checks the format and the key of a store just opened, then
// initialises a new store or migrates an old one. Nothing is written
// before both checks passed.
func (s *Store) prepare(created bool) error {
	v, found, err := readFormat(s.eng)
	if err != nil {
		return err
	}
	fresh := false
	if !found {
		empty, err := isEmpty(s.eng)
		if err != nil {
			return err
		}
		fresh = created || empty
	}
	if v > formatVersion {
		return fmt.Errorf("%w: format %d, this Moat reads up to %d; run a newer Moat", ErrNewerFormat, v, formatVersion)
	}
	if fresh {
		var b kvBatch
		b.set(keyFormat, formatRecord(formatVersion))
		if s.seal.encrypted() {
			b.set(keyKeyID, sealPlain(nil, keyKeyID, keyID(s.seal.master)))
		}
		return s.eng.write(&b, true)
	}
	if err := checkKey(s.eng, s.seal); err != nil {
		return err
	}
	for ; v < formatVersion; v++ {
		if err := migrations[v](s); err != nil {
			return fmt.Errorf("migrating the store from format %d to %d: %w", v, v+1, err)
		}
	}
	return nil
}
