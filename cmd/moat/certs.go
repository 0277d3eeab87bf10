package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/certs"
)

// defaultCADir is where the CA lives unless --dir says otherwise: inside
// the broker's default data directory.
const defaultCADir = "moat-data/ca"

// maxDays bounds --days so that a typo cannot overflow a time.Duration.
const maxDays = 100 * 365

const certsUsage = `Usage: moat certs COMMAND [flags]

Manage a local certificate authority for Moat's TLS listeners.

Commands:
  init      create the CA (ca.crt, ca.key) in --dir
  server    issue a server certificate signed by the CA
  client    issue a client certificate for mutual TLS
  inspect   describe certificate, key and CRL files and flag problems
  crl       write a certificate revocation list signed by the CA

Keys are written with mode 0600 and existing files are never replaced
without --force. Run 'moat certs COMMAND --help' for a command's flags.
`

// certsCmd runs 'moat certs'. It returns 0 on success, 1 on failure
// (or a severe finding of inspect) and 2 on a usage error.
func certsCmd(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, certsUsage)
		return 2
	}
	sub := map[string]func([]string) int{
		"init":    certsInit,
		"server":  certsServer,
		"client":  certsClient,
		"inspect": certsInspect,
		"crl":     certsCRL,
	}
	if f, ok := sub[args[0]]; ok {
		return f(args[1:])
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Print(certsUsage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "moat certs: unknown command %q\n\n%s", args[0], certsUsage)
	return 2
}

// newCertsFlags returns a flag set whose usage shows synopsis and doc.
func newCertsFlags(name, synopsis, doc string) *flag.FlagSet {
	fl := flag.NewFlagSet("certs "+name, flag.ContinueOnError)
	fl.Usage = func() {
		fmt.Fprintf(fl.Output(), "Usage: moat certs %s %s\n\n%s\nFlags:\n", name, synopsis, doc)
		fl.PrintDefaults()
	}
	return fl
}

// parseFlags parses args, allowing flags after positional arguments (as
// in 'moat certs client alice --email a@example'); everything after "--"
// is positional. The int is the exit code to return when ok is false.
func parseFlags(fl *flag.FlagSet, args []string) (positional []string, code int, ok bool) {
	for {
		if err := fl.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		rest := fl.Args()
		if len(rest) == 0 {
			return positional, 0, true
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), 0, true
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// usageError prints msg and the flag set's usage and returns exit code 2.
func usageError(fl *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "moat certs: "+format+"\n\n", a...)
	fl.Usage()
	return 2
}

// fail prints err and returns exit code 1.
func fail(err error) int {
	if errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%w; pass --force to replace it", err)
	}
	fmt.Fprintf(os.Stderr, "moat certs: %v\n", err)
	return 1
}

// days converts a --days value to a duration; 0 means the default.
func days(n int) (time.Duration, error) {
	if n < 0 || n > maxDays {
		return 0, fmt.Errorf("--days %d out of range 1..%d", n, maxDays)
	}
	return time.Duration(n) * 24 * time.Hour, nil
}

// commonLeafFlags are the flags server and client share.
type commonLeafFlags struct {
	dir, out, keyType *string
	days              *int
	force             *bool
}

func addLeafFlags(fl *flag.FlagSet, outDoc string) commonLeafFlags {
	return commonLeafFlags{
		dir:     fl.String("dir", defaultCADir, "directory of the CA (ca.crt, ca.key)"),
		out:     fl.String("out", "", outDoc),
		keyType: fl.String("key-type", string(certs.DefaultKeyType), "key type: "+keyTypeList()),
		days:    fl.Int("days", 0, "validity in days (default: see above; at most the CA's remaining lifetime)"),
		force:   fl.Bool("force", false, "replace existing PREFIX.crt and PREFIX.key"),
	}
}

func keyTypeList() string {
	names := make([]string, len(certs.KeyTypes))
	for i, k := range certs.KeyTypes {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// leafOptions builds the options shared by server and client.
func (c commonLeafFlags) leafOptions() (certs.LeafOptions, error) {
	kt, err := certs.ParseKeyType(*c.keyType)
	if err != nil {
		return certs.LeafOptions{}, err
	}
	validity, err := days(*c.days)
	if err != nil {
		return certs.LeafOptions{}, err
	}
	return certs.LeafOptions{KeyType: kt, Validity: validity}, nil
}

func certsInit(args []string) int {
	fl := newCertsFlags("init", "[--dir D] [--cn NAME] [--key-type T] [--days N] [--force]",
		"Create a self-signed CA: D/ca.crt (0644) and D/ca.key (0600). The CA\n"+
			"signs only leaf certificates (path length 0). Default validity 10 years.\n")
	dir := fl.String("dir", defaultCADir, "directory to create the CA in (created 0700 if missing)")
	cn := fl.String("cn", certs.DefaultCACommonName, "subject common name of the CA")
	keyType := fl.String("key-type", string(certs.DefaultKeyType), "key type: "+keyTypeList())
	nDays := fl.Int("days", 0, "validity in days (default 3650)")
	force := fl.Bool("force", false, "replace an existing CA (certificates it issued stop verifying)")
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(fl, "init takes no arguments, got %q", pos)
	}
	kt, err := certs.ParseKeyType(*keyType)
	if err != nil {
		return usageError(fl, "%v", err)
	}
	validity, err := days(*nDays)
	if err != nil {
		return usageError(fl, "%v", err)
	}
	ca, err := certs.NewCA(*dir, certs.CAOptions{CommonName: *cn, KeyType: kt, Validity: validity, Force: *force})
	if err != nil {
		return fail(err)
	}
	printWritten(filepath.Join(*dir, certs.CACertFile), filepath.Join(*dir, certs.CAKeyFile))
	fmt.Printf("CA %q (%s), valid until %s\nsha256 fingerprint %s\n",
		ca.Cert.Subject.CommonName, kt, ca.Cert.NotAfter.UTC().Format(time.DateOnly), certs.Fingerprint(ca.Cert))
	dirFlag := ""
	if *dir != defaultCADir {
		dirFlag = " --dir " + shellQuote(*dir)
	}
	fmt.Printf(`
Next:
  moat certs server%[1]s --dns localhost --ip 127.0.0.1
  moat certs client%[1]s NAME
and in the broker configuration, for a listener with transport "tls":
  tls:
    cert: server.crt
    key: server.key
    client_auth: required    # mutual TLS, with:
    client_ca: %[2]s
    crls: [%[4]s]    # once 'moat certs crl' has written it
Keep %[3]s secret; it is needed only to issue certificates.
`, dirFlag, filepath.Join(*dir, certs.CACertFile), filepath.Join(*dir, certs.CAKeyFile), filepath.Join(*dir, "ca.crl"))
	return 0
}

func certsServer(args []string) int {
	fl := newCertsFlags("server", "--dns NAME... --ip ADDR... [--dir D] [--out PREFIX] [--key-type T] [--days N] [--force]",
		"Issue a server certificate (extended key usage serverAuth) signed by the\n"+
			"CA in D, for the given DNS names and IP addresses; its CN is the first\n"+
			"of them. Writes PREFIX.crt (0644) and PREFIX.key (0600). Default\n"+
			"validity 397 days.\n")
	var dnsNames, ips stringList
	fl.Var(&dnsNames, "dns", "DNS name, wildcard *.example.com allowed (repeatable)")
	fl.Var(&ips, "ip", "IP address (repeatable)")
	lf := addLeafFlags(fl, `output path prefix (default "server")`)
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(fl, "server takes no arguments (use --dns or --ip), got %q", pos)
	}
	if len(dnsNames) == 0 && len(ips) == 0 {
		return usageError(fl, "at least one --dns or --ip is required")
	}
	opts, err := lf.leafOptions()
	if err != nil {
		return usageError(fl, "%v", err)
	}
	opts.DNSNames = dnsNames
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return usageError(fl, "--ip %q is not an IP address", s)
		}
		opts.IPs = append(opts.IPs, ip)
	}
	prefix := *lf.out
	if prefix == "" {
		prefix = "server"
	}
	if err := refuseExisting(prefix, *lf.force); err != nil {
		return fail(err)
	}
	ca, err := loadCA(*lf.dir)
	if err != nil {
		return fail(err)
	}
	certPEM, keyPEM, err := ca.IssueServer(opts)
	if err != nil {
		return fail(err)
	}
	return writeLeaf(prefix, certPEM, keyPEM, *lf.force)
}

// safeName is a client name usable as a file name prefix as it is.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

func certsClient(args []string) int {
	fl := newCertsFlags("client", "NAME [--email E]... [--uri U]... [--dns NAME]... [--dir D] [--out PREFIX] [--key-type T] [--days N] [--force]",
		"Issue a client certificate (extended key usage clientAuth) with CN NAME,\n"+
			"signed by the CA in D, for mutual TLS. Writes PREFIX.crt (0644) and\n"+
			"PREFIX.key (0600). Default validity 1 year.\n")
	var emails, uris, dnsNames stringList
	fl.Var(&emails, "email", "email address subject alternative name (repeatable)")
	fl.Var(&uris, "uri", "URI subject alternative name, e.g. spiffe://example.org/sensor (repeatable)")
	fl.Var(&dnsNames, "dns", "DNS name subject alternative name (repeatable)")
	lf := addLeafFlags(fl, "output path prefix (default NAME)")
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(fl, "client takes exactly one NAME, got %d arguments", len(pos))
	}
	name := pos[0]
	opts, err := lf.leafOptions()
	if err != nil {
		return usageError(fl, "%v", err)
	}
	opts.Emails, opts.DNSNames = emails, dnsNames
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return usageError(fl, "--uri %q is not an absolute URI", s)
		}
		opts.URIs = append(opts.URIs, u)
	}
	prefix := *lf.out
	if prefix == "" {
		if !safeName.MatchString(name) {
			return usageError(fl, "NAME %q is not a safe file name: give --out", name)
		}
		prefix = name
	}
	if err := refuseExisting(prefix, *lf.force); err != nil {
		return fail(err)
	}
	ca, err := loadCA(*lf.dir)
	if err != nil {
		return fail(err)
	}
	certPEM, keyPEM, err := ca.IssueClient(name, opts)
	if err != nil {
		return fail(err)
	}
	return writeLeaf(prefix, certPEM, keyPEM, *lf.force)
}

// refuseExisting fails early, before any key is generated, when
// PREFIX.crt or PREFIX.key exists and force is not set. WritePair checks
// again atomically.
func refuseExisting(prefix string, force bool) error {
	if force {
		return nil
	}
	for _, p := range []string{prefix + ".crt", prefix + ".key"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s: %w", p, fs.ErrExist)
		}
	}
	return nil
}

// writeLeaf writes PREFIX.crt and PREFIX.key and prints their paths.
func writeLeaf(prefix string, certPEM, keyPEM []byte, force bool) int {
	certPath, keyPath := prefix+".crt", prefix+".key"
	if err := certs.WritePair(certPath, certPEM, keyPath, keyPEM, force); err != nil {
		return fail(err)
	}
	printWritten(certPath, keyPath)
	if c, err := certs.ParseCertificatesPEM(certPEM); err == nil {
		fmt.Printf("subject %s, serial %x, valid until %s\nsha256 fingerprint %s\n",
			c[0].Subject, c[0].SerialNumber, c[0].NotAfter.UTC().Format(time.DateOnly), certs.Fingerprint(c[0]))
	}
	return 0
}

// loadCA loads the CA in dir and warns when its key is readable by others.
func loadCA(dir string) (*certs.CA, error) {
	ca, err := certs.LoadCA(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (create a CA with 'moat certs init --dir %s')", err, shellQuote(dir))
	}
	if err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, certs.CAKeyFile)
	if fi, err := os.Stat(keyPath); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(os.Stderr, "moat certs: warning: %s has mode %04o; run chmod 600 %s\n", keyPath, fi.Mode().Perm(), shellQuote(keyPath))
	}
	return ca, nil
}

func printWritten(certPath, keyPath string) {
	fmt.Printf("wrote %s (mode 0644)\nwrote %s (mode 0600)\n", certPath, keyPath)
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && regexp.MustCompile(`^[A-Za-z0-9_./:=@%+-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func certsInspect(args []string) int {
	fl := newCertsFlags("inspect", "FILE...",
		"Describe every certificate, private key and CRL in the PEM or DER files:\n"+
			"names, key, signature, validity and SHA-256 fingerprint (lowercase hex\n"+
			"without colons, the form of the \"fingerprint\" identity). Findings are\n"+
			"notes, warnings or SEVERE; the exit status is 1 when any is SEVERE\n"+
			"(expired, not yet valid, weak key, weak signature) or a file cannot be\n"+
			"read, else 0.\n")
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return usageError(fl, "inspect needs at least one FILE")
	}
	status := 0
	for i, path := range pos {
		if i > 0 {
			fmt.Println()
		}
		r, err := certs.InspectFile(path)
		if err != nil {
			fail(err)
			status = 1
			continue
		}
		printReport(os.Stdout, path, r)
		if r.Severe() {
			status = 1
		}
	}
	return status
}

// printReport writes a human-readable report for one file.
func printReport(w io.Writer, path string, r *certs.Report) {
	fmt.Fprintf(w, "%s:\n", path)
	printWarnings(w, "  ", r.Warnings)
	for i, c := range r.Certificates {
		fmt.Fprintf(w, "  certificate %d: %s\n", i+1, c.Subject)
		field := func(name, value string) {
			if value != "" {
				fmt.Fprintf(w, "    %-12s %s\n", name+":", value)
			}
		}
		field("issuer", c.Issuer)
		field("serial", c.Serial)
		field("DNS names", strings.Join(c.DNSNames, ", "))
		field("IPs", strings.Join(c.IPAddresses, ", "))
		field("emails", strings.Join(c.Emails, ", "))
		field("URIs", strings.Join(c.URIs, ", "))
		field("key", c.Key.String())
		field("signature", c.SignatureAlgorithm)
		field("valid", c.NotBefore.UTC().Format(time.RFC3339)+" to "+c.NotAfter.UTC().Format(time.RFC3339))
		kind := "leaf"
		if c.IsCA {
			kind = "CA"
		}
		if c.SelfSigned {
			kind += ", self-signed"
		}
		field("kind", kind)
		field("usage", strings.Join(c.ExtKeyUsage, ", "))
		field("sha256", c.Fingerprint)
		printWarnings(w, "    ", c.Warnings)
	}
	for i, k := range r.Keys {
		desc := k.Key.String()
		if k.Encrypted {
			desc = "encrypted"
		}
		fmt.Fprintf(w, "  private key %d: %s\n", i+1, desc)
		printWarnings(w, "    ", k.Warnings)
	}
	for i, c := range r.CRLs {
		fmt.Fprintf(w, "  CRL %d: issuer %s, number %s, %d revoked\n", i+1, c.Issuer, c.Number, len(c.Revoked))
		fmt.Fprintf(w, "    %-12s %s to %s\n", "valid:", c.ThisUpdate.UTC().Format(time.RFC3339), c.NextUpdate.UTC().Format(time.RFC3339))
		for _, s := range c.Revoked {
			fmt.Fprintf(w, "    %-12s %s\n", "revoked:", s)
		}
		printWarnings(w, "    ", c.Warnings)
	}
	if len(r.All()) == 0 {
		fmt.Fprintln(w, "  no findings")
	}
}

func printWarnings(w io.Writer, indent string, ws []certs.Warning) {
	for _, x := range ws {
		fmt.Fprintf(w, "%s%s\n", indent, x)
	}
}

func certsCRL(args []string) int {
	fl := newCertsFlags("crl", "--revoke CERTFILE... [--dir D] [--out FILE] [--days N]",
		"Write a certificate revocation list signed by the CA in D that revokes\n"+
			"the certificates in the given files (the first certificate of each).\n"+
			"When FILE already holds a CRL of this CA, its entries are kept and the\n"+
			"CRL number increases: revocations accumulate. Without --revoke the CRL\n"+
			"is re-signed with a new next-update time; re-run before it passes, or\n"+
			"brokers that check the CRL refuse every client of the CA.\n")
	var revoke stringList
	fl.Var(&revoke, "revoke", "certificate file to revoke (repeatable)")
	dir := fl.String("dir", defaultCADir, "directory of the CA (ca.crt, ca.key)")
	out := fl.String("out", "", "CRL file (default D/ca.crl)")
	nDays := fl.Int("days", 30, "days until the next update")
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(fl, "crl takes no arguments (use --revoke), got %q", pos)
	}
	if *nDays == 0 {
		return usageError(fl, "--days must be at least 1")
	}
	nextUpdate, err := days(*nDays)
	if err != nil {
		return usageError(fl, "%v", err)
	}
	outPath := *out
	if outPath == "" {
		outPath = filepath.Join(*dir, "ca.crl")
	}
	var revoked []*x509.Certificate
	for _, path := range revoke {
		data, err := os.ReadFile(path)
		if err != nil {
			return fail(err)
		}
		c, err := certs.ParseCertificatesPEM(data)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", path, err))
		}
		revoked = append(revoked, c[0])
	}
	ca, err := loadCA(*dir)
	if err != nil {
		return fail(err)
	}
	existing, err := os.ReadFile(outPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	crlPEM, err := ca.UpdateCRL(existing, revoked, nextUpdate)
	if err != nil {
		if existing != nil {
			err = fmt.Errorf("%s: %w", outPath, err)
		}
		return fail(err)
	}
	// Replacing is the point: UpdateCRL kept every earlier entry.
	if err := certs.WriteFile(outPath, crlPEM, certs.CertMode, true); err != nil {
		return fail(err)
	}
	r, err := certs.Inspect(crlPEM, time.Now())
	if err != nil || len(r.CRLs) != 1 {
		return fail(fmt.Errorf("re-reading the new CRL: %v", err))
	}
	info := r.CRLs[0]
	fmt.Printf("wrote %s (mode 0644): CRL number %s, %d revoked, next update %s\n",
		outPath, info.Number, len(info.Revoked), info.NextUpdate.UTC().Format(time.DateOnly))
	for _, c := range revoked {
		fmt.Printf("revoked %s (serial %x)\n", c.Subject, c.SerialNumber)
	}
	return 0
}
