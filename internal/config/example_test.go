package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	examplePath = "testdata/moat.example.yaml"
	docPath     = "../../docs/configuration.md"
	beginMarker = "<!-- BEGIN moat.example.yaml -->\n```yaml\n"
	endMarker   = "```\n<!-- END moat.example.yaml -->"
)

func TestDocExampleMatchesTestdata(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(doc, []byte(beginMarker))
	if !ok {
		t.Fatalf("%s lacks %q", docPath, beginMarker)
	}
	block, _, ok := bytes.Cut(rest, []byte(endMarker))
	if !ok {
		t.Fatalf("%s lacks %q", docPath, endMarker)
	}
	if !bytes.Equal(block, example) {
		t.Errorf("the example in %s differs from %s; keep them identical", docPath, examplePath)
	}
	if _, err := Parse(block, docPath); err != nil {
		t.Errorf("the example in %s does not parse:\n%v", docPath, err)
	}
}

// The example sets every key to its documented default, so it must load
// to exactly Default(): the documentation cannot drift from the code.
func TestExampleIsDefault(t *testing.T) {
	cfg, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		got, _ := cfg.Marshal()
		want, _ := Default().Marshal()
		t.Errorf("example differs from Default():\n%s\nwant:\n%s", got, want)
	}
}

// Every key of the schema appears in the example, so a new field cannot
// go undocumented.
func TestExampleCoversSchema(t *testing.T) {
	data, err := os.ReadFile(filepath.FromSlash(examplePath))
	if err != nil {
		t.Fatal(err)
	}
	l := &loader{file: examplePath, nodes: map[string]*yaml.Node{}, leaves: map[string]leaf{}}
	root := l.document(data)
	l.mapping(root, reflect.ValueOf(Default()).Elem(), "")
	var missing []string
	for _, p := range schemaPaths(reflect.TypeFor[Config](), "") {
		if _, ok := l.nodes[p]; !ok {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s lacks keys: %s", examplePath, strings.Join(missing, ", "))
	}
}

// schemaPaths lists the key paths of t, with list elements as [0].
func schemaPaths(t reflect.Type, prefix string) []string {
	var out []string
	for name, i := range structFields(t) {
		p := joinKey(prefix, name)
		out = append(out, p)
		f := t.Field(i).Type
		switch {
		case reflect.PointerTo(f).Implements(unmarshalerType):
		case f.Kind() == reflect.Struct:
			out = append(out, schemaPaths(f, p)...)
		case f.Kind() == reflect.Slice && f.Elem().Kind() == reflect.Struct:
			out = append(out, schemaPaths(f.Elem(), p+"[0]")...)
		}
	}
	return out
}

// fencedBlocks returns the fenced code blocks of a Markdown document with
// their info strings and the line before each fence.
func fencedBlocks(doc string) (blocks []mdBlock) {
	lines := strings.SplitAfter(doc, "\n")
	for i := 0; i < len(lines); i++ {
		info, ok := strings.CutPrefix(strings.TrimRight(lines[i], "\n"), "```")
		if !ok {
			continue
		}
		b := mdBlock{info: info}
		if i > 0 {
			b.before = strings.TrimSpace(lines[i-1])
		}
		var body strings.Builder
		for i++; i < len(lines) && strings.TrimRight(lines[i], "\n") != "```"; i++ {
			body.WriteString(lines[i])
		}
		b.body = body.String()
		blocks = append(blocks, b)
	}
	return blocks
}

type mdBlock struct{ info, before, body string }

// Every YAML example in the documentation loads, except the one marked as
// the errors example, which must fail with exactly the text block after it.
func TestDocBlocks(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := fencedBlocks(string(doc))
	checked := 0
	for i, b := range blocks {
		if b.info != "yaml" {
			continue
		}
		_, err := Parse([]byte(b.body), "moat.yaml")
		if b.before != "<!-- errors example -->" {
			if err != nil {
				t.Errorf("YAML block %d in %s does not load:\n%v\n%s", i, docPath, err, b.body)
			}
			continue
		}
		checked++
		if i+1 >= len(blocks) || blocks[i+1].info != "text" {
			t.Fatal("the errors example must be followed by a text block")
		}
		if err == nil || err.Error()+"\n" != blocks[i+1].body {
			t.Errorf("the errors example gives\n%v\nbut %s shows\n%s", err, docPath, blocks[i+1].body)
		}
	}
	if checked != 1 {
		t.Errorf("found %d errors examples in %s, want 1", checked, docPath)
	}
}
