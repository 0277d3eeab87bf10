package acl

// Helpers for walking go.yaml.in/yaml/v3 node trees: keys, lists and
// scalars with their positions, and messages that describe values.

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/moatmq/moat/internal/didyoumean"
)

// yamlLine matches the "line N: msg" form of the YAML library's messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError records an error from the YAML library, keeping its line (the
// library reports no column).
func (ps *parser) yamlError(err error) {
	pe := &PolicyError{File: ps.file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	if sm := yamlLine.FindStringSubmatch(err.Error()); sm != nil {
		pe.Line, _ = strconv.Atoi(sm[1])
		pe.Msg = sm[2]
	}
	pe.Msg = "invalid YAML: " + pe.Msg
	ps.errs = append(ps.errs, pe)
}

// short cuts s for a message, at a rune boundary.
func short(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 64
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// pair is one key and its value in a mapping.
type pair struct{ key, val *yaml.Node }

// pairs lists the keys of mapping m, refusing non-scalar, duplicate and
// merge keys.
func (ps *parser) pairs(m *yaml.Node, path string) []pair {
	var out []pair
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !ps.visit(k) {
			return out
		}
		kp := k.Value
		if path != "" {
			kp = path + "." + k.Value
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			ps.errAt(k, path, "keys must be plain strings, got %s", describe(k))
		case k.ShortTag() == "!!merge":
			ps.errAt(k, path, "merge keys (<<) are not supported in policies")
		case first[k.Value] != nil:
			ps.errAt(k, kp, "duplicate key (first set on line %d)", first[k.Value].Line)
		default:
			first[k.Value] = k
			out = append(out, pair{k, v})
		}
	}
	return out
}

// list returns the items of a sequence value. emptyOK allows [].
func (ps *parser) list(n *yaml.Node, path string, emptyOK bool) ([]*yaml.Node, bool) {
	r := resolve(n)
	switch {
	case !ps.visit(n):
		return nil, false
	case isNull(r):
		ps.errAt(n, path, "missing value: write a list")
		return nil, false
	case r.Kind != yaml.SequenceNode:
		ps.errAt(n, path, "must be a list, got %s", describe(n))
		return nil, false
	case len(r.Content) == 0 && !emptyOK:
		ps.errAt(n, path, "must not be empty")
		return nil, false
	}
	return r.Content, true
}

// scalar returns the text of a single non-null value.
func (ps *parser) scalar(n *yaml.Node, path string) (string, bool) {
	r := resolve(n)
	switch {
	case !ps.visit(n):
		return "", false
	case isNull(r):
		ps.errAt(n, path, "missing value")
		return "", false
	case r.Kind != yaml.ScalarNode:
		ps.errAt(n, path, "must be a single value, got %s", describe(n))
		return "", false
	}
	return r.Value, true
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for range 64 {
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			break
		}
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an empty value ("key:" or "~").
func isNull(n *yaml.Node) bool {
	r := resolve(n)
	return r.Kind == yaml.ScalarNode && r.ShortTag() == "!!null"
}

// describe names the value of n for a message.
func describe(n *yaml.Node) string {
	r := resolve(n)
	switch r.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch r.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return strconv.Quote(short(r.Value))
		}
		return short(r.Value)
	}
	return "an unsupported value"
}

// suggest proposes the known key closest to an unknown one.
func suggest(key string, known ...string) string { return didyoumean.Suggest(key, known) }
