package acl

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsePolicy checks that any input either compiles into a policy that
// answers without panicking, or yields a *PolicyErrors whose every entry
// has a message; it is seeded with the example policies and broken ones.
func FuzzParsePolicy(f *testing.F) {
	files, _ := filepath.Glob("testdata/policy/*.yaml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "version: 1\nrules: []\n", "- a\n", "version: 1\nrules:\n  - name: a: b\n",
		rulesHead + "  - {allow: [publish, write], who: [nobody], topics: [\"a/#/b\"], max_qos: 5}\n",
		rulesHead + "  - {allow: [all], deny: [all], who: [all], topics: [\"#\"]}\n",
		rulesHead + "  - {allow: [publish], who: [all], topics: [\"$share/g/a\"], max_payload: 1x}\n",
		rulesHead + "  - &r {allow: [all], who: [all], topics: [\"%u/%c\"]}\n  - *r\n",
		rulesHead + "  - <<: {allow: [publish]}\n",
		"version: 1\nversion: 2\nrules: {}\n---\n",
		fuzzPolicy,
	} {
		f.Add([]byte(s))
	}
	subjects := refSubjects()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data, "fuzz.yaml")
		if err != nil {
			var pe *PolicyErrors
			if p != nil || !errors.As(err, &pe) || len(pe.List) == 0 {
				t.Fatalf("bad failure: %v, %#v", p, err)
			}
			for _, e := range pe.List {
				if e.Msg == "" || e.Line < 0 || e.Column < 0 || e.File != "fuzz.yaml" {
					t.Fatalf("bad entry %#v", e)
				}
			}
			return
		}
		_ = Lint(p)
		for _, s := range subjects {
			for a := Publish; a <= Retain; a++ {
				for _, tp := range []string{"a", "alice/x", "$SYS/x", "#", "a/+"} {
					r := Request{Action: a, Topic: tp, QoS: 1, Payload: 10}
					got := p.Authorize(s, r)
					if want := refAuthorize(p, s, r); got != want {
						t.Fatalf("%+v: got %+v, reference %+v", r, got, want)
					}
				}
			}
		}
	})
}
