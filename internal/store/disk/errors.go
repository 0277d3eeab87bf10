package disk

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of Open, Load, Check, Recover and RotateKey. Match them with
// errors.Is; the messages name the store directory and, for corruption,
// the record and the recovery command.
var (
	// ErrWrongKey: the key does not match the store's key id record.
	// Nothing in the store was changed.
	ErrWrongKey = errors.New("wrong store key")
	// ErrKeyRequired: the store is encrypted and no key was given.
	ErrKeyRequired = errors.New("the store is encrypted and no key was given")
	// ErrNotEncrypted: a key was given for a store kept in the clear; it is
	// refused rather than ignored (encrypt the store with RotateKey).
	ErrNotEncrypted = errors.New("a key was given but the store is not encrypted (encrypt it with 'moat store rotate-key')")
	// ErrNewerFormat: the store was written by a newer Moat.
	ErrNewerFormat = errors.New("the store's format is newer than this Moat understands")
	// ErrCorrupted matches every *CorruptError and engine corruption.
	ErrCorrupted = errors.New("store corrupted")
	// ErrClosed: a write or Load after Close.
	ErrClosed = errors.New("store closed")
	// ErrInUse: another process (a running broker?) has the store open.
	ErrInUse = errors.New("the store is in use by another process (is the broker running?)")
)

// recoveryHint ends the message of an error that found corruption.
const recoveryHint = "run 'moat store check' to list the damage and 'moat store recover --into NEWDIR' to copy every readable record (docs/durability.md, Recovery)"

// CorruptError is a record that cannot be read back: its authentication
// tag or checksum does not match, or its content does not decode.
type CorruptError struct {
	Record string // as rendered by recordName: quoted, shortened
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("record %s is corrupted: %s", e.Record, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupted) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupted }

func corrupt(key []byte, reason string) error {
	return &CorruptError{Record: recordName(key), Reason: reason}
}

// engineError wraps an engine failure with what was being done and, when
// the engine reports corruption, the recovery hint.
type engineError struct {
	op        string
	err       error
	corrupted bool // the engine says so
	maybe     bool // the engine cannot open its files: perhaps damage
	meta      bool // the damage hides the store's own format or key records
}

func (e *engineError) Error() string {
	msg := firstLine(e.err)
	switch {
	case e.corrupted && e.meta:
		return fmt.Sprintf("%s: the storage engine reports corruption: %s; the store's own records are unreadable, so 'moat store check' and 'recover' cannot read it either: restore the store directory from a backup (docs/durability.md, Backup and restore)", e.op, msg)
	case e.corrupted:
		return fmt.Sprintf("%s: the storage engine reports corruption: %s; %s", e.op, msg, recoveryHint)
	case e.maybe:
		return fmt.Sprintf("%s: %s; if files of the store were damaged or truncated, restore them from a backup (docs/durability.md, Recovery)", e.op, msg)
	}
	return fmt.Sprintf("%s: %s", e.op, msg)
}

// firstLine is an engine error's message without what its error library
// appends on further lines (markers, stack traces) for developers.
func firstLine(err error) string {
	if err == nil {
		return "no details"
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}

func (e *engineError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrCorrupted) true for engine corruption.
func (e *engineError) Is(target error) bool { return e.corrupted && target == ErrCorrupted }
