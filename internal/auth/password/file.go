package password

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// A password file holds one user per line:
//
//	# comment
//	alice:$argon2id$v=19$m=65536,t=2,p=2$<salt>$<hash>
//	bob:$7$101$<salt>$<hash>:sensors,ops
//
// The first field is the user name, the second the hash, and an optional
// third field lists the user's groups, separated by commas, for ACL group
// rules. Lines starting with '#' and blank lines are ignored (and kept by
// Save). A Mosquitto password file has two fields per line and loads
// unchanged.
//
// Further fields, after the groups (which may then be empty), each hold
// one SCRAM credential for MQTT 5 enhanced authentication, at most one per
// mechanism (see SCRAMCredential):
//
//	carol:$argon2id$...:ops:$scram-sha-256$10000$<salt>$<StoredKey>$<ServerKey>:$scram-sha-512$...
//	dave:$argon2id$...::$scram-sha-256$10000$<salt>$<StoredKey>$<ServerKey>
//
// A file with such fields no longer loads in Mosquitto.
//
// A user name is non-empty valid UTF-8 of at most 65535 bytes (the MQTT
// limit), without ':' or control characters, and does not start with '#'.
// A group name follows the same rules and contains no ','.

// maxFileSize bounds what Load reads.
const maxFileSize = 64 << 20

// maxNameLen is the MQTT limit on a UTF-8 string.
const maxNameLen = 65535

// UserInfo describes one user of a File, without the hash.
type UserInfo struct {
	Name   string
	Scheme Scheme
	Legacy bool
	Groups []string
	SCRAM  []string // mechanisms the user has a SCRAM credential for
}

// File is a parsed password file. Its methods are not safe for concurrent
// use; the Authenticator never mutates a File it serves from.
type File struct {
	lines    []line         // in file order, comments included
	index    map[string]int // user name -> position in lines
	warnings []string
}

// line is a comment or blank line (user == "") or a user entry.
type line struct {
	text   string // comment or blank line, verbatim
	no     int    // line number in the loaded file, for messages
	user   string
	hash   string
	parsed *hash
	groups []string
	scram  []SCRAMCredential // at most one per mechanism
}

// ErrUnknownUser is returned by File methods given a user not in the file.
var ErrUnknownUser = errors.New("no such user")

// NewFile returns an empty File.
func NewFile() *File {
	return &File{index: map[string]int{}}
}

// Load reads and parses the password file at path. Every malformed line
// is reported, as "path:line: reason", joined into one error. A file
// readable or writable by group or others loads, with a warning in
// Warnings.
func Load(path string) (*File, error) {
	f, _, err := load(path)
	return f, err
}

// load is Load, also returning what the file was when read, so that a
// watcher can tell when it changes.
func load(path string) (*File, os.FileInfo, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > maxFileSize {
		return nil, nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, nil, fmt.Errorf("%s: larger than %d bytes", path, maxFileSize)
	}
	f, err := Parse(path, data)
	if err != nil {
		return nil, nil, err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		f.warnings = append(f.warnings, fmt.Sprintf("%s: mode %04o lets group or others access the password hashes; chmod 600 it", path, perm))
	}
	return f, st, nil
}

// Parse parses the content of a password file; name is used in errors.
func Parse(name string, data []byte) (*File, error) {
	f := NewFile()
	var errs []error
	// Lines are checked one by one, UTF-8 included, so that an error names
	// its line; comments are kept verbatim.
	raw := strings.Split(string(data), "\n")
	if len(raw) > 0 && raw[len(raw)-1] == "" {
		raw = raw[:len(raw)-1]
	}
	for i, s := range raw {
		s = strings.TrimRight(s, "\r")
		l, err := parseLine(s)
		l.no = i + 1
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %v", name, i+1, err))
			continue
		}
		if l.user != "" {
			if prev, dup := f.index[l.user]; dup {
				errs = append(errs, fmt.Errorf("%s:%d: duplicate user %q (first on line %d)", name, i+1, l.user, f.lines[prev].no))
				continue
			}
			f.index[l.user] = len(f.lines)
		}
		f.lines = append(f.lines, l)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

func parseLine(s string) (line, error) {
	trimmed := strings.TrimSpace(s)
	if trimmed == "" || strings.HasPrefix(trimmed, "#") {
		return line{text: s}, nil
	}
	user, rest, ok := strings.Cut(s, ":")
	if !ok {
		return line{}, errors.New("want user:hash, user:hash:groups or user:hash:groups:SCRAM credentials")
	}
	if err := checkName("user name", user); err != nil {
		return line{}, err
	}
	fields := strings.Split(rest, ":")
	encoded := strings.TrimRight(fields[0], " \t\r")
	if strings.ContainsAny(encoded, " \t\r") {
		// base64 decoders skip '\r': a hash must not carry white space
		// inside, or the file would not read back the way it was written.
		return line{}, fmt.Errorf("user %q: the hash contains white space", user)
	}
	h, err := parseHash(encoded)
	if err != nil {
		return line{}, fmt.Errorf("user %q: %v", user, err)
	}
	l := line{user: user, hash: encoded, parsed: h}
	if len(fields) > 1 {
		groups, err := parseGroups(fields[1])
		if err != nil {
			return line{}, fmt.Errorf("user %q: %v", user, err)
		}
		l.groups = groups
	}
	if len(fields) > 2 {
		creds, err := parseSCRAMFields(fields[2:], 4)
		if err != nil {
			return line{}, fmt.Errorf("user %q: %v", user, err)
		}
		l.scram = creds
	}
	return l, nil
}

func parseGroups(field string) ([]string, error) {
	field = strings.TrimSpace(field)
	if field == "" {
		return nil, nil
	}
	var groups []string
	for g := range strings.SplitSeq(field, ",") {
		g = strings.TrimSpace(g)
		if err := checkName("group name", g); err != nil {
			return nil, err
		}
		if strings.Contains(g, ",") {
			return nil, fmt.Errorf("group name %q contains ','", g)
		}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	return groups, nil
}

// checkName enforces the rules for user and group names.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > maxNameLen:
		return fmt.Errorf("%s longer than %d bytes", what, maxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.HasPrefix(s, "#"):
		return fmt.Errorf("%s %q starts with '#'", what, s)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%s %q has leading or trailing space", what, s)
	}
	for _, r := range s {
		if r == ':' {
			return fmt.Errorf("%s %q contains ':'", what, s)
		}
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return fmt.Errorf("%s %q contains a control character", what, s)
		}
	}
	return nil
}

// CheckUserName reports whether name may be stored in a password file.
func CheckUserName(name string) error { return checkName("user name", name) }

// Warnings returns what Load found worth telling the operator, such as a
// file readable by others.
func (f *File) Warnings() []string { return slices.Clone(f.warnings) }

// Len returns the number of users.
func (f *File) Len() int { return len(f.index) }

// Users returns the users in file order.
func (f *File) Users() []UserInfo {
	var out []UserInfo
	for _, l := range f.lines {
		if l.user == "" {
			continue
		}
		u := UserInfo{Name: l.user, Scheme: l.parsed.scheme, Legacy: l.parsed.scheme.Legacy(), Groups: slices.Clone(l.groups)}
		for _, c := range l.scram {
			u.SCRAM = append(u.SCRAM, c.Mechanism)
		}
		out = append(out, u)
	}
	return out
}

// Lookup returns the encoded hash of user.
func (f *File) Lookup(user string) (encoded string, ok bool) {
	i, ok := f.index[user]
	if !ok {
		return "", false
	}
	return f.lines[i].hash, true
}

// Set stores encoded as user's hash, adding the user at the end of the file
// when absent and keeping the user's groups otherwise. A changed hash
// drops the user's SCRAM credentials, derived from the old password; set
// new ones with SetSCRAM. It refuses an invalid user name and a hash
// Verify does not understand.
func (f *File) Set(user, encoded string) error {
	if err := CheckUserName(user); err != nil {
		return err
	}
	h, err := parseHash(encoded)
	if err != nil {
		return err
	}
	if i, ok := f.index[user]; ok {
		if f.lines[i].hash != encoded {
			f.lines[i].scram = nil
		}
		f.lines[i].hash, f.lines[i].parsed = encoded, h
		return nil
	}
	f.index[user] = len(f.lines)
	f.lines = append(f.lines, line{user: user, hash: encoded, parsed: h})
	return nil
}

// SetGroups replaces user's groups; nil or empty removes them.
func (f *File) SetGroups(user string, groups []string) error {
	i, ok := f.index[user]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownUser, user)
	}
	var clean []string
	for _, g := range groups {
		if err := checkName("group name", g); err != nil {
			return err
		}
		if strings.Contains(g, ",") {
			return fmt.Errorf("group name %q contains ','", g)
		}
		if !slices.Contains(clean, g) {
			clean = append(clean, g)
		}
	}
	f.lines[i].groups = clean
	return nil
}

// SetSCRAM replaces user's SCRAM credentials with creds, at most one per
// mechanism; none removes them. It refuses a credential that would not
// load.
func (f *File) SetSCRAM(user string, creds ...SCRAMCredential) error {
	i, ok := f.index[user]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownUser, user)
	}
	var clean []SCRAMCredential
	for _, c := range creds {
		if err := c.validate(); err != nil {
			return err
		}
		if slices.ContainsFunc(clean, func(d SCRAMCredential) bool { return d.Mechanism == c.Mechanism }) {
			return fmt.Errorf("a second %s credential", c.Mechanism)
		}
		clean = append(clean, c.clone())
	}
	slices.SortStableFunc(clean, func(a, b SCRAMCredential) int { return scramOrder(a.Mechanism) - scramOrder(b.Mechanism) })
	f.lines[i].scram = clean
	return nil
}

// SCRAMCredentials returns user's SCRAM credentials, nil when the user has
// none or is unknown.
func (f *File) SCRAMCredentials(user string) []SCRAMCredential {
	i, ok := f.index[user]
	if !ok {
		return nil
	}
	var out []SCRAMCredential
	for _, c := range f.lines[i].scram {
		out = append(out, c.clone())
	}
	return out
}

// Delete removes user. It reports whether the user was present.
func (f *File) Delete(user string) bool {
	i, ok := f.index[user]
	if !ok {
		return false
	}
	f.lines = slices.Delete(f.lines, i, i+1)
	delete(f.index, user)
	for name, j := range f.index {
		if j > i {
			f.index[name] = j - 1
		}
	}
	return true
}

// Bytes returns the file's content as Save writes it.
func (f *File) Bytes() []byte {
	var b strings.Builder
	for _, l := range f.lines {
		if l.user == "" {
			b.WriteString(l.text)
		} else {
			b.WriteString(l.user)
			b.WriteByte(':')
			b.WriteString(l.hash)
			if len(l.groups) > 0 || len(l.scram) > 0 {
				b.WriteByte(':')
				b.WriteString(strings.Join(l.groups, ","))
			}
			for _, c := range l.scram {
				b.WriteByte(':')
				b.WriteString(c.encode())
			}
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// Save writes the file to path atomically: to a temporary file with mode
// 0600 in the same directory, synced, then renamed over path. A reader
// sees the old content or the new, never a mix.
func (f *File) Save(path string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if err != nil && !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; make sure of it regardless of umask.
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(f.Bytes()); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	renamed = true
	// Make the rename itself durable.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%s saved, but its directory could not be synced: %w", path, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("%s saved, but its directory could not be synced: %w", path, err)
	}
	return nil
}
