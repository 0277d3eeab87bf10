package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/auth/password/prompt"
)

const passwdUsage = `Usage: moat passwd [flags] FILE COMMAND [USER]

Manage a password file (user:hash[:group,...[:scram...]] lines; Mosquitto
files load unchanged). Passwords are read from the terminal without echo,
twice for add, or as one line from standard input when it is not a
terminal.

Commands:
  add USER      set USER's password (argon2id), adding USER if absent; with
                --scram also store SCRAM-SHA-256 and SCRAM-SHA-512
                credentials, otherwise drop USER's old ones
  delete USER   remove USER
  verify USER   read a password; exit 0 if it is USER's, 1 if not
  list          list users with their hash scheme, legacy flag, SCRAM
                mechanisms and groups

SCRAM (MQTT 5 enhanced authentication) keeps the password off the wire, but
its stored keys are only as strong as PBKDF2 with --scram-iterations: a
stolen file is far cheaper to attack offline through them than through the
argon2id hash. That is why --scram is off by default. A file holding SCRAM
credentials no longer loads in Mosquitto.

Flags:
`

// passwdFlags are the options of moat passwd.
type passwdFlags struct {
	create    bool
	groups    string
	params    password.Params
	setGrps   bool
	scram     bool
	scramIter int
}

// passwd runs "moat passwd". It returns 0 on success, 1 when the command
// failed (verify: the password did not match), 2 on a usage error.
func passwd(args []string) int {
	opts := passwdFlags{params: password.DefaultParams(), scramIter: password.DefaultSCRAMIterations}
	fset := flag.NewFlagSet("moat passwd", flag.ContinueOnError)
	fset.SetOutput(os.Stderr)
	fset.Usage = func() {
		fmt.Fprint(os.Stderr, passwdUsage)
		fset.PrintDefaults()
	}
	fset.BoolVar(&opts.create, "create", false, "create FILE (mode 0600) if it does not exist")
	fset.StringVar(&opts.groups, "groups", "", "add: set USER's groups, comma-separated (default: keep them)")
	fset.Func("memory", fmt.Sprintf("add: argon2id memory in KiB (default %d)", opts.params.Memory), func(s string) error {
		return passwdUint(s, 32, func(v uint64) { opts.params.Memory = uint32(v) })
	})
	fset.Func("time", fmt.Sprintf("add: argon2id passes (default %d)", opts.params.Time), func(s string) error {
		return passwdUint(s, 32, func(v uint64) { opts.params.Time = uint32(v) })
	})
	fset.Func("threads", fmt.Sprintf("add: argon2id lanes (default %d)", opts.params.Threads), func(s string) error {
		return passwdUint(s, 8, func(v uint64) { opts.params.Threads = uint8(v) })
	})
	fset.BoolVar(&opts.scram, "scram", false, "add: also store SCRAM-SHA-256 and SCRAM-SHA-512 credentials (see above)")
	fset.Func("scram-iterations", fmt.Sprintf("add: PBKDF2 iterations of the SCRAM credentials, at least %d (default %d)",
		password.MinSCRAMIterations, password.DefaultSCRAMIterations), func(s string) error {
		return passwdUint(s, 31, func(v uint64) { opts.scramIter = int(v) })
	})
	pos, err := passwdArgs(fset, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	setIter := false
	fset.Visit(func(f *flag.Flag) {
		opts.setGrps = opts.setGrps || f.Name == "groups"
		setIter = setIter || f.Name == "scram-iterations"
	})
	if setIter && !opts.scram {
		fmt.Fprintln(os.Stderr, "moat passwd: --scram-iterations needs --scram")
		return 2
	}
	if len(pos) < 2 {
		fset.Usage()
		return 2
	}
	file, cmd, rest := pos[0], pos[1], pos[2:]
	switch {
	case cmd == "list" && len(rest) == 0:
		return passwdList(file)
	case cmd == "list":
		fmt.Fprintln(os.Stderr, "moat passwd: list takes no argument")
		return 2
	case len(rest) != 1 && slices.Contains([]string{"add", "delete", "verify"}, cmd):
		fmt.Fprintf(os.Stderr, "moat passwd: %s takes one USER\n", cmd)
		return 2
	case cmd == "add":
		return passwdAdd(file, rest[0], opts)
	case cmd == "delete":
		return passwdDelete(file, rest[0])
	case cmd == "verify":
		return passwdVerify(file, rest[0])
	}
	fmt.Fprintf(os.Stderr, "moat passwd: unknown command %q\n", cmd)
	fset.Usage()
	return 2
}

// passwdArgs parses flags placed before, between or after the
// positional arguments; everything after "--" is positional.
func passwdArgs(fset *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fset.Parse(args); err != nil {
			return nil, err
		}
		if fset.NArg() == 0 {
			break
		}
		pos = append(pos, fset.Arg(0))
		args = fset.Args()[1:]
	}
	return append(pos, tail...), nil
}

func passwdUint(s string, bits int, set func(uint64)) error {
	var v uint64
	if _, err := fmt.Sscan(s, &v); err != nil || strings.TrimSpace(s) != s || v>>bits != 0 {
		return fmt.Errorf("want an integer below 2^%d", bits)
	}
	set(v)
	return nil
}

// passwdLoad loads file, or starts an empty one when it is absent and create
// is set. Load warnings go to stderr.
func passwdLoad(file string, create bool) (*password.File, error) {
	f, err := password.Load(file)
	if errors.Is(err, fs.ErrNotExist) {
		if create {
			return password.NewFile(), nil
		}
		return nil, fmt.Errorf("%s does not exist (use --create to create it)", file)
	}
	if err != nil {
		return nil, err
	}
	for _, w := range f.Warnings() {
		fmt.Fprintln(os.Stderr, "moat passwd: warning:", w)
	}
	return f, nil
}

func passwdFail(err error) int {
	fmt.Fprintln(os.Stderr, "moat passwd:", err)
	return 1
}

func passwdAdd(file, user string, opts passwdFlags) int {
	if err := password.CheckUserName(user); err != nil {
		return passwdFail(err)
	}
	if err := opts.params.Validate(); err != nil {
		return passwdFail(err)
	}
	if opts.scram && (opts.scramIter < password.MinSCRAMIterations || opts.scramIter > password.MaxSCRAMIterations) {
		return passwdFail(fmt.Errorf("SCRAM iteration count %d is outside %d..%d",
			opts.scramIter, password.MinSCRAMIterations, password.MaxSCRAMIterations))
	}
	var groups []string
	if opts.setGrps && opts.groups != "" {
		groups = strings.Split(opts.groups, ",")
		for i := range groups {
			groups[i] = strings.TrimSpace(groups[i])
		}
	}
	f, err := passwdLoad(file, opts.create)
	if err != nil {
		return passwdFail(err)
	}
	pw, err := passwdReadNew(user)
	if err != nil {
		return passwdFail(err)
	}
	defer clear(pw)
	enc, err := password.Hash(pw, opts.params)
	if err != nil {
		return passwdFail(err)
	}
	var creds []password.SCRAMCredential
	if opts.scram {
		if creds, err = passwdSCRAM(pw, opts.scramIter); err != nil {
			return passwdFail(err)
		}
	}
	hadSCRAM := len(f.SCRAMCredentials(user)) > 0
	// Set drops the SCRAM credentials of the old password.
	if err := f.Set(user, enc); err != nil {
		return passwdFail(err)
	}
	if err := f.SetSCRAM(user, creds...); err != nil {
		return passwdFail(err)
	}
	if opts.setGrps {
		if err := f.SetGroups(user, groups); err != nil {
			return passwdFail(err)
		}
	}
	if err := f.Save(file); err != nil {
		return passwdFail(err)
	}
	p := opts.params
	if opts.scram {
		fmt.Printf("set password for %q (argon2id m=%d,t=%d,p=%d; SCRAM-SHA-256 and SCRAM-SHA-512 with %d iterations)\n",
			user, p.Memory, p.Time, p.Threads, opts.scramIter)
	} else {
		fmt.Printf("set password for %q (argon2id m=%d,t=%d,p=%d)\n", user, p.Memory, p.Time, p.Threads)
	}
	if hadSCRAM && !opts.scram {
		fmt.Fprintf(os.Stderr, "moat passwd: dropped %q's SCRAM credentials, derived from the old password (add --scram to store new ones)\n", user)
	}
	return 0
}

// passwdSCRAM derives a credential of every SCRAM mechanism, each with a
// fresh salt. SCRAM clients normalize the password with SASLprep (RFC
// 4013), which this does not implement; it changes nothing in printable
// ASCII, so other passwords get a warning.
func passwdSCRAM(pw []byte, iterations int) ([]password.SCRAMCredential, error) {
	for _, b := range pw {
		if b < 0x20 || b > 0x7e {
			fmt.Fprintln(os.Stderr, "moat passwd: warning: the password is not printable ASCII; SCRAM clients that normalize it with SASLprep may derive other keys")
			break
		}
	}
	var creds []password.SCRAMCredential
	for _, m := range password.SCRAMMechanisms() {
		c, err := password.NewSCRAMCredential(m, pw, iterations)
		if err != nil {
			return nil, err
		}
		creds = append(creds, c)
	}
	return creds, nil
}

// passwdReadNew reads the password twice from a terminal, once from a
// pipe, and refuses an empty one.
func passwdReadNew(user string) ([]byte, error) {
	pw, err := prompt.Read(os.Stdin, os.Stderr, fmt.Sprintf("Password for %s: ", user))
	if errors.Is(err, io.EOF) {
		return nil, errors.New("no password on standard input")
	}
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password refused")
	}
	if prompt.IsTerminal(os.Stdin) {
		again, err := prompt.Read(os.Stdin, os.Stderr, "Repeat password: ")
		if err != nil {
			clear(pw)
			return nil, err
		}
		same := string(again) == string(pw)
		clear(again)
		if !same {
			clear(pw)
			return nil, errors.New("the passwords do not match")
		}
	}
	return pw, nil
}

func passwdDelete(file, user string) int {
	f, err := passwdLoad(file, false)
	if err != nil {
		return passwdFail(err)
	}
	if !f.Delete(user) {
		return passwdFail(fmt.Errorf("%w %q in %s", password.ErrUnknownUser, user, file))
	}
	if err := f.Save(file); err != nil {
		return passwdFail(err)
	}
	fmt.Printf("deleted %q\n", user)
	return 0
}

func passwdVerify(file, user string) int {
	f, err := passwdLoad(file, false)
	if err != nil {
		return passwdFail(err)
	}
	enc, known := f.Lookup(user)
	if !known {
		return passwdFail(fmt.Errorf("%w %q in %s", password.ErrUnknownUser, user, file))
	}
	pw, err := prompt.Read(os.Stdin, os.Stderr, fmt.Sprintf("Password for %s: ", user))
	if errors.Is(err, io.EOF) {
		return passwdFail(errors.New("no password on standard input"))
	}
	if err != nil {
		return passwdFail(err)
	}
	defer clear(pw)
	ok, legacy, err := password.Verify(enc, pw)
	if err != nil {
		return passwdFail(err)
	}
	if !ok {
		fmt.Println("password does not match")
		return 1
	}
	fmt.Println("password matches")
	for _, c := range f.SCRAMCredentials(user) {
		if !c.Verify(pw) {
			fmt.Fprintf(os.Stderr, "moat passwd: %q's %s credential does not match the password; run 'moat passwd %s add --scram %s' to derive new ones\n",
				user, c.Mechanism, file, user)
		}
	}
	if legacy {
		fmt.Fprintf(os.Stderr, "moat passwd: %q has a legacy hash; run 'moat passwd %s add %s' to rehash it with argon2id\n", user, file, user)
	}
	return 0
}

func passwdList(file string) int {
	f, err := passwdLoad(file, false)
	if err != nil {
		return passwdFail(err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USER\tSCHEME\tLEGACY\tSCRAM\tGROUPS")
	for _, u := range f.Users() {
		legacy := "no"
		if u.Legacy {
			legacy = "yes"
		}
		scram := "-"
		if len(u.SCRAM) > 0 {
			scram = strings.Join(u.SCRAM, ",")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Scheme, legacy, scram, strings.Join(u.Groups, ","))
	}
	if err := w.Flush(); err != nil {
		return passwdFail(err)
	}
	return 0
}
