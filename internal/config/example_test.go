package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	examplePath    = "testdata/moat.example.yaml"
	tlsExamplePath = "testdata/moat.tls-example.yaml"
	docPath        = "../../docs/configuration.md"
)

// examplePaths are the example files docPath shows verbatim, each between
// "<!-- BEGIN name -->" and "<!-- END name -->" lines around a yaml block.
// The first sets every key outside the listener's transport sections to its
// default; the second shows every key of those sections.
var examplePaths = []string{examplePath, tlsExamplePath}

func TestDocExamplesMatchTestdata(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range examplePaths {
		example, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		begin := "<!-- BEGIN " + name + " -->\n```yaml\n"
		end := "```\n<!-- END " + name + " -->"
		_, rest, ok := bytes.Cut(doc, []byte(begin))
		if !ok {
			t.Fatalf("%s lacks %q", docPath, begin)
		}
		block, _, ok := bytes.Cut(rest, []byte(end))
		if !ok {
			t.Fatalf("%s lacks %q", docPath, end)
		}
		if !bytes.Equal(block, example) {
			t.Errorf("the example in %s differs from %s; keep them identical", docPath, path)
		}
		if _, err := Parse(block, docPath); err != nil {
			t.Errorf("the example %s in %s does not parse:\n%v", name, docPath, err)
		}
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

// Every key of the schema appears in one of the examples, so a new field
// cannot go undocumented. The transport sections cannot be set on the
// default tcp listener, so they are covered by the TLS example.
func TestExamplesCoverSchema(t *testing.T) {
	l := &loader{nodes: map[string]*yaml.Node{}, leaves: map[string]leaf{}}
	for _, path := range examplePaths {
		data, err := os.ReadFile(filepath.FromSlash(path))
		if err != nil {
			t.Fatal(err)
		}
		l.file = path
		root := l.document(data)
		l.mapping(root, reflect.ValueOf(Default()).Elem(), "")
	}
	if len(l.errs.list) > 0 {
		t.Fatalf("examples do not decode: %v", l.errs.err(""))
	}
	covered := map[string]bool{}
	for p := range l.nodes {
		covered[listIndexes.ReplaceAllString(p, "[0]")] = true
	}
	var missing []string
	for _, p := range schemaPaths(reflect.TypeFor[Config](), "") {
		if !covered[p] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s lack keys: %s", strings.Join(examplePaths, " and "), strings.Join(missing, ", "))
	}
}

// listIndexes matches the list indexes of a key path.
var listIndexes = regexp.MustCompile(`\[\d+\]`)

// The TLS example shows what it says: the three listeners with their
// sections, defaults filled in where it leaves keys out, and a deployment
// on non-loopback addresses that needs no allow_insecure, because every
// listener serves TLS and clients authenticate with passwords. Allowing
// anonymous access refuses every listener.
func TestTLSExample(t *testing.T) {
	cfg, err := Load(tlsExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	var transports []string
	for _, l := range cfg.Listeners {
		transports = append(transports, l.Transport)
	}
	if got := strings.Join(transports, ","); got != "tls,wss,tls" {
		t.Fatalf("transports %s", got)
	}
	if cfg.AllowInsecure || cfg.Auth.AllowAnonymous || cfg.PasswordFilePath() != "/etc/moat/passwd" {
		t.Errorf("allow_insecure %v, auth %+v", cfg.AllowInsecure, cfg.Auth)
	}
	mqtts, wss, lb := cfg.Listeners[0], cfg.Listeners[1], cfg.Listeners[2]
	if mqtts.TLS.ClientAuth != "required" || len(mqtts.TLS.Certificates) != 1 || !mqtts.TLS.RequireUsernameMatch {
		t.Errorf("mqtts: %+v", mqtts.TLS)
	}
	wantTLS := TLS{Cert: "/etc/moat/tls/server.pem", Key: "/etc/moat/tls/server.key", MinVersion: "1.2",
		ClientAuth: "none", Identity: "cn", Groups: "none", HandshakeTimeout: Duration(10 * time.Second)}
	if !reflect.DeepEqual(wss.TLS, wantTLS) || !reflect.DeepEqual(lb.TLS, wantTLS) {
		t.Errorf("tls defaults: got %+v and %+v, want %+v", wss.TLS, lb.TLS, wantTLS)
	}
	if wss.WebSocket.Path != "/mqtt" || !unset(mqtts.WebSocket) || !unset(lb.WebSocket) {
		t.Errorf("sections: %+v", cfg.Listeners)
	}
	wantTrusted := []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("10.0.2.7/32")}
	if got := lb.ProxyProtocol.TrustedPrefixes(); !reflect.DeepEqual(got, wantTrusted) {
		t.Errorf("trusted %v", got)
	}
	for _, l := range cfg.Listeners {
		if l.IsLoopback() {
			t.Errorf("%s is loopback; the example shows listeners reachable from the network", l.Name)
		}
	}

	data, err := os.ReadFile(tlsExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	const pf = "  password_file: /etc/moat/passwd\n"
	if !bytes.Contains(data, []byte(pf)) {
		t.Fatalf("%s lacks %q", tlsExamplePath, pf)
	}
	anon := bytes.Replace(data, []byte(pf), []byte(pf+"  allow_anonymous: true\n"), 1)
	_, err = Parse(anon, "tls.yaml")
	// The refusals point at each listener's address line.
	at := func(addr string) string {
		i := bytes.Index(anon, []byte(`address: "`+addr+`"`))
		line := bytes.Count(anon[:i], []byte("\n")) + 1
		col := i - bytes.LastIndexByte(anon[:i], '\n') + len("address: ")
		return fmt.Sprintf("tls.yaml:%d:%d: ", line, col)
	}
	want := []string{
		at("0.0.0.0:8883") + "listeners[0].address: " + anonymousRefused("0.0.0.0:8883", "host 0.0.0.0"),
		at("0.0.0.0:8884") + "listeners[1].address: " + anonymousRefused("0.0.0.0:8884", "host 0.0.0.0"),
		at("10.0.0.5:8883") + "listeners[2].address: " + anonymousRefused("10.0.0.5:8883", "host 10.0.0.5"),
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("with allow_anonymous got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	if _, err := Parse(append(anon, "allow_insecure: true\n"...), "tls.yaml"); err != nil {
		t.Errorf("with allow_anonymous and allow_insecure: %v", err)
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
