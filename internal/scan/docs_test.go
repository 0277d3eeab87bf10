package scan

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/doctor"
)

// emittedIDs returns the finding IDs the scanner's code names
// (doctor.IDxxx in the package's non-test files), by their value, read
// from the constants of internal/doctor.
func emittedIDs(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	values := map[string]string{} // constant name -> ID
	doctorFiles, err := filepath.Glob(filepath.Join("..", "doctor", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range doctorFiles {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok || len(vs.Names) != len(vs.Values) {
				return true
			}
			for i, name := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING && strings.HasPrefix(name.Name, "ID") {
					values[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
			return true
		})
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]string{} // ID -> file that names it
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, isIdent := sel.X.(*ast.Ident); !isIdent || x.Name != "doctor" || !strings.HasPrefix(sel.Sel.Name, "ID") {
				return true
			}
			id, known := values[sel.Sel.Name]
			if !known {
				t.Errorf("%s names doctor.%s, not a constant of internal/doctor", path, sel.Sel.Name)
				return true
			}
			used[id] = path
			return true
		})
	}
	if len(used) < 20 {
		t.Fatalf("found only %d IDs in the scanner's code: the parser missed them", len(used))
	}
	return used
}

// TestScanChecksDocumented: every ID the scanner can emit (named in its
// code, or a certificate warning mapped by doctor.CertWarningID) is a scan
// rule of the catalog and has a row in docs/scanning.md, and every scan
// rule of the catalog is emitted by the scanner.
func TestScanChecksDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "scanning.md"))
	if err != nil {
		t.Fatal(err)
	}
	used := emittedIDs(t)
	for _, id := range []string{doctor.IDCertExpired, doctor.IDCertExpiring, doctor.IDCertWeakKey, doctor.IDCertWeakSig, doctor.IDCertOther} {
		used[id] = "doctor.CertWarningID"
	}
	for id, where := range used {
		r, ok := doctor.Lookup(id)
		if !ok {
			t.Errorf("%s (named in %s) is not in the catalog", id, where)
			continue
		}
		if !strings.Contains(string(r.Tools), string(doctor.Scan)) {
			t.Errorf("%s is emitted by the scanner (%s) but its catalog tools are %q", id, where, r.Tools)
		}
		if !strings.Contains(string(doc), "| "+id+" |") {
			t.Errorf("%s (emitted in %s) has no row in docs/scanning.md", id, where)
		}
	}
	for _, r := range doctor.Catalog {
		if strings.Contains(string(r.Tools), string(doctor.Scan)) && used[r.ID] == "" {
			t.Errorf("%s is a scan rule in the catalog, but the scanner never emits it", r.ID)
		}
	}
	// The doc names no ID the catalog lacks.
	for _, id := range regexp.MustCompile(`MOAT-[A-Z0-9]+-[0-9]{3}`).FindAllString(string(doc), -1) {
		if _, ok := doctor.Lookup(id); !ok {
			t.Errorf("docs/scanning.md names %s, which the catalog does not know", id)
		}
	}
}
