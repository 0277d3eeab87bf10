package acl

import (
	"fmt"
	"strings"
)

// Severities of a Finding.
const (
	SeverityCritical = "critical" // exposes data or control to clients that should not have it
	SeverityWarning  = "warning"  // probably a mistake: dead, risky or redundant
)

// Finding is one problem Lint sees in a valid policy.
type Finding struct {
	Rule     string // the rule, as in Result.Rule
	Severity string // SeverityCritical or SeverityWarning
	Message  string
}

// String formats f as "severity: rule: message".
func (f Finding) String() string { return f.Severity + ": " + f.Rule + ": " + f.Message }

// Lint reviews a policy for rules that are valid but dangerous or dead:
//   - critical: subscribe or receive allowed to all, anonymous or
//     authenticated clients on a pattern made only of wildcards ending in
//     '#' ("#", "+/#"): everyone can read every topic;
//   - critical: publish or retain allowed on a pattern whose first level
//     starts with '$' to anyone but user: and cert: subjects;
//   - critical: publish or retain allowed to anonymous clients on a
//     pattern made only of wildcards; a warning for any other pattern;
//   - warning: other first-level-wildcard patterns readable by everyone;
//     patterns under "$SYS/" allowed for publish or retain (the builtin
//     rule always denies them); %u patterns that only anonymous clients
//     could match; rules that never decide because another rule holds the
//     same (action, who, pattern) and wins the tie (duplicates included).
//
// Findings come in rule order.
func Lint(p *Policy) []Finding {
	if p == nil {
		return nil
	}
	var out []Finding
	for _, r := range p.rules {
		out = append(out, lintRule(r)...)
	}
	return append(out, lintDead(p)...)
}

// lintRule checks one rule on its own.
func lintRule(r *rule) []Finding {
	var out []Finding
	add := func(sev, format string, args ...any) {
		out = append(out, Finding{Rule: r.label, Severity: sev, Message: fmt.Sprintf(format, args...)})
	}
	if !r.deny {
		reads := r.actions.has(Subscribe) || r.actions.has(Receive)
		writes := r.actions.has(Publish) || r.actions.has(Retain)
		broad := whoTexts(r, func(w who) bool { return w.kind <= whoAuthenticated })
		anon := whoTexts(r, func(w who) bool { return w.kind <= whoAnonymous })
		nonPersonal := whoTexts(r, func(w who) bool { return w.kind != whoUser && w.kind != whoCert })
		for _, pat := range r.topics {
			wild, firstWild := wildcardShape(pat)
			switch {
			case reads && broad != "" && wild && strings.HasSuffix(pat, "#"):
				add(SeverityCritical, "everyone can read every topic: %s may subscribe to or receive %q", broad, pat)
			case reads && broad != "" && firstWild:
				add(SeverityWarning, "%s may subscribe to or receive %q, across every top-level topic tree", broad, pat)
			}
			if !writes {
				continue
			}
			if strings.HasPrefix(pat, "$SYS/") || pat == "$SYS" {
				add(SeverityWarning, "allows publish or retain to %q, which the builtin rule always denies: $SYS is written only by the broker", pat)
			}
			if strings.HasPrefix(pat, "$") && nonPersonal != "" {
				add(SeverityCritical, "%s may publish to broker-reserved %q; grant '$' topics to user: or cert: subjects only", nonPersonal, pat)
			}
			switch {
			case anon != "" && wild:
				add(SeverityCritical, "anonymous clients (%s) may publish to any topic of the all-wildcard pattern %q", anon, pat)
			case anon != "":
				add(SeverityWarning, "anonymous clients (%s) may publish to %q", anon, pat)
			}
		}
	}
	onlyAnon := whoTexts(r, func(w who) bool { return w.kind != whoAnonymous }) == ""
	for _, pat := range r.topics {
		if onlyAnon && usesUser(pat) {
			add(SeverityWarning, "pattern %q never matches: %%u matches nothing for anonymous clients", pat)
		}
	}
	return out
}

// whoTexts joins the who entries of r that keep selects, "" when none.
func whoTexts(r *rule, keep func(who) bool) string {
	var names []string
	for _, w := range r.who {
		if keep(w) {
			names = append(names, w.text)
		}
	}
	return strings.Join(names, ", ")
}

// wildcardShape reports whether every level of pat is a wildcard, and
// whether its first level is.
func wildcardShape(pat string) (all, first bool) {
	all = true
	for i, level := range strings.Split(pat, "/") {
		w := level == "+" || level == "#"
		if i == 0 {
			first = w
		}
		all = all && w
	}
	return all, first
}

// triple is one (action, who entry, pattern) a rule holds.
type triple struct {
	a       Action
	who     string
	pattern string
}

// lintDead finds rules none of whose triples can decide: each is also held
// by another rule that wins a complete tie (a deny against an allow, or
// one written earlier with the same effect).
func lintDead(p *Policy) []Finding {
	holders := map[triple][]*rule{}
	for _, r := range p.rules {
		forTriples(r, func(t triple) { holders[t] = append(holders[t], r) })
	}
	var out []Finding
	for _, r := range p.rules {
		var by *rule
		dead := true
		forTriples(r, func(t triple) {
			w := winner(holders[t])
			if w == r {
				dead = false
			} else if by == nil {
				by = w
			}
		})
		if dead && by != nil {
			msg := fmt.Sprintf("never decides: everything it matches, %s matches as specifically and wins the tie", by.label)
			if by.deny == r.deny && sameRule(by, r) {
				msg = "duplicates " + by.label + ", which decides instead"
			}
			out = append(out, Finding{Rule: r.label, Severity: SeverityWarning, Message: msg})
		}
	}
	return out
}

// forTriples calls fn for each triple of r.
func forTriples(r *rule, fn func(triple)) {
	for a := Publish; a <= Retain; a++ {
		if !r.actions.has(a) {
			continue
		}
		for _, w := range r.who {
			for _, pat := range r.topics {
				fn(triple{a, w.text, pat})
			}
		}
	}
}

// winner returns the rule that decides among rules holding the same
// triple: deny first, then the rule written first. rules is in file order.
func winner(rules []*rule) *rule {
	for _, r := range rules {
		if r.deny {
			return r
		}
	}
	return rules[0]
}

// sameRule reports whether a and b differ at most in name: same effect,
// actions, who entries, patterns and limits, in any order.
func sameRule(a, b *rule) bool {
	if a.deny != b.deny || a.actions != b.actions || a.maxQoS != b.maxQoS || a.maxPayload != b.maxPayload ||
		len(a.who) != len(b.who) || len(a.topics) != len(b.topics) {
		return false
	}
	set := map[string]bool{}
	for _, w := range a.who {
		set["w"+w.text] = true
	}
	for _, t := range a.topics {
		set["t"+t] = true
	}
	for _, w := range b.who {
		if !set["w"+w.text] {
			return false
		}
	}
	for _, t := range b.topics {
		if !set["t"+t] {
			return false
		}
	}
	return true
}
