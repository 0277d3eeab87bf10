package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// role says what a file holds, which decides how its permissions are
// judged.
type role int

const (
	rolePublic role = iota // certificates, CA bundles, CRLs, public keys: must not be writable by others
	roleConfig             // configuration and policy: should not be readable by others
	roleSecret             // password hashes, token hashes, shared secrets
	roleKey                // private keys
	roleLog                // the audit log: may be absent
)

// namedFile is a file the configuration names.
type namedFile struct {
	path     string // key path, "" for the configuration file itself
	file     string
	role     role
	optional bool // a missing file is not a finding
}

// namedFiles lists every file the configuration names, in schema order.
func (c *checker) namedFiles() []namedFile {
	cfg := c.cfg
	var out []namedFile
	add := func(path, file string, r role, optional bool) {
		if file != "" {
			out = append(out, namedFile{path, file, r, optional})
		}
	}
	add("", c.opts.ConfigFile, roleConfig, false)
	for i, l := range cfg.Listeners {
		if !l.UsesTLS() {
			continue
		}
		p := "listeners[" + strconv.Itoa(i) + "].tls"
		add(p+".cert", l.TLS.Cert, rolePublic, false)
		add(p+".key", l.TLS.Key, roleKey, false)
		for j, ck := range l.TLS.Certificates {
			cp := p + ".certificates[" + strconv.Itoa(j) + "]"
			add(cp+".cert", ck.Cert, rolePublic, false)
			add(cp+".key", ck.Key, roleKey, false)
		}
		add(p+".client_ca", l.TLS.ClientCA, rolePublic, false)
		for j, f := range l.TLS.CRLs {
			add(p+".crls["+strconv.Itoa(j)+"]", f, rolePublic, false)
		}
	}
	add("auth.password_file", cfg.PasswordFilePath(), roleSecret, !c.passwordsRequired())
	add("acl.file", cfg.ACL.File, roleConfig, false)
	j := cfg.Auth.JWT
	for i, k := range j.Keys {
		add("auth.jwt.keys["+strconv.Itoa(i)+"]", k, rolePublic, false)
	}
	add("auth.jwt.jwks_file", j.JWKSFile, rolePublic, false)
	add("auth.jwt.hmac_secret_file", j.HMACSecretFile, roleSecret, false)
	h := cfg.Auth.HTTP
	add("auth.http.ca_file", h.CAFile, rolePublic, false)
	add("auth.http.client_cert", h.ClientCert, rolePublic, false)
	add("auth.http.client_key", h.ClientKey, roleKey, false)
	for i, hd := range h.Headers {
		add("auth.http.headers["+strconv.Itoa(i)+"].file", hd.File, roleSecret, false)
	}
	if a := cfg.Admin; a.Listen != "" {
		add("admin.cert", a.Cert, rolePublic, false)
		add("admin.key", a.Key, roleKey, false)
		add("admin.client_ca", a.ClientCA, rolePublic, false)
		add("admin.tokens_file", cfg.AdminTokensFile(), roleSecret, true)
	}
	// Public keys, but whoever may write the registry may add a key.
	add("signed_topics.keys", cfg.SignedTopics.Keys, rolePublic, false)
	add("audit.file", cfg.AuditFile(), roleLog, true)
	if cfg.Store.Mode != "memory" && cfg.Store.KeyEnv == "" {
		// Generated with the store at the first start when it is the default.
		add("store.key_file", cfg.StoreKeyFile(), roleKey, cfg.Store.KeyFile == "")
	}
	return out
}

// passwordsRequired reports whether the broker needs the password file to
// start: some listener accepts password logins and neither anonymous
// access nor another method makes it optional (internal/server does the
// same).
func (c *checker) passwordsRequired() bool {
	a := c.cfg.Auth
	if a.AllowAnonymous || a.JWT.Enabled() || a.HTTP.AuthURL != "" {
		return false
	}
	for _, l := range c.cfg.Listeners {
		if l.Auth.Methods == nil {
			return true
		}
		for _, m := range l.Auth.Methods {
			if m == "password" {
				return true
			}
		}
	}
	return false
}

// files checks that every named file exists and that its mode, and its
// directory's, keep other users out.
func (c *checker) files() {
	if c.opts.SkipFiles {
		return
	}
	posix := runtime.GOOS != "windows"
	dirs := map[string]bool{}
	if posix {
		c.dataDir()
		dirs[filepath.Clean(c.cfg.DataDir)] = true
	}
	for _, nf := range c.namedFiles() {
		st, err := os.Stat(nf.file)
		if err != nil {
			if !(nf.optional && errors.Is(err, fs.ErrNotExist)) {
				c.add(IDFileMissing, Finding{Path: nf.path, File: nf.file, Message: describeStatErr(err)})
			}
			continue
		}
		if !posix {
			continue
		}
		c.fileMode(nf, st.Mode())
		if nf.role == rolePublic || nf.role == roleLog {
			continue
		}
		dir := filepath.Dir(filepath.Clean(nf.file))
		if dirs[dir] {
			continue
		}
		dirs[dir] = true
		if dst, err := os.Stat(dir); err == nil && dst.Mode().Perm()&0o022 != 0 && dst.Mode()&fs.ModeSticky == 0 {
			c.add(IDFileWritable, Finding{Path: nf.path, File: dir,
				Message: fmt.Sprintf("directory %s (mode %04o) lets group or others replace %s", dir, dst.Mode().Perm(), filepath.Base(nf.file))})
		}
	}
}

// fileMode judges the permission bits of one named file.
func (c *checker) fileMode(nf namedFile, mode fs.FileMode) {
	perm := mode.Perm()
	what := describeRole(nf)
	if perm&0o022 != 0 {
		c.add(IDFileWritable, Finding{Path: nf.path, File: nf.file,
			Message: fmt.Sprintf("%s has mode %04o: group or others may write it", what, perm),
			Fix:     "chmod go-w " + nf.file})
	}
	switch nf.role {
	case roleKey:
		if perm&0o077 != 0 {
			c.add(IDKeyReadable, Finding{Path: nf.path, File: nf.file,
				Message: fmt.Sprintf("%s has mode %04o: group or others may read it", what, perm),
				Fix:     "chmod 600 " + nf.file})
		}
	case roleSecret:
		if perm&0o044 != 0 {
			c.add(IDSecretReadable, Finding{Path: nf.path, File: nf.file,
				Message: fmt.Sprintf("%s has mode %04o: group or others may read it", what, perm),
				Fix:     "chmod 600 " + nf.file})
		}
	case roleConfig, roleLog:
		if perm&0o044 != 0 {
			c.add(IDFileReadable, Finding{Path: nf.path, File: nf.file,
				Message: fmt.Sprintf("%s has mode %04o: group or others may read it", what, perm),
				Fix:     "chmod 600 " + nf.file})
		}
	}
}

// dataDir judges the data directory, which holds keys, hashes, bans and
// the audit log. A missing directory is created at start with mode 0700.
func (c *checker) dataDir() {
	dir := c.cfg.DataDir
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return
	}
	perm := st.Mode().Perm()
	if perm&0o022 != 0 {
		c.add(IDFileWritable, Finding{Path: "data_dir", File: dir,
			Message: fmt.Sprintf("the data directory has mode %04o: group or others may add or replace files in it", perm),
			Fix:     "chmod 700 " + dir})
	}
	if perm&0o055 != 0 {
		c.add(IDFileReadable, Finding{Path: "data_dir", File: dir,
			Message: fmt.Sprintf("the data directory has mode %04o: group or others may list it", perm),
			Fix:     "chmod 700 " + dir})
	}
}

// describeRole names a file for a message.
func describeRole(nf namedFile) string {
	switch {
	case nf.path == "":
		return "the configuration file"
	case nf.role == roleKey:
		return "the private key"
	case nf.path == "acl.file":
		return "the ACL policy"
	case nf.path == "audit.file":
		return "the audit log"
	case nf.role == roleSecret:
		return "the secret file"
	}
	return "the file"
}

// describeStatErr explains why a named file cannot be used.
func describeStatErr(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "the file does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "the file cannot be read: permission denied"
	}
	return "the file cannot be read: " + err.Error()
}
