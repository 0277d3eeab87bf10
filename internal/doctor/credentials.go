package doctor

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/smallfile"
)

// Floors of the password hash checks.
const (
	// minPBKDF2Iterations is OWASP's minimum for PBKDF2-HMAC-SHA512.
	// Mosquitto's mosquitto_passwd writes 101.
	minPBKDF2Iterations = 210_000
	// minBcryptCost is OWASP's minimum bcrypt work factor.
	minBcryptCost = 10
	// maxListed bounds the user names one finding lists.
	maxListed = 10
	// maxPEMFile bounds what the certificate checks read of one file.
	maxPEMFile = 8 << 20
)

// passwords checks the hashes of the password file.
func (c *checker) passwords() {
	if c.opts.SkipFiles {
		return
	}
	path := c.cfg.PasswordFilePath()
	pf, err := password.Load(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return // files reports it when the broker needs it
	case err != nil:
		if _, statErr := os.Stat(path); statErr == nil {
			c.add(IDFileMissing, Finding{Path: "auth.password_file", File: path,
				Message: "the password file does not load: " + firstLine(err.Error())})
		}
		return
	}
	var weak, legacy, params []string
	for _, u := range pf.Users() {
		enc, _ := pf.Lookup(u.Name)
		switch judgement, verdict := judgeHash(u.Scheme, enc); verdict {
		case hashWeak:
			weak = append(weak, u.Name+" ("+judgement+")")
		case hashLegacy:
			legacy = append(legacy, u.Name+" ("+judgement+")")
		case hashParams:
			params = append(params, u.Name+" ("+judgement+")")
		}
	}
	for _, g := range []struct {
		id    string
		users []string
		what  string
	}{
		{IDPasswordWeak, weak, "weak hashes"},
		{IDPasswordParams, params, "argon2id hashes below the floor"},
		{IDPasswordLegacy, legacy, "legacy hashes"},
	} {
		if len(g.users) > 0 {
			c.add(g.id, Finding{Path: "auth.password_file", File: path,
				Message: fmt.Sprintf("%d user(s) have %s: %s", len(g.users), g.what, listNames(g.users))})
		}
	}
}

// hashVerdict classifies one stored hash.
type hashVerdict int

const (
	hashGood hashVerdict = iota
	hashLegacy
	hashWeak
	hashParams
)

// judgeHash classifies the encoded hash enc of scheme s and describes it.
// The file has loaded, so enc is well formed.
func judgeHash(s password.Scheme, enc string) (string, hashVerdict) {
	switch s {
	case password.Argon2id:
		p, ok := argon2idParams(enc)
		if !ok {
			return "argon2id", hashGood
		}
		if err := p.Validate(); err != nil {
			return err.Error(), hashParams
		}
		return "argon2id", hashGood
	case password.SHA512:
		return "$6$: one round of salted SHA-512", hashWeak
	case password.PBKDF2SHA512:
		f := strings.Split(enc, "$")
		iter := 0
		if len(f) > 2 {
			iter, _ = strconv.Atoi(f[2])
		}
		d := fmt.Sprintf("$7$ PBKDF2-SHA512, %d iterations", iter)
		if iter < minPBKDF2Iterations {
			return d, hashWeak
		}
		return d, hashLegacy
	case password.Bcrypt:
		cost, err := bcrypt.Cost([]byte(enc))
		d := fmt.Sprintf("bcrypt cost %d", cost)
		if err != nil || cost < minBcryptCost {
			return d, hashWeak
		}
		return d, hashLegacy
	}
	return string(s), hashLegacy
}

// argon2idParams reads the parameters of "$argon2id$v=19$m=M,t=T,p=P$salt$hash".
func argon2idParams(enc string) (password.Params, bool) {
	f := strings.Split(enc, "$")
	if len(f) != 6 {
		return password.Params{}, false
	}
	parts := strings.Split(f[3], ",")
	if len(parts) != 3 {
		return password.Params{}, false
	}
	var v [3]uint64 // m, t, p
	for i, kv := range parts {
		_, num, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return password.Params{}, false
		}
		v[i] = n
	}
	m, t, p := v[0], v[1], v[2]
	return password.Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(min(p, 255)),
		SaltLen: uint32(base64.RawStdEncoding.DecodedLen(len(f[4]))),
		KeyLen:  uint32(base64.RawStdEncoding.DecodedLen(len(f[5])))}, true
}

// listNames joins at most maxListed names.
func listNames(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxListed], ", ") + fmt.Sprintf(", and %d more", len(names)-maxListed)
}

// certificates inspects every certificate, key, CA bundle and CRL the
// configuration names, and checks that each key matches its certificate.
func (c *checker) certificates() {
	if c.opts.SkipFiles {
		return
	}
	for i, l := range c.cfg.Listeners {
		if !l.UsesTLS() {
			continue
		}
		p := "listeners[" + strconv.Itoa(i) + "].tls"
		c.certPair(p, l.TLS.Cert, l.TLS.Key)
		for j, ck := range l.TLS.Certificates {
			c.certPair(p+".certificates["+strconv.Itoa(j)+"]", ck.Cert, ck.Key)
		}
		c.pemFile(p+".client_ca", l.TLS.ClientCA)
		for j, f := range l.TLS.CRLs {
			c.pemFile(p+".crls["+strconv.Itoa(j)+"]", f)
		}
	}
	if a := c.cfg.Admin; a.Listen != "" {
		c.certPair("admin", a.Cert, a.Key)
		c.pemFile("admin.client_ca", a.ClientCA)
	}
	h := c.cfg.Auth.HTTP
	c.pemFile("auth.http.ca_file", h.CAFile)
	if h.ClientCert != "" {
		c.certPair("auth.http", h.ClientCert, h.ClientKey)
	}
}

// certPair inspects the certificate and key of the section at path p (its
// keys .cert and .key, or .client_cert and .client_key) and checks that
// they belong together.
func (c *checker) certPair(p, certFile, keyFile string) {
	certKey, keyKey := p+".cert", p+".key"
	if p == "auth.http" {
		certKey, keyKey = p+".client_cert", p+".client_key"
	}
	certPEM, okCert := c.pemFile(certKey, certFile)
	keyPEM, okKey := c.pemFile(keyKey, keyFile)
	if !okCert || !okKey {
		return
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		c.add(IDCertMismatch, Finding{Path: keyKey, File: keyFile,
			Message: fmt.Sprintf("%s and %s do not form a usable pair: %v", certFile, keyFile, err)})
	}
}

// pemFile reads and inspects one file of certificates, keys or CRLs and
// reports what certs.Inspect warns about. It returns the content and
// whether it could be read and parsed; problems reading are left to
// files.
func (c *checker) pemFile(path, file string) ([]byte, bool) {
	if file == "" {
		return nil, false
	}
	data, err := smallfile.Read(file, maxPEMFile)
	if err != nil {
		return nil, false
	}
	r, err := certs.Inspect(data, c.now)
	if err != nil {
		c.add(IDFileMissing, Finding{Path: path, File: file, Message: "not a usable PEM or DER file: " + err.Error()})
		return data, false
	}
	for _, ci := range r.Certificates {
		for _, w := range ci.Warnings {
			c.certWarning(path, file, "certificate "+ci.Subject, w)
		}
	}
	for _, k := range r.Keys {
		for _, w := range k.Warnings {
			c.certWarning(path, file, "private key "+k.Key.String(), w)
		}
	}
	for _, crl := range r.CRLs {
		for _, w := range crl.Warnings {
			c.certWarning(path, file, "CRL of "+crl.Issuer, w)
		}
	}
	return data, true
}

// certWarning turns one warning of certs.Inspect into a finding. Notes
// are left out.
func (c *checker) certWarning(path, file, what string, w certs.Warning) {
	if id := CertWarningID(w); id != "" {
		c.add(id, Finding{Path: path, File: file, Message: what + ": " + w.Message})
	}
}

// CertWarningID is the finding ID of a warning of certs.Inspect: expired
// or not yet valid (a stale CRL too), expiring, weak key, weak signature,
// or another warning; "" for a note.
func CertWarningID(w certs.Warning) string {
	switch m := w.Message; {
	case w.Severity == certs.Note:
		return ""
	case strings.HasPrefix(m, "expired on"), strings.HasPrefix(m, "not valid before"), strings.HasPrefix(m, "stale:"):
		return IDCertExpired
	case strings.HasPrefix(m, "expires in"), strings.HasPrefix(m, "next update due"):
		return IDCertExpiring
	case strings.HasPrefix(m, "weak key"):
		return IDCertWeakKey
	case strings.HasPrefix(m, "weak signature"), strings.HasPrefix(m, "unknown signature"):
		return IDCertWeakSig
	}
	return IDCertOther
}
