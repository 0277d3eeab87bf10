// # Policies
//
// A Policy is Moat's own Authorizer: a YAML file of allow and deny rules,
// compiled into a trie of topic levels. This is its contract:
//
//	version: 1
//	rules:
//	  - name: own-device-topics   # optional; default "rules[N]"; unique
//	    allow: [publish, retain]  # or deny:; publish, subscribe, receive, retain or all
//	    who: [all]                # all, anonymous, authenticated, user:NAME, group:NAME, cert:IDENTITY
//	    topics: ["devices/%u/#"]  # topic filters; %u and %c are substituted
//	    max_qos: 1                # allow rules only
//	    max_payload: 64KiB        # allow rules only, publish and retain only
//
// Deny by default. A request that no rule decides is denied, with
// Result.Rule "no rule matched (default deny)". So is a request with an
// unknown action, an empty or malformed topic, or a QoS above 2.
//
// Built in, before any rule: publish and retain to "$SYS" and under
// "$SYS/" are denied, with Result.Rule "builtin: $SYS is written only by
// the broker", whatever the rules say. Publishing or retaining to any
// other topic starting with '$' needs an allow rule whose matching
// pattern's first level literally starts with '$'.
//
// Matching. A rule matches a request when its action list holds the
// action, an entry of its who list matches the subject and one of its
// topic patterns matches the topic:
//   - publish, retain and receive carry a topic name; a pattern matches it
//     as topic.MatchFilter does, so '+' and '#' in a pattern's first level
//     never match a topic starting with '$' [MQTT-4.7.2-1];
//   - subscribe carries a filter; a "$share/{ShareName}/" prefix is removed
//     first, and a pattern matches when topic.Covers(pattern, filter): every
//     topic the filter can match, the pattern matches too.
//
// Who. "all" matches every client, anonymous ones and a Subject without an
// Identity included. "anonymous" matches a client whose Identity is
// Anonymous or nil; "authenticated" every other client. "user:NAME"
// matches an authenticated identity named NAME that did not authenticate
// by certificate; "cert:IDENTITY" one named IDENTITY whose Method is
// "certificate"; "group:NAME" an authenticated identity with NAME among
// its Groups.
//
// Substitution. In a pattern, "%u" stands for the identity's Name and "%c"
// for the client identifier, as whole levels ("devices/%u/#") or inside one
// ("tenants/t-%u/+"); any other '%' is an ordinary character. Substituted
// values are literal text, never wildcards. A pattern using %u matches
// nothing for an anonymous subject, nor for one whose name is empty,
// contains '+', '#', '/' or U+0000, or starts with '$'; a pattern using %c
// matches nothing for a client identifier of that kind. A user named "#"
// therefore gains nothing from "%u/#" (the class of CVE-2017-7650).
//
// Order. The most specific matching rule decides. Specificity compares, in
// order:
//  1. the topic pattern that matched: more literal levels is more specific
//     (a level is literal when it is not '+' or '#'; %u and %c levels
//     count as literal); then a pattern without a trailing '#' beats one
//     with it; then fewer '+' levels;
//  2. the who entry that matched: user: and cert: beat group:, which beats
//     authenticated and anonymous, which beat all.
//
// On a complete tie a deny rule wins; between allow rules that tie
// completely, the one written first in the file decides. A rule with
// several patterns or who entries competes with its most specific match.
//
// Limits of the deciding allow rule. max_qos (0 to 2, default 2) is, for
// subscribe and receive, the highest QoS granted, returned in
// Result.MaxQoS; publish and retain with a higher QoS are denied.
// max_payload denies publish and retain whose Request.Payload exceeds it.
// A limit never hands the decision to a less specific rule: Result.Rule
// names the deciding rule and says which limit denied.
//
// Result.Rule is "rules[N]" for an unnamed rule (N counts from 0) and
// "rules[N] NAME" for a named one.
package acl

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/moatmq/moat/internal/errlist"
)

// MaxPolicySize is the largest policy file LoadPolicy and ParsePolicy read.
const MaxPolicySize = 16 << 20

// ruleNoMatch is Result.Rule when no rule matched.
const ruleNoMatch = "no rule matched (default deny)"

// ruleSYS is Result.Rule for the builtin $SYS protection.
const (
	ruleSYS  = "builtin: $SYS is written only by the broker"
	ruleKeys = "builtin: $moat/keys is written only by the broker"
)

// Policy is a compiled ACL policy. It is immutable once built, so
// Authorize and Explain are safe for concurrent use; a reload builds a new
// Policy and swaps it in (see Cached.Swap).
type Policy struct {
	file  string
	rules []*rule
	// trees holds one trie per action, indexed by Action-1.
	trees [numActions]*node
	// usesClient is set when a pattern holds %c, usesGroups when a who
	// entry names a group: only then do client identifiers and groups
	// change decisions, and Cached keys on them.
	usesClient, usesGroups bool
}

var _ Authorizer = (*Policy)(nil)

// File returns the name the policy was parsed under.
func (p *Policy) File() string { return p.file }

// Len returns the number of rules.
func (p *Policy) Len() int { return len(p.rules) }

// numActions is the number of Actions; Action-1 indexes per-action tables.
const numActions = 4

// actionSet is a bit set of Actions: bit Action-1.
type actionSet uint8

func (s actionSet) has(a Action) bool { return a >= Publish && a <= Retain && s&(1<<(a-1)) != 0 }

const allActions actionSet = 1<<numActions - 1

// whoKind is the kind of a who entry. Higher kinds are more specific, and
// the value is the who part of a rule's specificity.
type whoKind uint8

const (
	whoAll whoKind = iota
	whoAnonymous
	whoAuthenticated
	whoGroup
	whoUser
	whoCert
)

// rank is the specificity of a who kind: all < anonymous = authenticated <
// group < user = cert.
func (k whoKind) rank() uint64 {
	switch k {
	case whoAnonymous, whoAuthenticated:
		return 1
	case whoGroup:
		return 2
	case whoUser, whoCert:
		return 3
	}
	return 0
}

// who is one parsed who entry.
type who struct {
	kind whoKind
	name string // for user:, group: and cert:
	text string // as written
}

// rule is one parsed rule.
type rule struct {
	index      int
	name       string // as written, or "" when defaulted
	label      string // "rules[N]" or "rules[N] NAME", for Result.Rule
	deny       bool
	actions    actionSet
	who        []who
	topics     []string
	maxQoS     byte // 2 unless max_qos is set
	hasMaxQoS  bool
	maxPayload int64 // -1 unless max_payload is set
	line       int   // where the rule starts in the file

	// Precomputed Result.Rule texts for the limits, so that a decision
	// never allocates.
	qosDenied     string
	payloadDenied string
}

// effect names a rule's effect.
func (r *rule) effect() string {
	if r.deny {
		return "deny"
	}
	return "allow"
}

// finish fills in the texts derived from the parsed fields.
func (r *rule) finish() {
	r.label = "rules[" + strconv.Itoa(r.index) + "]"
	if r.name != "" && r.name != r.label {
		r.label += " " + r.name
	}
	r.qosDenied = r.label + ": QoS above max_qos " + strconv.Itoa(int(r.maxQoS))
	r.payloadDenied = r.label + ": payload above max_payload " + strconv.FormatInt(r.maxPayload, 10) + " bytes"
}

// LoadPolicy reads and compiles the policy file at path; see ParsePolicy.
// A file larger than MaxPolicySize is refused before it is read whole.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("acl: %w", err)
	}
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("acl: %s: policy file larger than %d bytes", path, MaxPolicySize)
	}
	return ParsePolicy(data, path)
}

// ParsePolicy parses data, a single YAML document, and compiles it. file
// names the source in errors. Unknown keys, duplicate keys, values of the
// wrong type and every rule that breaks the format are refused; on failure
// the error is a *PolicyErrors listing every problem found (up to a bound),
// one per line as "file:line:col: path: reason".
func ParsePolicy(data []byte, file string) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, &PolicyErrors{List: []*PolicyError{{File: file,
			Msg: "policy larger than " + strconv.Itoa(MaxPolicySize) + " bytes"}}}
	}
	ps := &parser{file: file}
	rules := ps.parse(data)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return compile(file, rules), nil
}

// maxErrors bounds how many problems one parse reports.
const maxErrors = 100

// PolicyError is one problem in a policy file. Line and Column are zero
// when unknown; the YAML library gives only a line for syntax errors.
type PolicyError struct {
	File   string
	Line   int
	Column int
	Path   string // key path such as "rules[2].topics[0]"; "" for the document
	Msg    string
}

// Error formats e as "file:line:col: path: reason", leaving out the parts
// that are unknown.
func (e *PolicyError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// PolicyErrors is every problem found in one policy. List is never empty
// and is sorted by position.
type PolicyErrors = errlist.List[*PolicyError]

var _ error = (*PolicyErrors)(nil)

// sortErrors orders problems by position; those without a line come last.
func sortErrors(list []*PolicyError) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
