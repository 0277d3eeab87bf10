// Package doctor audits a Moat configuration and the files it names,
// without the network: `moat doctor` prints its findings, and `moat serve`
// refuses to start on a critical finding nobody acknowledged (see
// CheckStart).
//
// Every finding carries a stable ID from Catalog ("MOAT-TLS-002"), a
// severity, the configuration key path it concerns and, when it is about
// a file, the file. IDs never change meaning; a retired check keeps its ID
// reserved. `moat scan` (internal/scan) reports observed behaviour with
// the same IDs where a configured setting and an observed behaviour match,
// so that the two can be compared.
//
// Critical is kept for what makes a network-exposed broker unsafe as it
// stands: anyone may connect, traffic and passwords travel in clear, no
// ACL decides, everyone may read every topic, a private key is readable
// by other local users. Everything else is high or below.
package doctor

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/config"
)

// Severity ranks a finding. The zero value is SeverityInfo; higher is worse.
type Severity int

// Severities, least serious first.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

// String names the severity in lower case ("high").
func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// ParseSeverity reads a severity name, case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(name, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q: want %s", name, strings.Join(severityNames[:], ", "))
}

// MarshalText writes the severity's name, so JSON carries "high".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Finding is one problem. ID is stable (see Catalog); Path is the
// configuration key path ("listeners[1].tls.min_version"), empty when the
// finding concerns no single key; File is set when the finding is about a
// file. Message says what was found, Why why it matters and Fix what to
// change. Strings hold no secrets: never a password, a key or a payload.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Path     string   `json:"path,omitempty"`
	File     string   `json:"file,omitempty"`
	// Target is the scanned address (moat scan only).
	Target  string `json:"target,omitempty"`
	Message string `json:"message"`
	Why     string `json:"why"`
	Fix     string `json:"fix"`
	// Acknowledged is set when the configuration accepts the risk: the
	// finding's ID is listed in Options.Acknowledge, or allow_insecure
	// covers it (AckBy says which).
	Acknowledged bool   `json:"acknowledged,omitempty"`
	AckBy        string `json:"acknowledged_by,omitempty"`
}

// String formats f on one line: "critical MOAT-AUTH-001 listeners[0].auth: message".
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.Severity.String() + " " + f.ID)
	if loc := f.Location(); loc != "" {
		b.WriteString(" " + loc)
	}
	b.WriteString(": " + f.Message)
	return b.String()
}

// Location joins the path, the file and the target that locate f.
func (f Finding) Location() string {
	var parts []string
	for _, s := range []string{f.Target, f.Path, f.File} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

// Options tune Check. The zero value audits everything at the current
// time with "user:admin" as the only administrator.
type Options struct {
	// ConfigFile is the configuration file the Config came from, checked
	// for its permissions; "" when there is none (defaults, first run).
	ConfigFile string
	// Acknowledge lists accepted risks: a finding ID ("MOAT-NET-001")
	// accepts every finding of that ID, "ID@PATH" only the one at that
	// key path or file ("MOAT-FILE-001@/etc/moat/server.key"). Such
	// findings are still reported, marked Acknowledged. Until the
	// configuration has a key for it (see docs/doctor.md), callers pass
	// the list here.
	Acknowledge []string
	// Admins are the ACL who entries of the administrators, whose grants
	// on "#", "+/#", "$SYS/#" and "$share/+/#" are expected ("user:admin",
	// "group:ops", "cert:dashboard"). Default: "user:admin", the first
	// run's administrator. acl.root_wildcard_identities count as
	// administrators too.
	Admins []string
	// Now is the time certificates are judged at. Default time.Now().
	Now time.Time
	// SkipFiles audits the configuration alone: no file it names is
	// opened or stat'ed (the first run has not created them yet).
	SkipFiles bool
	// CriticalOnly runs only the checks that can yield a critical
	// finding, which is what moat serve needs at start.
	CriticalOnly bool
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// DefaultAdmins are the administrators when Options.Admins is empty.
var DefaultAdmins = []string{"user:admin"}

// Check audits cfg, which must have had ApplyDefaults run (config.Load
// and config.Default do), and returns every finding in a deterministic
// order: most severe first, then by ID, path and file. It never uses the
// network; a file that is missing or unreadable is a finding, not an
// error.
func Check(cfg *config.Config, opts Options) []Finding {
	c := &checker{cfg: cfg, opts: opts, now: opts.now()}
	c.listeners()
	c.acl()
	c.files()
	if !opts.CriticalOnly {
		c.signedTopics()
		c.settings()
		c.passwords()
		c.certificates()
	}
	c.acknowledge()
	Sort(c.out)
	return c.out
}

// checker accumulates the findings of one Check.
type checker struct {
	cfg  *config.Config
	opts Options
	now  time.Time
	out  []Finding
}

// add records a finding of rule id at the catalog's severity.
func (c *checker) add(id string, f Finding) {
	c.addAt(id, mustRule(id).Severity, f)
}

// addAt records a finding of rule id at severity sev, filling Why and Fix
// from the catalog unless f sets them.
func (c *checker) addAt(id string, sev Severity, f Finding) {
	if c.opts.CriticalOnly && sev < SeverityCritical {
		return
	}
	c.out = append(c.out, Complete(id, sev, f))
}

// exposed reports whether some listener binds a non-loopback address.
func (c *checker) exposed() bool {
	return slices.ContainsFunc(c.cfg.Listeners, func(l config.Listener) bool { return !l.IsLoopback() })
}

// insecureAcks are the findings allow_insecure: true accepts, as the
// configuration's validation does (docs/configuration.md).
var insecureAcks = []string{IDPlainText, IDAnonymousExposed, IDNoACLExposed, IDPublicMetrics, IDHTTPAuthPlain}

// acknowledge marks the findings accepted by Options.Acknowledge or by
// allow_insecure.
func (c *checker) acknowledge() {
	for i := range c.out {
		f := &c.out[i]
		for _, a := range c.opts.Acknowledge {
			id, at, scoped := strings.Cut(strings.TrimSpace(a), "@")
			if id == f.ID && (!scoped || at == f.Path || at == f.File) {
				f.Acknowledged, f.AckBy = true, "acknowledge"
				break
			}
		}
		if !f.Acknowledged && c.cfg.AllowInsecure && slices.Contains(insecureAcks, f.ID) {
			f.Acknowledged, f.AckBy = true, "allow_insecure"
		}
	}
}

// Sort orders findings most severe first, then by ID, target, path, file
// and message, so that output is stable.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.Target, b.Target),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Message, b.Message),
		)
	})
}

// Critical returns the critical findings of fs, acknowledged or not.
func Critical(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity == SeverityCritical {
			out = append(out, f)
		}
	}
	return out
}

// Blocking returns the critical findings nobody acknowledged: those moat
// serve refuses to start with.
func Blocking(fs []Finding) []Finding {
	var out []Finding
	for _, f := range Critical(fs) {
		if !f.Acknowledged {
			out = append(out, f)
		}
	}
	return out
}

// AtLeast returns the findings of severity min or above.
func AtLeast(fs []Finding, min Severity) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity >= min {
			out = append(out, f)
		}
	}
	return out
}

// CheckStart runs the critical checks on cfg as moat serve must before it
// opens a listener, and returns an error naming every critical finding
// that neither acknowledge (finding IDs, or ID@PATH) nor allow_insecure
// accepts; nil when none. configFile, when not empty, is the file cfg was
// loaded from.
func CheckStart(cfg *config.Config, configFile string, acknowledge []string) error {
	if err := ValidateAcknowledge(acknowledge); err != nil {
		return err
	}
	blocking := Blocking(Check(cfg, Options{ConfigFile: configFile, Acknowledge: acknowledge, CriticalOnly: true}))
	if len(blocking) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "refusing to start: %d critical finding(s) (run 'moat doctor' for details):", len(blocking))
	for _, f := range blocking {
		fmt.Fprintf(&b, "\n  %s\n    fix: %s", f, f.Fix)
	}
	fmt.Fprintf(&b, "\nto accept a risk, list its ID under acknowledge: in the configuration (e.g. acknowledge: [%q])", blocking[0].ID)
	return &StartError{Findings: blocking, msg: b.String()}
}

// ValidateAcknowledge checks an acknowledge list: every entry is a
// catalog ID, optionally followed by "@" and a non-empty key path or
// file, so that a typo cannot silently accept nothing.
func ValidateAcknowledge(list []string) error {
	for i, a := range list {
		id, at, scoped := strings.Cut(strings.TrimSpace(a), "@")
		if _, ok := Lookup(id); !ok {
			return fmt.Errorf("acknowledge[%d]: %q is not a finding ID (docs/doctor.md lists them, e.g. %s)", i, a, IDKeyReadable)
		}
		if scoped && at == "" {
			return fmt.Errorf("acknowledge[%d]: %q: write ID@PATH with a key path or file after @, or the ID alone", i, a)
		}
	}
	return nil
}

// StartError is CheckStart's error: the findings that block the start.
type StartError struct {
	Findings []Finding
	msg      string
}

func (e *StartError) Error() string { return e.msg }
