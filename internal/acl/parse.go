package acl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/moatmq/moat/internal/topic"
)

// Bounds on what one policy may expand to. Anchors and aliases let a small
// file name the same list many times, so the walk counts the values it
// visits and the compiler the trie entries it would build.
const (
	maxValues    = 1 << 22 // YAML values visited
	maxEntries   = 1 << 22 // (action, who, pattern) triples compiled
	maxNameBytes = 256
)

// parser walks the YAML node tree of a policy, collecting every problem.
type parser struct {
	file   string
	errs   []*PolicyError
	full   bool // maxErrors reached or the value budget spent
	values int  // values visited
}

// errAt records a problem at node n for key path.
func (ps *parser) errAt(n *yaml.Node, path, format string, args ...any) {
	if ps.full {
		return
	}
	if len(ps.errs) >= maxErrors {
		ps.full = true
		return
	}
	ps.errs = append(ps.errs, &PolicyError{File: ps.file, Line: n.Line, Column: n.Column, Path: path,
		Msg: fmt.Sprintf(format, args...)})
}

// err returns nil or a *PolicyErrors sorted by position.
func (ps *parser) err() error {
	if len(ps.errs) == 0 {
		return nil
	}
	sortErrors(ps.errs)
	if ps.full {
		ps.errs = append(ps.errs, &PolicyError{File: ps.file,
			Msg: "stopped after " + strconv.Itoa(len(ps.errs)) + " problems: too many errors, or a policy too large"})
	}
	return &PolicyErrors{List: ps.errs}
}

// visit counts one value against the budget and reports whether the walk
// may go on.
func (ps *parser) visit(n *yaml.Node) bool {
	if ps.full {
		return false
	}
	ps.values++
	if ps.values > maxValues {
		ps.errAt(n, "", "policy too large: more than %d values (aliases included)", maxValues)
		ps.full = true
		return false
	}
	return true
}

// parse returns the rules of the policy in data; problems go to ps.errs.
func (ps *parser) parse(data []byte) []*rule {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			ps.errs = append(ps.errs, &PolicyError{File: ps.file, Msg: "empty policy: write version: 1 and a list of rules"})
		} else {
			ps.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		ps.yamlError(err)
		return nil
	default:
		ps.errAt(&extra, "", "a second YAML document starts here; a policy file holds exactly one")
		return nil
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		ps.errAt(&doc, "", "empty policy: write version: 1 and a list of rules")
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		ps.errAt(root, "", "the top level must be a mapping with version and rules, got %s", describe(root))
		return nil
	}
	var rules []*rule
	var haveVersion, haveRules bool
	for _, p := range ps.pairs(root, "") {
		switch p.key.Value {
		case "version":
			haveVersion = true
			ps.version(p.val)
		case "rules":
			haveRules = true
			rules = ps.rules(p.val)
		default:
			ps.errAt(p.key, p.key.Value, "unknown key%s", suggest(p.key.Value, "version", "rules"))
		}
	}
	if !haveVersion {
		ps.errAt(root, "version", "missing: write version: 1")
	}
	if !haveRules {
		ps.errAt(root, "rules", "missing: write a list of rules (rules: [] denies everything)")
	}
	return rules
}

// version checks the version value.
func (ps *parser) version(n *yaml.Node) {
	r := resolve(n)
	if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!int" {
		ps.errAt(n, "version", "must be the integer 1, got %s", describe(n))
		return
	}
	if r.Value != "1" {
		ps.errAt(n, "version", "unsupported version %s: this Moat reads version 1", r.Value)
	}
}

// rules parses the rule list and checks what spans rules: unique names and
// the total size.
func (ps *parser) rules(n *yaml.Node) []*rule {
	items, ok := ps.list(n, "rules", true)
	if !ok {
		return nil
	}
	rules := make([]*rule, 0, len(items))
	names := map[string]*rule{}
	entries := 0
	for i, item := range items {
		if ps.full {
			break
		}
		r := ps.rule(item, i)
		if r == nil {
			continue
		}
		rules = append(rules, r)
		key := r.name
		if key == "" {
			key = "rules[" + strconv.Itoa(i) + "]"
		}
		if first, dup := names[key]; dup {
			ps.errAt(ruleNameNode(item), "rules["+strconv.Itoa(i)+"].name",
				"duplicate rule name %q (first used by rules[%d] on line %d)", key, first.index, first.line)
		} else {
			names[key] = r
		}
		if entries <= maxEntries {
			entries += bits.OnesCount8(uint8(r.actions)) * len(r.who) * len(r.topics)
			if entries > maxEntries {
				ps.errAt(item, "rules["+strconv.Itoa(i)+"]",
					"policy too large: more than %d (action, who, topic) combinations", maxEntries)
				ps.full = true // stop walking: the rest would only cost time
			}
		}
	}
	return rules
}

// ruleNameNode returns the node of a rule's name value, or the rule itself.
func ruleNameNode(item *yaml.Node) *yaml.Node {
	r := resolve(item)
	for i := 0; i+1 < len(r.Content); i += 2 {
		if r.Content[i].Value == "name" {
			return r.Content[i+1]
		}
	}
	return item
}

// rule parses one rule. It returns nil when n is not a mapping.
func (ps *parser) rule(n *yaml.Node, i int) *rule {
	path := "rules[" + strconv.Itoa(i) + "]"
	m := resolve(n)
	if m.Kind != yaml.MappingNode {
		ps.errAt(n, path, "a rule must be a mapping with allow or deny, who and topics, got %s", describe(n))
		return nil
	}
	r := &rule{index: i, maxQoS: 2, maxPayload: -1, line: m.Line}
	var effect, qosKey, payloadKey *yaml.Node
	var haveWho, haveTopics bool
	for _, p := range ps.pairs(m, path) {
		kp := path + "." + p.key.Value
		switch p.key.Value {
		case "name":
			r.name = ps.name(p.val, kp)
		case "allow", "deny":
			if effect != nil {
				ps.errAt(p.key, kp, "a rule has either allow or deny, not both (%s is on line %d)", effect.Value, effect.Line)
				continue
			}
			effect = p.key
			r.deny = p.key.Value == "deny"
			r.actions = ps.actions(p.val, kp)
		case "who":
			haveWho = true
			r.who = ps.whoList(p.val, kp)
		case "topics":
			haveTopics = true
			r.topics = ps.topics(p.val, kp)
		case "max_qos":
			qosKey = p.key
			if v, ok := ps.integer(p.val, kp, 0, 2, "0, 1 or 2"); ok {
				r.maxQoS, r.hasMaxQoS = byte(v), true
			}
		case "max_payload":
			payloadKey = p.key
			if v, ok := ps.size(p.val, kp); ok {
				r.maxPayload = v
			}
		default:
			ps.errAt(p.key, kp, "unknown key%s", suggest(p.key.Value, "name", "allow", "deny", "who", "topics", "max_qos", "max_payload"))
		}
	}
	if effect == nil {
		ps.errAt(n, path, "missing allow: or deny: with a list of actions")
	}
	if !haveWho {
		ps.errAt(n, path, "missing who: with a list such as [authenticated] or [\"user:alice\"]")
	}
	if !haveTopics {
		ps.errAt(n, path, "missing topics: with a list of topic filters")
	}
	if r.deny && qosKey != nil {
		ps.errAt(qosKey, path+".max_qos", "max_qos applies to allow rules only")
	}
	if r.deny && payloadKey != nil {
		ps.errAt(payloadKey, path+".max_payload", "max_payload applies to allow rules only")
	}
	if !r.deny && effect != nil && payloadKey != nil && r.actions != 0 && !r.actions.has(Publish) && !r.actions.has(Retain) {
		ps.errAt(payloadKey, path+".max_payload", "max_payload applies to publish and retain only, and this rule allows neither")
	}
	r.finish()
	return r
}

// name checks a rule name: printable text of bounded length.
func (ps *parser) name(n *yaml.Node, path string) string {
	s, ok := ps.scalar(n, path)
	if !ok {
		return ""
	}
	switch {
	case s == "":
		ps.errAt(n, path, "must not be empty; remove the key for the default name")
	case len(s) > maxNameBytes:
		ps.errAt(n, path, "longer than %d bytes", maxNameBytes)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, isControl):
		ps.errAt(n, path, "must be printable text without control characters")
	default:
		return s
	}
	return ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }

// actionNames maps the action words to their sets.
var actionNames = map[string]actionSet{
	"publish":   1 << (Publish - 1),
	"subscribe": 1 << (Subscribe - 1),
	"receive":   1 << (Receive - 1),
	"retain":    1 << (Retain - 1),
	"all":       allActions,
}

// actions parses an allow or deny list.
func (ps *parser) actions(n *yaml.Node, path string) actionSet {
	items, ok := ps.list(n, path, false)
	if !ok {
		return 0
	}
	var set actionSet
	for i, item := range items {
		ip := path + "[" + strconv.Itoa(i) + "]"
		s, ok := ps.scalar(item, ip)
		if !ok {
			continue
		}
		a, known := actionNames[s]
		switch {
		case !known:
			ps.errAt(item, ip, "unknown action %q: want publish, subscribe, receive, retain or all", s)
		case set&a != 0 || (set != 0 && a == allActions):
			ps.errAt(item, ip, "action %q repeats another entry of the list", s)
		default:
			set |= a
		}
	}
	return set
}

// whoList parses a who list.
func (ps *parser) whoList(n *yaml.Node, path string) []who {
	items, ok := ps.list(n, path, false)
	if !ok {
		return nil
	}
	var out []who
	seen := map[string]bool{}
	for i, item := range items {
		ip := path + "[" + strconv.Itoa(i) + "]"
		s, ok := ps.scalar(item, ip)
		if !ok {
			continue
		}
		w, msg := parseWho(s)
		switch {
		case msg != "":
			ps.errAt(item, ip, "%s", msg)
		case seen[s]:
			ps.errAt(item, ip, "%q repeats another entry of the list", s)
		default:
			seen[s] = true
			out = append(out, w)
		}
	}
	return out
}

// parseWho parses one who entry; msg says what is wrong.
func parseWho(s string) (w who, msg string) {
	w.text = s
	switch s {
	case "all":
		return w, ""
	case "anonymous":
		w.kind = whoAnonymous
		return w, ""
	case "authenticated":
		w.kind = whoAuthenticated
		return w, ""
	}
	kind, name, _ := strings.Cut(s, ":")
	switch kind {
	case "user":
		w.kind = whoUser
	case "group":
		w.kind = whoGroup
	case "cert":
		w.kind = whoCert
	default:
		return w, fmt.Sprintf("unknown who entry %q: want all, anonymous, authenticated, user:NAME, group:NAME or cert:IDENTITY", s)
	}
	if name == "" {
		return w, fmt.Sprintf("%q names no one: write %s:NAME", s, kind)
	}
	w.name = name
	return w, ""
}

// topics parses a topics list: valid filters, not shared, no repeats.
func (ps *parser) topics(n *yaml.Node, path string) []string {
	items, ok := ps.list(n, path, false)
	if !ok {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for i, item := range items {
		ip := path + "[" + strconv.Itoa(i) + "]"
		s, ok := ps.scalar(item, ip)
		if !ok {
			continue
		}
		if msg := checkPattern(s); msg != "" {
			ps.errAt(item, ip, "%s", msg)
			continue
		}
		if seen[s] {
			ps.errAt(item, ip, "pattern %q repeats another entry of the list", s)
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// checkPattern says what is wrong with a topic pattern, or "".
func checkPattern(s string) string {
	if strings.HasPrefix(s, "$share/") {
		return fmt.Sprintf("invalid topic pattern %q: shared subscription filters are not allowed in policies; write the filter after $share/{group}/ (it is matched against the inner filter)", s)
	}
	if err := topic.ValidateFilter(s, topic.Limits{}); err != nil {
		return fmt.Sprintf("invalid topic pattern %q: %s", short(s), strings.TrimPrefix(err.Error(), "topic: "))
	}
	return ""
}

// integer parses an integer scalar within lo..hi.
func (ps *parser) integer(n *yaml.Node, path string, lo, hi int64, want string) (int64, bool) {
	r := resolve(n)
	if !ps.visit(n) {
		return 0, false
	}
	var v int64
	if r.Kind != yaml.ScalarNode || r.ShortTag() != "!!int" || r.Decode(&v) != nil || v < lo || v > hi {
		ps.errAt(n, path, "must be %s, got %s", want, describe(n))
		return 0, false
	}
	return v, true
}

// size parses a byte size: a whole number of bytes or a number with a unit.
func (ps *parser) size(n *yaml.Node, path string) (int64, bool) {
	r := resolve(n)
	if !ps.visit(n) {
		return 0, false
	}
	if r.Kind != yaml.ScalarNode || isNull(r) {
		ps.errAt(n, path, `must be a size such as 65536 or "64KiB", got %s`, describe(n))
		return 0, false
	}
	switch r.ShortTag() {
	case "!!int", "!!str":
		v, err := parseSize(r.Value)
		if err != nil {
			ps.errAt(n, path, "%v", err)
			return 0, false
		}
		return v, true
	}
	ps.errAt(n, path, `must be a whole number of bytes or a size such as "64KiB", got %s`, describe(n))
	return 0, false
}

// sizeUnits are the units parseSize accepts, case-insensitively: powers of
// 1000 and of 1024.
var sizeUnits = map[string]int64{
	"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// parseSize parses "<digits>[ ][unit]".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	digits, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if unit == "" {
		mult, ok = 1, true
	}
	if digits == "" || !ok {
		return 0, fmt.Errorf(`invalid size %q: want a whole number of bytes with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. "64KiB"`, short(s))
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", short(s))
	}
	return v * mult, nil
}
