package test

// The dependency rules of the style guide (STYLE.md): the codec and the topic tree stand
// alone, the security seams and the listener never reach back into the
// broker, and the configuration schema imports no runtime package. The
// rules are checked on the transitive import graph of the non-test code,
// as `go list` reports it.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/testutil"
)

const modulePath = "github.com/moatmq/moat"

// pkgInfo is what the rules need of one package from `go list -json`.
type pkgInfo struct {
	ImportPath string
	Standard   bool
	Imports    []string
}

// archRule restricts what the packages under From may depend on, directly
// or through other packages.
type archRule struct {
	name string
	// from lists package paths relative to the module; each covers its
	// subpackages ("internal/auth" covers "internal/auth/file").
	from []string
	// forbid lists module packages (with their subpackages) that must not
	// be reached.
	forbid []string
	// stdOnly forbids every package outside the standard library.
	stdOnly bool
	// optional lets the rule pass when no package of from exists yet.
	optional bool
}

var archRules = []archRule{
	{
		name:    "the codec, the topic tree and the record reader import only the standard library",
		from:    []string{"internal/packet", "internal/topic", "internal/binread"},
		stdOnly: true,
	},
	{
		name:   "security seams, store, audit and metrics never import the broker",
		from:   []string{"internal/auth", "internal/acl", "internal/store", "internal/audit", "internal/metrics"},
		forbid: []string{"internal/broker", "internal/server"},
	},
	{
		name:     "limits never import the broker",
		from:     []string{"internal/limits"},
		forbid:   []string{"internal/broker", "internal/server"},
		optional: true, // the package lands later
	},
	{
		name:   "the listener never imports the broker",
		from:   []string{"internal/listener"},
		forbid: []string{"internal/broker", "internal/server"},
	},
	{
		name: "the configuration imports no runtime package",
		from: []string{"internal/config"},
		forbid: []string{"internal/broker", "internal/listener", "internal/server", "internal/session",
			"internal/auth", "internal/acl", "internal/store", "internal/audit", "internal/metrics",
			"internal/topic", "internal/packet", "internal/limits", "internal/admin"},
	},
}

func TestArchitecture(t *testing.T) {
	pkgs := listPackages(t)
	for _, r := range archRules {
		t.Run(r.name, func(t *testing.T) {
			if !r.optional {
				for _, f := range r.from {
					if !hasPackageUnder(pkgs, modulePath+"/"+f) {
						t.Fatalf("no package %s/%s: the rule checks nothing; update it", modulePath, f)
					}
				}
			}
			for _, v := range r.check(pkgs) {
				t.Error(v)
			}
		})
	}
}

// TestArchRulesReportViolations runs the checker on made-up import graphs,
// so that a passing TestArchitecture means the rules hold and not that the
// checker is blind.
func TestArchRulesReportViolations(t *testing.T) {
	m := func(p string) string { return modulePath + "/" + p }
	std := func(names ...string) []*pkgInfo {
		var out []*pkgInfo
		for _, n := range names {
			out = append(out, &pkgInfo{ImportPath: n, Standard: true})
		}
		return out
	}
	graph := func(pkgs ...*pkgInfo) map[string]*pkgInfo {
		g := map[string]*pkgInfo{}
		for _, p := range append(pkgs, std("fmt", "strings", "net")...) {
			g[p.ImportPath] = p
		}
		return g
	}
	tests := []struct {
		name string
		rule archRule
		pkgs map[string]*pkgInfo
		want []string // one substring per expected violation, in order
	}{
		{
			name: "clean graph",
			rule: archRules[1],
			pkgs: graph(
				&pkgInfo{ImportPath: m("internal/auth"), Imports: []string{"fmt", m("internal/packet")}},
				&pkgInfo{ImportPath: m("internal/packet"), Imports: []string{"strings"}},
				&pkgInfo{ImportPath: m("internal/broker"), Imports: []string{m("internal/auth")}},
			),
		},
		{
			name: "direct import",
			rule: archRules[1],
			pkgs: graph(
				&pkgInfo{ImportPath: m("internal/acl"), Imports: []string{m("internal/broker")}},
				&pkgInfo{ImportPath: m("internal/broker"), Imports: []string{"fmt"}},
			),
			want: []string{"internal/acl imports internal/broker"},
		},
		{
			name: "import through another package, from a subpackage",
			rule: archRules[1],
			pkgs: graph(
				&pkgInfo{ImportPath: m("internal/auth/file"), Imports: []string{m("internal/util")}},
				&pkgInfo{ImportPath: m("internal/util"), Imports: []string{m("internal/server")}},
				&pkgInfo{ImportPath: m("internal/server"), Imports: []string{m("internal/broker")}},
				&pkgInfo{ImportPath: m("internal/broker"), Imports: []string{"fmt"}},
			),
			want: []string{
				"internal/auth/file imports internal/broker (via internal/auth/file -> internal/util -> internal/server -> internal/broker)",
				"internal/auth/file imports internal/server (via internal/auth/file -> internal/util -> internal/server)",
			},
		},
		{
			name: "forbidden subpackage",
			rule: archRules[4],
			pkgs: graph(
				&pkgInfo{ImportPath: m("internal/config"), Imports: []string{m("internal/auth/file")}},
				&pkgInfo{ImportPath: m("internal/auth/file"), Imports: []string{"fmt"}},
			),
			want: []string{"internal/config imports internal/auth/file"},
		},
		{
			name: "third-party import in a standard-library-only package",
			rule: archRules[0],
			pkgs: graph(
				&pkgInfo{ImportPath: m("internal/topic"), Imports: []string{"strings", "example.com/trie"}},
				&pkgInfo{ImportPath: "example.com/trie", Imports: []string{"fmt"}},
				&pkgInfo{ImportPath: m("internal/packet"), Imports: []string{m("internal/topic")}},
			),
			want: []string{
				"internal/packet imports example.com/trie (via internal/packet -> internal/topic -> example.com/trie), which is not in the standard library",
				"internal/packet imports internal/topic, which is not in the standard library",
				"internal/topic imports example.com/trie, which is not in the standard library",
			},
		},
		{
			name: "a prefix that is not a subpackage does not match",
			rule: archRules[3],
			pkgs: graph(
				&pkgInfo{ImportPath: m("internal/listenerx"), Imports: []string{m("internal/broker")}},
				&pkgInfo{ImportPath: m("internal/listener"), Imports: []string{m("internal/brokerage")}},
				&pkgInfo{ImportPath: m("internal/brokerage"), Imports: []string{"fmt"}},
				&pkgInfo{ImportPath: m("internal/broker"), Imports: []string{"fmt"}},
			),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.rule.check(tc.pkgs)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d violations, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("violation %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// check returns one message per package of r.from and forbidden package
// it reaches, with the import chain that reaches it, sorted.
func (r archRule) check(pkgs map[string]*pkgInfo) []string {
	var out []string
	for _, p := range sortedKeys(pkgs) {
		if !underAny(p, r.from) {
			continue
		}
		for dep, chain := range reachable(pkgs, p) {
			bad := false
			why := ""
			switch {
			case r.stdOnly && !isStandard(pkgs, dep):
				bad, why = true, ", which is not in the standard library"
			case underAny(dep, r.forbid):
				bad = true
			}
			if !bad {
				continue
			}
			msg := fmt.Sprintf("%s imports %s", short(p), short(dep))
			if len(chain) > 2 {
				names := make([]string, len(chain))
				for i, c := range chain {
					names[i] = short(c)
				}
				msg += " (via " + strings.Join(names, " -> ") + ")"
			}
			out = append(out, msg+why+": rule \""+r.name+"\"")
		}
	}
	slices.Sort(out)
	return out
}

// reachable maps every package p depends on to a shortest import chain
// from p to it (p first).
func reachable(pkgs map[string]*pkgInfo, p string) map[string][]string {
	chains := map[string][]string{}
	queue := [][]string{{p}}
	seen := map[string]bool{p: true}
	for len(queue) > 0 {
		chain := queue[0]
		queue = queue[1:]
		last := chain[len(chain)-1]
		info := pkgs[last]
		if info == nil || (info.Standard && last != p) {
			continue // the standard library depends only on itself
		}
		for _, imp := range info.Imports {
			if seen[imp] {
				continue
			}
			seen[imp] = true
			next := append(slices.Clone(chain), imp)
			chains[imp] = next
			queue = append(queue, next)
		}
	}
	return chains
}

// isStandard reports whether path is a standard library package; the cgo
// pseudo-package "C" is not.
func isStandard(pkgs map[string]*pkgInfo, path string) bool {
	info, ok := pkgs[path]
	return ok && info.Standard
}

// underAny reports whether path is one of the module-relative prefixes or
// a subpackage of one.
func underAny(path string, prefixes []string) bool {
	for _, pre := range prefixes {
		full := modulePath + "/" + pre
		if path == full || strings.HasPrefix(path, full+"/") {
			return true
		}
	}
	return false
}

func hasPackageUnder(pkgs map[string]*pkgInfo, full string) bool {
	for p := range pkgs {
		if p == full || strings.HasPrefix(p, full+"/") {
			return true
		}
	}
	return false
}

// short drops the module path for readable messages.
func short(p string) string { return strings.TrimPrefix(p, modulePath+"/") }

func sortedKeys(m map[string]*pkgInfo) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// listPackages runs `go list -e -deps -json ./...` at the module root and
// returns every package of the build graph, standard library included.
func listPackages(t *testing.T) map[string]*pkgInfo {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH:", err)
	}
	cmd := exec.Command(goBin, "list", "-e", "-deps", "-json=ImportPath,Standard,Imports", "./...")
	cmd.Dir = testutil.ModuleRoot(t)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]*pkgInfo{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkgInfo
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs[p.ImportPath] = &p
	}
	if !hasPackageUnder(pkgs, modulePath) {
		t.Fatalf("go list reported no package of %s", modulePath)
	}
	return pkgs
}
