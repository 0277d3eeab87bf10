package doctor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/auth/password"
)

// broadFilters are the subscriptions that read across every tenant or the
// broker's internals; only administrators should be granted them. The
// $share form is probed with a fixed group name and shown as written in
// the issue that asked for it.
var broadFilters = []struct{ probe, show string }{
	{"#", "#"},
	{"+/#", "+/#"},
	{"$SYS/#", "$SYS/#"},
	{"$share/moat-doctor/#", "$share/+/#"},
}

// acl checks that an ACL decides and what the policy grants.
func (c *checker) acl() {
	cfg := c.cfg
	switch {
	case !cfg.HasACL():
		if c.exposed() {
			c.add(IDNoACLExposed, Finding{Path: "acl.file",
				Message: "no ACL decides (acl.file and auth.http.acl_url are empty) and a listener is not on loopback: every authenticated client may use every topic"})
		} else {
			c.add(IDNoACLLoopback, Finding{Path: "acl.file",
				Message: "no ACL decides (acl.file and auth.http.acl_url are empty): every authenticated client may use every topic"})
		}
		return
	case cfg.ACL.File == "":
		c.add(IDACLWebhook, Finding{Path: "auth.http.acl_url",
			Message: "the authorization webhook decides; its answers are not audited here"})
		return
	case c.opts.SkipFiles:
		return
	}
	file := cfg.ACL.File
	p, err := acl.LoadPolicy(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return // files reports it
	case err != nil && !errors.Is(err, fs.ErrPermission):
		c.add(IDACLInvalid, Finding{Path: "acl.file", File: file, Message: firstLine(err.Error())})
		return
	case err != nil:
		c.add(IDFileMissing, Finding{Path: "acl.file", File: file, Message: describeStatErr(err)})
		return
	}
	allSev := SeverityHigh
	if c.exposed() {
		allSev = SeverityCritical
	}
	for _, f := range acl.Lint(p) {
		at := Finding{Path: "acl.file", File: file, Message: f.Rule + ": " + f.Message}
		switch {
		case f.Severity == acl.SeverityCritical && lintAllowsAll(f):
			c.addAt(IDACLAllowAll, allSev, at)
		case f.Severity == acl.SeverityCritical:
			c.add(IDACLDollarWrite, at)
		default:
			c.add(IDACLWarning, at)
		}
	}
	c.broadGrants(p, file)
}

// lintAllowsAll reports whether a critical lint finding is one of those
// that make the policy allow by default: everyone reads every topic, or
// anonymous clients write every topic.
func lintAllowsAll(f acl.Finding) bool {
	return strings.Contains(f.Message, "everyone can read every topic") || strings.Contains(f.Message, "all-wildcard pattern")
}

// probeSubject is one identity the broad-grant check asks the policy
// about.
type probeSubject struct {
	who   string // as in a who entry, or a description
	id    *auth.Identity
	broad bool // anonymous or any authenticated client: Lint covers "#"
}

// broadGrants asks the policy, for every identity it or the password file
// names and for anonymous and unnamed clients, whether it may subscribe to
// the broad filters; administrators are skipped. A named identity is
// reported only for what an unnamed authenticated client would not get:
// grants to everyone are Lint's (IDACLAllowAll) or the unnamed client's.
func (c *checker) broadGrants(p *acl.Policy, file string) {
	admins := c.admins()
	rootWildcards := c.cfg.ACL.RootWildcards == nil || *c.cfg.ACL.RootWildcards
	subjects := c.probeSubjects(file)
	ask := func(s probeSubject, filter string) acl.Result {
		return p.Authorize(&acl.Subject{ClientID: "moat-doctor", Username: s.id.Name, Identity: s.id},
			acl.Request{Action: acl.Subscribe, Topic: filter})
	}
	everyone := map[string]bool{}
	for _, f := range broadFilters {
		everyone[f.probe] = ask(subjects[1], f.probe).Allowed
	}
	for _, s := range subjects {
		if isAdmin(s, admins) {
			continue
		}
		var granted, rules []string
		for _, f := range broadFilters {
			rootWild := f.probe != "$SYS/#"
			switch {
			case rootWild && (s.broad || !rootWildcards):
				// Lint reports broad subjects on "#"; with
				// acl.root_wildcards false the broker refuses
				// root wildcards to everyone not listed.
				continue
			case !s.broad && everyone[f.probe]:
				continue // reported for every authenticated client
			}
			if res := ask(s, f.probe); res.Allowed {
				granted = append(granted, f.show)
				if !slices.Contains(rules, res.Rule) {
					rules = append(rules, res.Rule)
				}
			}
		}
		if len(granted) > 0 {
			c.add(IDACLBroadGrant, Finding{Path: "acl.file", File: file,
				Message: fmt.Sprintf("%s, not an administrator, may subscribe to %s (%s)",
					s.who, strings.Join(granted, ", "), strings.Join(rules, "; "))})
		}
	}
}

// admins returns the administrators' who entries: Options.Admins (or
// DefaultAdmins) and acl.root_wildcard_identities as user: and cert:.
func (c *checker) admins() []string {
	admins := slices.Clone(c.opts.Admins)
	if len(admins) == 0 {
		admins = slices.Clone(DefaultAdmins)
	}
	for _, n := range c.cfg.ACL.RootWildcardIdentities {
		admins = append(admins, "user:"+n, "cert:"+n)
	}
	return admins
}

// isAdmin reports whether s is one of the administrators.
func isAdmin(s probeSubject, admins []string) bool {
	if s.broad {
		return false
	}
	if slices.Contains(admins, s.who) {
		return true
	}
	for _, g := range s.id.Groups {
		if slices.Contains(admins, "group:"+g) {
			return true
		}
	}
	return false
}

// probeSubjects lists who to ask about: anonymous clients, an
// authenticated client nothing names (always second), every user:, cert: and group: entry
// of the policy, and every user of the password file with its groups. The
// order is fixed: policy entries in file order, then password file users.
func (c *checker) probeSubjects(policyFile string) []probeSubject {
	subjects := []probeSubject{
		{who: "anonymous clients", broad: true,
			id: &auth.Identity{Name: "anonymous", Method: "anonymous", Anonymous: true}},
		{who: "every authenticated client", broad: true,
			id: &auth.Identity{Name: "moat-doctor-probe", Method: "password"}},
	}
	seen := map[string]bool{}
	add := func(s probeSubject) {
		if !seen[s.who] {
			seen[s.who] = true
			subjects = append(subjects, s)
		}
	}
	for _, w := range policyWho(policyFile) {
		kind, name, _ := strings.Cut(w, ":")
		switch kind {
		case "user":
			add(probeSubject{who: w, id: &auth.Identity{Name: name, Method: "password"}})
		case "cert":
			add(probeSubject{who: w, id: &auth.Identity{Name: name, Method: "certificate"}})
		case "group":
			add(probeSubject{who: w, id: &auth.Identity{Name: "moat-doctor-member", Method: "password", Groups: []string{name}}})
		}
	}
	if pf, err := password.Load(c.cfg.PasswordFilePath()); err == nil {
		for _, u := range pf.Users() {
			add(probeSubject{who: "user:" + u.Name, id: &auth.Identity{Name: u.Name, Method: "password", Groups: u.Groups}})
		}
	}
	return subjects
}

// policyWho returns the who entries of a policy file that LoadPolicy
// accepted, in file order. The acl package keeps its rules private; the
// file is small (acl.MaxPolicySize) and already known to be valid.
func policyWho(file string) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, acl.MaxPolicySize))
	if err != nil {
		return nil
	}
	var doc struct {
		Rules []struct {
			Who []string `yaml:"who"`
		} `yaml:"rules"`
	}
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	var out []string
	for _, r := range doc.Rules {
		out = append(out, r.Who...)
	}
	return out
}

// firstLine returns the first line of s, noting how many more there were.
func firstLine(s string) string {
	first, rest, more := strings.Cut(s, "\n")
	if !more {
		return s
	}
	return fmt.Sprintf("%s (and %d more)", first, strings.Count(rest, "\n")+1)
}
