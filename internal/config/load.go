package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/moatmq/moat/internal/didyoumean"
)

// Load reads the YAML file at path and returns the effective configuration;
// see Parse. A file that cannot be read yields the *os.PathError wrapped;
// every problem in its content yields an *Errors naming path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes data, a single YAML document, over Default(): keys the
// document leaves out keep their defaults, and a `listeners` key replaces
// the default listener list. Unknown keys, duplicate keys, values of the
// wrong type, empty values and explicit values that mean "unset" are
// refused; then ApplyDefaults runs and Validate checks the result. An empty
// document yields Default().
//
// On failure the error is an *Errors holding every problem found, each
// located as name:line:column with its key path, for example
// "moat.yaml:7:3: mqtt.max_packet_sise: unknown key".
func Parse(data []byte, name string) (*Config, error) {
	l := &loader{file: name, nodes: map[string]*yaml.Node{}, leaves: map[string]leaf{}}
	cfg := Default()
	root := l.document(data)
	if root != nil {
		l.mapping(root, reflect.ValueOf(cfg).Elem(), "")
		if len(l.errs.list) == 0 {
			l.strictDecode(data)
		}
	}
	cfg.ApplyDefaults()
	l.checkReplaced()
	for _, fe := range cfg.validate() {
		if l.failed(fe.Path) {
			continue // already reported as a decoding problem
		}
		l.locate(fe)
		l.errs.add(fe)
	}
	if err := l.errs.err(name); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loader walks a YAML node tree against the schema, assigning values into
// a Config and recording where each key path sits in the file.
type loader struct {
	file string
	errs collector
	// nodes maps each key path the file sets to its value node, so that
	// validation errors can be located.
	nodes map[string]*yaml.Node
	// leaves maps each scalar the file sets to the field it was stored in,
	// so that values ApplyDefaults replaces can be refused.
	leaves map[string]leaf
}

// leaf is one scalar value taken from the file.
type leaf struct {
	node  *yaml.Node    // where it was written
	field reflect.Value // the field it was stored in (addressable)
	set   reflect.Value // the value stored
}

// errAt records a problem at node n for key path.
func (l *loader) errAt(n *yaml.Node, path, format string, args ...any) {
	l.errs.add(&FieldError{File: l.file, Line: n.Line, Column: n.Column, Path: path,
		Msg: fmt.Sprintf(format, args...)})
}

// document parses data into its root mapping. It returns nil for an empty
// document and after recording a problem.
func (l *loader) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			l.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		l.yamlError(err)
		return nil
	default:
		l.errAt(&extra, "", "a second YAML document starts here; a configuration file holds exactly one")
		return nil
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil
	}
	root := doc.Content[0]
	if resolve(root).Kind != yaml.MappingNode {
		l.errAt(root, "", "the top level must be a mapping of keys, got %s", describe(root))
		return nil
	}
	return root
}

// yamlLine matches the "line N: msg" form of the YAML library's messages.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError records an error from the YAML library, keeping its line.
func (l *loader) yamlError(err error) {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		fe := &FieldError{File: l.file, Msg: m}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			fe.Line, _ = strconv.Atoi(sm[1])
			fe.Msg = sm[2]
		}
		fe.Msg = "invalid YAML: " + fe.Msg
		l.errs.add(fe)
	}
}

// strictDecode decodes data with the YAML library's own strict decoder
// (Decoder.KnownFields) into a throwaway config. The walk has already
// checked everything this checks; this is a second, independent guard so
// that a gap in the walk refuses a file instead of accepting it.
func (l *loader) strictDecode(data []byte) {
	shadow := Default()
	shadow.Listeners = nil
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(shadow); err != nil && !errors.Is(err, io.EOF) {
		l.yamlError(err)
	}
}

// unmarshalerType is implemented by the schema's own scalar types.
var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// value stores node n into v, dispatching on the schema type.
func (l *loader) value(n *yaml.Node, v reflect.Value, path string) {
	if l.errs.full() {
		return
	}
	l.nodes[path] = n
	t := v.Type()
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		l.scalar(n, v, path)
	case t.Kind() == reflect.Struct:
		l.mapping(n, v, path)
	case t.Kind() == reflect.Slice:
		l.sequence(n, v, path)
	default:
		l.scalar(n, v, path)
	}
}

// pair is one key and its value in a mapping, after merges.
type pair struct{ key, val *yaml.Node }

// mapping stores the keys of n into the struct v. A null value (a key with
// all its children commented out) leaves v as it is.
func (l *loader) mapping(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		return
	}
	if resolve(n).Kind != yaml.MappingNode {
		l.errAt(n, path, "must be a mapping of keys, got %s", describe(n))
		return
	}
	fields := structFields(v.Type())
	for _, p := range l.pairs(resolve(n), path, map[string]bool{}, 0) {
		if l.errs.full() {
			return
		}
		kp := joinKey(path, p.key.Value)
		i, ok := fields[p.key.Value]
		if !ok {
			l.errAt(p.key, kp, "unknown key%s", suggest(p.key.Value, fields))
			continue
		}
		l.value(p.val, v.Field(i), kp)
	}
}

// maxMergeDepth bounds merge keys nested inside merged mappings.
const maxMergeDepth = 8

// pairs lists the effective keys of mapping n with YAML merge semantics, as
// the YAML library applies them: keys written in n win over merged ones,
// and among merged mappings the first wins. taken holds the keys already
// set by an enclosing mapping. Duplicate keys written in n are refused.
func (l *loader) pairs(n *yaml.Node, path string, taken map[string]bool, depth int) []pair {
	var out []pair
	var merges []*yaml.Node
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if isMergeKey(k) {
			merges = append(merges, val)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			l.errAt(k, path, "keys must be plain strings, got %s", describe(k))
			continue
		}
		if f, dup := first[k.Value]; dup {
			l.errAt(k, joinKey(path, k.Value), "duplicate key (first set on line %d)", f.Line)
			continue
		}
		first[k.Value] = k
		if !taken[k.Value] {
			out = append(out, pair{k, val})
		}
	}
	inner := map[string]bool{}
	for key := range taken {
		inner[key] = true
	}
	for key := range first {
		inner[key] = true
	}
	for _, m := range merges {
		for _, src := range l.mergeSources(m, path, depth) {
			for _, p := range l.pairs(src, path, inner, depth+1) {
				inner[p.key.Value] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// mergeSources returns the mappings named by the value of a merge key:
// one mapping or a list of them.
func (l *loader) mergeSources(m *yaml.Node, path string, depth int) []*yaml.Node {
	if depth >= maxMergeDepth {
		l.errAt(m, path, "merge keys (<<) nested too deeply")
		return nil
	}
	r := resolve(m)
	switch r.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{r}
	case yaml.SequenceNode:
		var srcs []*yaml.Node
		for _, item := range r.Content {
			if resolve(item).Kind != yaml.MappingNode {
				l.errAt(item, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(item))
				return nil
			}
			srcs = append(srcs, resolve(item))
		}
		return srcs
	}
	l.errAt(m, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(m))
	return nil
}

// sequence stores the list n into the slice v, replacing what v held. An
// empty list is stored as nil, so that `[]` means the same as leaving the
// key out and Marshal's output (which writes nil as []) reads back equal.
func (l *loader) sequence(n *yaml.Node, v reflect.Value, path string) {
	r := resolve(n)
	if isNull(r) {
		l.errAt(n, path, "missing value: write a list, or remove the key to keep the default")
		return
	}
	if r.Kind != yaml.SequenceNode {
		l.errAt(n, path, "must be a list, got %s", describe(n))
		return
	}
	if len(r.Content) == 0 {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(r.Content), len(r.Content))
	for i, item := range r.Content {
		l.value(item, s.Index(i), path+"["+strconv.Itoa(i)+"]")
	}
	v.Set(s)
}

// scalar stores the single value n into v. Integers and booleans must be
// written as such: the YAML library alone would truncate 1.5 to 1 and read
// "yes" as true.
func (l *loader) scalar(n *yaml.Node, v reflect.Value, path string) {
	r := resolve(n)
	if isNull(r) {
		l.errAt(n, path, "missing value: write one, or remove the key to keep the default")
		return
	}
	if r.Kind != yaml.ScalarNode {
		l.errAt(n, path, "must be a single value, got %s", describe(n))
		return
	}
	t := v.Type()
	custom := reflect.PointerTo(t).Implements(unmarshalerType)
	base := t
	if base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	if !custom {
		if want, tag := scalarWant(base); tag != "" && r.ShortTag() != tag {
			l.errAt(n, path, "must be %s, got %s", want, describe(n))
			return
		}
	}
	p := reflect.New(t)
	if err := r.Decode(p.Interface()); err != nil {
		l.errAt(n, path, "%s", scalarMessage(err, r, base, custom))
		return
	}
	v.Set(p.Elem())
	l.leaves[path] = leaf{node: n, field: v, set: p.Elem()}
}

// scalarWant describes the values a plain Go kind takes and the YAML tag
// they must carry; tag is empty when any scalar is accepted.
func scalarWant(t reflect.Type) (want, tag string) {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer", "!!int"
	case reflect.Bool:
		return "true or false", "!!bool"
	}
	return "", ""
}

// scalarMessage turns a decoding error into a message for the user.
func scalarMessage(err error, n *yaml.Node, t reflect.Type, custom bool) string {
	if custom {
		return err.Error()
	}
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("must be an integer between 0 and %d, got %s", uint64(1)<<t.Bits()-1, n.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("must be an integer between %d and %d, got %s",
			-(int64(1) << (t.Bits() - 1)), int64(1)<<(t.Bits()-1)-1, n.Value)
	}
	msg := err.Error()
	if sm := yamlLine.FindStringSubmatch(strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")); sm != nil {
		msg = sm[2]
	}
	return msg
}

// checkReplaced refuses values the file sets that ApplyDefaults then
// replaced: a zero or empty value there means "unset", and silently
// running with the default instead of what the file says would surprise.
func (l *loader) checkReplaced() {
	paths := make([]string, 0, len(l.leaves))
	for p := range l.leaves {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		lf := l.leaves[p]
		if reflect.DeepEqual(lf.field.Interface(), lf.set.Interface()) {
			continue
		}
		l.errAt(lf.node, p, "%s is not accepted here: it would be replaced by the default, %s; remove the key to use the default",
			display(lf.set), display(lf.field))
	}
}

// failed reports whether decoding already reported a problem at path or at
// a key enclosing it; a validation error there would only repeat it.
func (l *loader) failed(path string) bool {
	for _, fe := range l.errs.list {
		if fe.Path == path || strings.HasPrefix(path, fe.Path+".") || strings.HasPrefix(path, fe.Path+"[") {
			return true
		}
	}
	return false
}

// locate gives a validation error the position of its key path, or of the
// nearest enclosing key the file sets.
func (l *loader) locate(fe *FieldError) {
	fe.File = l.file
	for p := fe.Path; p != ""; p = parentPath(p) {
		if n, ok := l.nodes[p]; ok {
			fe.Line, fe.Column = n.Line, n.Column
			return
		}
	}
}

// parentPath drops the last element of a key path: "listeners[1].address"
// -> "listeners[1]" -> "listeners" -> "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// joinKey appends key to a key path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// structFields maps the YAML key of each field of struct type t to its
// index, naming keys the way the YAML library does.
func structFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			panic("config: inline fields are not supported by the loader: " + t.String() + "." + f.Name)
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
	}
	return fields
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an empty value ("key:" or "~").
func isNull(n *yaml.Node) bool {
	r := resolve(n)
	return r.Kind == yaml.ScalarNode && r.ShortTag() == "!!null"
}

// isMergeKey reports whether k is the YAML merge key "<<".
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// describe names the value of n for a message: a quoted string, a bare
// number or boolean, or the kind of collection.
func describe(n *yaml.Node) string {
	r := resolve(n)
	switch r.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := r.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		switch r.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return strconv.Quote(v)
		}
		return v
	}
	return "an unsupported node"
}

// display formats a field's value for a message.
func display(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "nothing"
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.String {
		return strconv.Quote(v.String())
	}
	return fmt.Sprint(v.Interface())
}

// suggest proposes the known key closest to an unknown one, if it is close.
func suggest(key string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	return didyoumean.Suggest(key, names)
}
