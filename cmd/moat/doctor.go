package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/doctor"
	"github.com/moatmq/moat/internal/firstrun"
)

const doctorUsage = `Usage:
  moat doctor [--config FILE | --data-dir DIR] [--format text|json|sarif] [--json]
              [--min-severity S] [--fail-on S] [--acknowledge ID]... [--admin WHO]...

doctor audits a configuration and the files it names (certificates, keys,
password file, ACL policy, permissions) without touching the network, and
prints each finding with its stable ID, severity, configuration key, why it
matters and how to fix it (docs/doctor.md lists every ID).

Without --config it audits the zero-configuration first run in --data-dir
(default moat-data), as 'moat serve' without --config would use it. It
creates nothing: when the directory does not exist yet, only the
configuration is audited.

Exit status: 0 when no finding is at or above --fail-on (default high),
1 when one is, 2 for a usage error or a configuration that does not load.

Flags:
`

// reportFlags are the output flags moat doctor and moat scan share.
type reportFlags struct {
	format      string
	json        bool
	minSeverity string
	failOn      string
}

func (rf *reportFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&rf.format, "format", "text", "output format: text, json or sarif")
	fl.BoolVar(&rf.json, "json", false, "same as --format json")
	fl.StringVar(&rf.minSeverity, "min-severity", "info", "print findings of this severity or above: info, low, medium, high, critical")
	fl.StringVar(&rf.failOn, "fail-on", "high", "exit 1 when a finding is of this severity or above")
}

// parse checks the values; it returns the format and the two thresholds.
func (rf *reportFlags) parse() (format string, minSev, failOn doctor.Severity, err error) {
	format = rf.format
	if rf.json {
		format = "json"
	}
	switch format {
	case "text", "json", "sarif":
	default:
		return "", 0, 0, fmt.Errorf("--format: want text, json or sarif, got %q", format)
	}
	if minSev, err = doctor.ParseSeverity(rf.minSeverity); err != nil {
		return "", 0, 0, fmt.Errorf("--min-severity: %w", err)
	}
	if failOn, err = doctor.ParseSeverity(rf.failOn); err != nil {
		return "", 0, 0, fmt.Errorf("--fail-on: %w", err)
	}
	return format, minSev, failOn, nil
}

// writeReport prints r in format and returns the exit status: 1 when a
// finding counted is at failOn or above. Findings below minSev are left
// out of the output but still count.
func writeReport(w io.Writer, r *doctor.Report, format, artifact string, minSev, failOn doctor.Severity, count func(doctor.Finding) bool) int {
	all := r.Findings
	code := 0
	for _, f := range all {
		if f.Severity >= failOn && count(f) {
			code = 1
		}
	}
	r.Findings = doctor.AtLeast(all, minSev)
	r.Summary = doctor.Summarize(all)
	var err error
	switch format {
	case "json":
		err = doctor.WriteJSON(w, r)
	case "sarif":
		err = doctor.WriteSARIF(w, r, artifact)
	default:
		err = doctor.WriteText(w, r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat:", err)
		return 2
	}
	return code
}

// doctorCmd runs "moat doctor".
func doctorCmd(args []string) int {
	fl := flag.NewFlagSet("moat doctor", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	fl.Usage = func() {
		fmt.Fprint(os.Stderr, doctorUsage)
		fl.PrintDefaults()
	}
	cfgPath := fl.String("config", "", "configuration file to audit")
	dataDir := fl.String("data-dir", config.DefaultDataDir, "without --config: the first run's data directory")
	tlsAddr := fl.String("tls-address", firstrun.DefaultTLSAddress, "without --config: the first run's TLS listener address")
	plainAddr := fl.String("plain-address", firstrun.DefaultPlainAddress, "without --config: the first run's plain listener address")
	var acks, admins stringList
	fl.Var(&acks, "acknowledge", "accept the risk of finding ID (or ID@PATH); repeatable")
	fl.Var(&admins, "admin", "ACL who entry of an administrator, e.g. user:admin or group:ops (repeatable; default user:admin)")
	ignoreAcked := fl.Bool("ignore-acknowledged", false, "acknowledged findings do not change the exit status")
	var rf reportFlags
	rf.register(fl)
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(os.Stderr, "moat doctor: unexpected argument %q\n\n", pos[0])
		fl.Usage()
		return 2
	}
	format, minSev, failOn, err := rf.parse()
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat doctor:", err)
		return 2
	}
	if err := doctor.ValidateAcknowledge(acks); err != nil {
		fmt.Fprintln(os.Stderr, "moat doctor: --"+err.Error())
		return 2
	}
	opts := doctor.Options{ConfigFile: *cfgPath, Acknowledge: acks, Admins: admins}
	rep := &doctor.Report{Tool: "moat doctor", Version: version}
	var cfg *config.Config
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintf(os.Stderr, "moat doctor: %v\n", err)
			return 2
		}
		rep.Subject = *cfgPath
	} else {
		cfg, err = firstRunConfig(*dataDir, *tlsAddr, *plainAddr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "moat doctor: %v\n", err)
			return 2
		}
		rep.Subject = "zero-configuration first run in " + *dataDir + " (moat serve without --config)"
		if _, err := os.Stat(*dataDir); errors.Is(err, fs.ErrNotExist) {
			opts.SkipFiles = true
			rep.Notes = append(rep.Notes, *dataDir+" does not exist yet: only the configuration is audited; "+
				"the first 'moat serve' creates its files with mode 0600 in a 0700 directory")
		}
	}
	// What the configuration acknowledges (moat serve honours it), and
	// what --acknowledge adds.
	opts.Acknowledge = append(slices.Clone(cfg.Acknowledge), opts.Acknowledge...)
	rep.Findings = doctor.Check(cfg, opts)
	count := func(f doctor.Finding) bool { return !*ignoreAcked || !f.Acknowledged }
	return writeReport(os.Stdout, rep, format, *cfgPath, minSev, failOn, count)
}

// firstRunConfig is the configuration firstrun.Prepare returns for dir,
// built without creating anything.
func firstRunConfig(dir, tlsAddr, plainAddr string) (*config.Config, error) {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.ACL.File = filepath.Join(dir, "acl.yaml")
	cfg.Listeners = []config.Listener{
		{Name: "tls", Address: tlsAddr, Transport: "tls", TLS: config.TLS{
			Cert: filepath.Join(dir, "server.crt"), Key: filepath.Join(dir, "server.key")}},
		{Name: "local", Address: plainAddr, Transport: "tcp"},
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("first-run configuration: %w", err)
	}
	return cfg, nil
}
