// Package firstrun prepares a zero-configuration start: a data directory
// with a local CA, a server certificate, and a password file holding an
// admin user with a random password, and an ACL policy that grants the
// admin user every topic and nobody else anything. It never overwrites what exists, so a
// second start reuses the first one's material.
package firstrun

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/certs"
	"github.com/moatmq/moat/internal/config"
)

// Defaults of the zero-configuration start.
const (
	DefaultTLSAddress   = ":8883"
	DefaultPlainAddress = "127.0.0.1:1883"
	AdminUser           = "admin"
)

// Options locate the data directory and the two listeners.
type Options struct {
	DataDir      string
	TLSAddress   string // default ":8883"
	PlainAddress string // default "127.0.0.1:1883"; must be loopback
}

// Paths of the generated material, relative to the data directory.
const (
	caDir        = "ca"
	serverCert   = "server.crt"
	serverKey    = "server.key"
	passwordFile = "passwd"
	aclFile      = "acl.yaml"
	adminSecret  = "admin-password"
)

// Prepare creates what is missing in the data directory and returns the
// configuration to serve with: TLS on TLSAddress, plain MQTT on the
// loopback PlainAddress, password authentication required on both. It
// writes what it did and how to connect to out.
func Prepare(o Options, out io.Writer) (*config.Config, error) {
	if o.TLSAddress == "" {
		o.TLSAddress = DefaultTLSAddress
	}
	if o.PlainAddress == "" {
		o.PlainAddress = DefaultPlainAddress
	}
	dir := o.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	created, err := ensureCertificates(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range created {
		fmt.Fprintf(out, "created %s\n", p)
	}
	secret, err := ensureAdmin(dir)
	if err != nil {
		return nil, err
	}
	if secret != "" {
		fmt.Fprintf(out, "created %s with user %q; its password is in %s (mode 0600)\n",
			filepath.Join(dir, passwordFile), AdminUser, filepath.Join(dir, adminSecret))
	}
	policy, err := ensurePolicy(dir)
	if err != nil {
		return nil, err
	}
	if policy != "" {
		fmt.Fprintf(out, "created %s: user %q may use every topic, nobody else anything\n", policy, AdminUser)
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.ACL.File = filepath.Join(dir, aclFile)
	cfg.Listeners = []config.Listener{
		{Name: "tls", Address: o.TLSAddress, Transport: "tls", TLS: config.TLS{
			Cert: filepath.Join(dir, serverCert), Key: filepath.Join(dir, serverKey)}},
		{Name: "local", Address: o.PlainAddress, Transport: "tcp"},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	printHowTo(out, dir, o)
	return cfg, nil
}

// firstPolicy is the ACL policy of the first run: deny by default, the
// admin user everywhere.
const firstPolicy = `# Moat ACL policy, created by the first run. What no rule allows is denied;
# the most specific rule decides and deny wins a tie (docs/authorization.md).
# Check a request with: moat acl check --policy FILE --user U --action publish --topic T
version: 1
rules:
  - name: admin-everything
    allow: [all]
    who: [user:admin]
    topics: ["#"]           # every topic; "#" never matches $ topics
  - name: admin-reads-sys
    allow: [subscribe, receive]
    who: [user:admin]
    topics: ["$SYS/#"]
  # Let every user publish and read under devices/<its own name>/:
  # - name: own-device
  #   allow: [publish, subscribe, receive, retain]
  #   who: [authenticated]
  #   topics: ["devices/%u/#"]
`

// ensurePolicy writes the first run's ACL policy when it is missing and
// returns its path ("" when it existed).
func ensurePolicy(dir string) (string, error) {
	path := filepath.Join(dir, aclFile)
	if _, err := os.Stat(path); err == nil {
		return "", nil
	}
	if err := certs.WriteFile(path, []byte(firstPolicy), 0o600, false); err != nil {
		return "", err
	}
	return path, nil
}

// ensureCertificates creates the CA and a server certificate for this host
// when they are missing, and returns the files it wrote.
func ensureCertificates(dir string) ([]string, error) {
	var created []string
	cad := filepath.Join(dir, caDir)
	ca, err := certs.LoadCA(cad)
	if errors.Is(err, fs.ErrNotExist) {
		if ca, err = certs.NewCA(cad, certs.CAOptions{}); err != nil {
			return nil, fmt.Errorf("creating the local CA: %w", err)
		}
		created = append(created, filepath.Join(cad, "ca.crt"), filepath.Join(cad, "ca.key"))
	} else if err != nil {
		return nil, fmt.Errorf("loading the local CA: %w", err)
	}
	crt, key := filepath.Join(dir, serverCert), filepath.Join(dir, serverKey)
	if _, err := os.Stat(crt); err == nil {
		return created, nil
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	certPEM, keyPEM, err := ca.IssueServer(certs.LeafOptions{
		DNSNames: names, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}})
	if err != nil {
		return nil, fmt.Errorf("issuing the server certificate: %w", err)
	}
	if err := certs.WritePair(crt, certPEM, key, keyPEM, false); err != nil {
		return nil, err
	}
	return append(created, crt, key), nil
}

// ensureAdmin creates the password file with the admin user when it is
// missing, and returns the new password ("" when the file existed).
func ensureAdmin(dir string) (string, error) {
	path := filepath.Join(dir, passwordFile)
	if _, err := os.Stat(path); err == nil {
		return "", nil
	}
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	enc, err := password.Hash([]byte(secret), password.DefaultParams())
	if err != nil {
		return "", err
	}
	f := password.NewFile()
	if err := f.Set(AdminUser, enc); err != nil {
		return "", err
	}
	if err := certs.WriteFile(filepath.Join(dir, adminSecret), []byte(secret+"\n"), 0o600, false); err != nil {
		return "", err
	}
	if err := certs.WriteFile(path, f.Bytes(), 0o600, false); err != nil {
		return "", err
	}
	return secret, nil
}

func printHowTo(out io.Writer, dir string, o Options) {
	_, tlsPort, _ := net.SplitHostPort(o.TLSAddress)
	plainHost, plainPort, _ := net.SplitHostPort(o.PlainAddress)
	pw := fmt.Sprintf(`"$(cat %s)"`, filepath.Join(dir, adminSecret))
	fmt.Fprintf(out, "\nMoat serves MQTT over TLS on %s and plain MQTT on %s (this machine only).\n", o.TLSAddress, o.PlainAddress)
	fmt.Fprintf(out, "Every client must authenticate. Connect with:\n\n")
	fmt.Fprintf(out, "  mosquitto_sub -h localhost -p %s --cafile %s -u %s -P %s -t '#' -v\n",
		tlsPort, filepath.Join(dir, caDir, "ca.crt"), AdminUser, pw)
	fmt.Fprintf(out, "  mosquitto_sub -h %s -p %s -u %s -P %s -t '#' -v\n\n", plainHost, plainPort, AdminUser, pw)
	fmt.Fprintf(out, "Add users with: moat passwd %s add NAME\n", filepath.Join(dir, passwordFile))
	fmt.Fprintf(out, "and grant them topics in %s (reloaded when it changes).\n\n", filepath.Join(dir, aclFile))
}
