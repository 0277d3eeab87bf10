package acl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rulesHead starts a policy; the first rule is on line 3.
const rulesHead = "version: 1\nrules:\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // the error, one line per problem
	}{
		{"syntax error", rulesHead + "  - name: a: b\n",
			[]string{"p.yaml:3: invalid YAML: mapping values are not allowed in this context"}},
		{"tab indentation", rulesHead + "  - name: a\n\twho: [all]\n",
			[]string{"p.yaml:3: invalid YAML: found a tab character that violates indentation"}},
		{"second document", "version: 1\nrules: []\n---\nversion: 1\n",
			[]string{"p.yaml:3:1: a second YAML document starts here; a policy file holds exactly one"}},
		{"empty", "", []string{"p.yaml: empty policy: write version: 1 and a list of rules"}},
		{"not a mapping", "- a\n", []string{"p.yaml:1:1: the top level must be a mapping with version and rules, got a list"}},
		{"unknown top-level key", "version: 1\nrule: []\n", []string{
			`p.yaml:1:1: rules: missing: write a list of rules (rules: [] denies everything)`,
			`p.yaml:2:1: rule: unknown key (did you mean "rules"?)`,
		}},
		{"missing version", "rules: []\n", []string{"p.yaml:1:1: version: missing: write version: 1"}},
		{"version 2", "version: 2\nrules: []\n", []string{"p.yaml:1:10: version: unsupported version 2: this Moat reads version 1"}},
		{"version string", "version: \"1\"\nrules: []\n", []string{`p.yaml:1:10: version: must be the integer 1, got "1"`}},
		{"duplicate key", "version: 1\nversion: 1\nrules: []\n", []string{"p.yaml:2:1: version: duplicate key (first set on line 1)"}},
		{"rules not a list", "version: 1\nrules: {a: 1}\n", []string{"p.yaml:2:8: rules: must be a list, got a mapping"}},
		{"rule not a mapping", rulesHead + "  - allow\n",
			[]string{`p.yaml:3:5: rules[0]: a rule must be a mapping with allow or deny, who and topics, got "allow"`}},
		{"unknown rule key", rulesHead + "  - allow: [publish]\n    who: [all]\n    topics: [a]\n    maxqos: 1\n",
			[]string{`p.yaml:6:5: rules[0].maxqos: unknown key (did you mean "max_qos"?)`}},
		{"unknown action", rulesHead + "  - allow: [publish, write]\n    who: [all]\n    topics: [a]\n",
			[]string{`p.yaml:3:22: rules[0].allow[1]: unknown action "write": want publish, subscribe, receive, retain or all`}},
		{"repeated action", rulesHead + "  - deny: [all, publish]\n    who: [all]\n    topics: [a]\n",
			[]string{`p.yaml:3:17: rules[0].deny[1]: action "publish" repeats another entry of the list`}},
		{"both allow and deny", rulesHead + "  - allow: [publish]\n    deny: [subscribe]\n    who: [all]\n    topics: [a]\n",
			[]string{"p.yaml:4:5: rules[0].deny: a rule has either allow or deny, not both (allow is on line 3)"}},
		{"neither allow nor deny", rulesHead + "  - who: [all]\n    topics: [a]\n",
			[]string{"p.yaml:3:5: rules[0]: missing allow: or deny: with a list of actions"}},
		{"missing who and topics", rulesHead + "  - allow: [publish]\n", []string{
			`p.yaml:3:5: rules[0]: missing who: with a list such as [authenticated] or ["user:alice"]`,
			"p.yaml:3:5: rules[0]: missing topics: with a list of topic filters",
		}},
		{"empty action list", rulesHead + "  - allow: []\n    who: [all]\n    topics: [a]\n",
			[]string{"p.yaml:3:12: rules[0].allow: must not be empty"}},
		{"action list is a scalar", rulesHead + "  - allow: publish\n    who: [all]\n    topics: [a]\n",
			[]string{`p.yaml:3:12: rules[0].allow: must be a list, got "publish"`}},
		{"invalid pattern", rulesHead + "  - allow: [publish]\n    who: [all]\n    topics: [ok, \"a/#/b\", \"a+\"]\n", []string{
			`p.yaml:5:18: rules[0].topics[1]: invalid topic pattern "a/#/b": '#' must be alone in the last level of a filter [MQTT-4.7.1-1] at byte 2`,
			`p.yaml:5:27: rules[0].topics[2]: invalid topic pattern "a+": '+' must be alone in its level of a filter [MQTT-4.7.1-2] at byte 1`,
		}},
		{"shared pattern", rulesHead + "  - allow: [subscribe]\n    who: [all]\n    topics: [\"$share/g/a\"]\n",
			[]string{`p.yaml:5:14: rules[0].topics[0]: invalid topic pattern "$share/g/a": shared subscription filters are not allowed in policies; write the filter after $share/{group}/ (it is matched against the inner filter)`}},
		{"empty pattern", rulesHead + "  - allow: [subscribe]\n    who: [all]\n    topics: [\"\"]\n",
			[]string{`p.yaml:5:14: rules[0].topics[0]: invalid topic pattern "": topic is empty [MQTT-4.7.3-1] at byte 0`}},
		{"repeated pattern", rulesHead + "  - allow: [subscribe]\n    who: [all]\n    topics: [a, a]\n",
			[]string{`p.yaml:5:17: rules[0].topics[1]: pattern "a" repeats another entry of the list`}},
		{"bad who", rulesHead + "  - allow: [publish]\n    who: [\"usr:alice\", \"user:\", everyone]\n    topics: [a]\n", []string{
			`p.yaml:4:11: rules[0].who[0]: unknown who entry "usr:alice": want all, anonymous, authenticated, user:NAME, group:NAME or cert:IDENTITY`,
			`p.yaml:4:24: rules[0].who[1]: "user:" names no one: write user:NAME`,
			`p.yaml:4:33: rules[0].who[2]: unknown who entry "everyone": want all, anonymous, authenticated, user:NAME, group:NAME or cert:IDENTITY`,
		}},
		{"who as mapping", rulesHead + "  - allow: [publish]\n    who: [user: alice]\n    topics: [a]\n",
			[]string{"p.yaml:4:11: rules[0].who[0]: must be a single value, got a mapping"}},
		{"duplicate names", rulesHead +
			"  - name: x\n    allow: [publish]\n    who: [all]\n    topics: [a]\n" +
			"  - name: x\n    allow: [publish]\n    who: [all]\n    topics: [b]\n",
			[]string{`p.yaml:7:11: rules[1].name: duplicate rule name "x" (first used by rules[0] on line 3)`}},
		{"name clashes with a default name", rulesHead +
			"  - allow: [publish]\n    who: [all]\n    topics: [a]\n" +
			"  - name: rules[0]\n    allow: [publish]\n    who: [all]\n    topics: [b]\n",
			[]string{`p.yaml:6:11: rules[1].name: duplicate rule name "rules[0]" (first used by rules[0] on line 3)`}},
		{"name with newline", rulesHead + "  - name: \"a\\nb\"\n    allow: [publish]\n    who: [all]\n    topics: [a]\n",
			[]string{"p.yaml:3:11: rules[0].name: must be printable text without control characters"}},
		{"max_qos out of range", rulesHead + "  - allow: [subscribe]\n    who: [all]\n    topics: [a]\n    max_qos: 3\n",
			[]string{"p.yaml:6:14: rules[0].max_qos: must be 0, 1 or 2, got 3"}},
		{"max_qos negative", rulesHead + "  - allow: [subscribe]\n    who: [all]\n    topics: [a]\n    max_qos: -1\n",
			[]string{"p.yaml:6:14: rules[0].max_qos: must be 0, 1 or 2, got -1"}},
		{"max_qos string", rulesHead + "  - allow: [subscribe]\n    who: [all]\n    topics: [a]\n    max_qos: \"1\"\n",
			[]string{`p.yaml:6:14: rules[0].max_qos: must be 0, 1 or 2, got "1"`}},
		{"max_qos on deny", rulesHead + "  - deny: [subscribe]\n    who: [all]\n    topics: [a]\n    max_qos: 1\n",
			[]string{"p.yaml:6:5: rules[0].max_qos: max_qos applies to allow rules only"}},
		{"max_payload on deny", rulesHead + "  - deny: [publish]\n    who: [all]\n    topics: [a]\n    max_payload: 1\n",
			[]string{"p.yaml:6:5: rules[0].max_payload: max_payload applies to allow rules only"}},
		{"max_payload without publish", rulesHead + "  - allow: [subscribe]\n    who: [all]\n    topics: [a]\n    max_payload: 1\n",
			[]string{"p.yaml:6:5: rules[0].max_payload: max_payload applies to publish and retain only, and this rule allows neither"}},
		{"max_payload bad unit", rulesHead + "  - allow: [publish]\n    who: [all]\n    topics: [a]\n    max_payload: 64KB/s\n",
			[]string{`p.yaml:6:18: rules[0].max_payload: invalid size "64KB/s": want a whole number of bytes with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. "64KiB"`}},
		{"max_payload negative", rulesHead + "  - allow: [publish]\n    who: [all]\n    topics: [a]\n    max_payload: -1\n",
			[]string{`p.yaml:6:18: rules[0].max_payload: invalid size "-1": want a whole number of bytes with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. "64KiB"`}},
		{"max_payload fraction", rulesHead + "  - allow: [publish]\n    who: [all]\n    topics: [a]\n    max_payload: 1.5\n",
			[]string{`p.yaml:6:18: rules[0].max_payload: must be a whole number of bytes or a size such as "64KiB", got 1.5`}},
		{"merge key", rulesHead + "  - <<: {allow: [publish]}\n    who: [all]\n    topics: [a]\n",
			[]string{
				"p.yaml:3:5: rules[0]: merge keys (<<) are not supported in policies",
				"p.yaml:3:5: rules[0]: missing allow: or deny: with a list of actions",
			}},
		{"every problem is reported", rulesHead +
			"  - allow: [publish, write]\n    who: [nobody]\n    topics: [\"a/#/b\"]\n    max_qos: 5\n" +
			"  - deny: [subscribe]\n    allow: [publish]\n    who: [all]\n    topics: [a]\n    colour: red\n", []string{
			`p.yaml:3:22: rules[0].allow[1]: unknown action "write": want publish, subscribe, receive, retain or all`,
			`p.yaml:4:11: rules[0].who[0]: unknown who entry "nobody": want all, anonymous, authenticated, user:NAME, group:NAME or cert:IDENTITY`,
			`p.yaml:5:14: rules[0].topics[0]: invalid topic pattern "a/#/b": '#' must be alone in the last level of a filter [MQTT-4.7.1-1] at byte 2`,
			"p.yaml:6:14: rules[0].max_qos: must be 0, 1 or 2, got 5",
			"p.yaml:8:5: rules[1].allow: a rule has either allow or deny, not both (deny is on line 7)",
			"p.yaml:11:5: rules[1].colour: unknown key",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.in), "p.yaml")
			if err == nil {
				t.Fatalf("parsed, want errors:\n%s", strings.Join(tc.want, "\n"))
			}
			if p != nil {
				t.Errorf("policy returned with an error")
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
			var pe *PolicyErrors
			if !errors.As(err, &pe) || len(pe.List) != len(tc.want) {
				t.Errorf("not a *PolicyErrors with %d entries: %#v", len(tc.want), err)
			}
			var one *PolicyError
			if !errors.As(err, &one) {
				t.Errorf("errors.As(*PolicyError) failed")
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	p, err := ParsePolicy([]byte(rulesHead+
		"  - name: with-limits\n    allow: [publish, retain]\n    who: [\"user:a\", \"group:g\"]\n    topics: [\"x/%u/#\", y]\n    max_qos: 1\n    max_payload: 64KiB\n"+
		"  - deny: [all]\n    who: [anonymous]\n    topics: [\"#\"]\n"+
		"  - allow: [subscribe]\n    who: [all]\n    topics: [\"$SYS/#\"]\n    max_qos: 0\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 3 || p.File() != "p.yaml" {
		t.Fatalf("Len %d File %q", p.Len(), p.File())
	}
	r0, r1, r2 := p.rules[0], p.rules[1], p.rules[2]
	if r0.label != "rules[0] with-limits" || r0.deny || r0.maxQoS != 1 || r0.maxPayload != 64<<10 ||
		!r0.actions.has(Publish) || !r0.actions.has(Retain) || r0.actions.has(Subscribe) || len(r0.who) != 2 || len(r0.topics) != 2 {
		t.Errorf("rule 0: %+v", r0)
	}
	if r1.label != "rules[1]" || !r1.deny || r1.actions != allActions || r1.maxQoS != 2 || r1.maxPayload != -1 {
		t.Errorf("rule 1: %+v", r1)
	}
	if r2.maxQoS != 0 || !r2.hasMaxQoS {
		t.Errorf("rule 2: %+v", r2)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1024", 1024, true}, {"64KiB", 64 << 10, true}, {"64 kib", 64 << 10, true},
		{"1MB", 1e6, true}, {"2GiB", 2 << 30, true}, {"10B", 10, true}, {" 7 ", 7, true},
		{"", 0, false}, {"KiB", 0, false}, {"1.5KiB", 0, false}, {"-1", 0, false}, {"1TB", 0, false},
		{"99999999999999999999", 0, false}, {"9999999999GiB", 0, false},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestExamplePolicies(t *testing.T) {
	files, err := filepath.Glob("testdata/policy/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example policies: %v", err)
	}
	for _, f := range files {
		p, err := LoadPolicy(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, fd := range Lint(p) {
			if fd.Severity == SeverityCritical {
				t.Errorf("%s: %s", f, fd)
			}
		}
	}
}

func TestLoadPolicyBounds(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxPolicySize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := LoadPolicy(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
	if _, err := LoadPolicy(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestAliasExpansionBounded checks that a small file naming a big list
// many times is refused instead of compiled.
func TestAliasExpansionBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(rulesHead + "  - {allow: [all], who: [all], topics: &t [")
	for i := range 3000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("a")
		b.WriteString(strings.Repeat("b", i%7))
		b.WriteString("/")
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strings.Repeat("c", i/26))
	}
	b.WriteString("]}\n")
	for range 2000 {
		b.WriteString("  - {allow: [all], who: [all], topics: *t}\n")
	}
	_, err := ParsePolicy([]byte(b.String()), "bomb.yaml")
	want := "bomb.yaml:352:5: rules[349]: policy too large: more than 4194304 (action, who, topic) combinations\n" +
		"bomb.yaml: stopped after 1 problems: too many errors, or a policy too large"
	if errString(err) != want {
		t.Fatalf("got %v\nwant %s", errString(err), want)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(rulesHead)
	for range 300 {
		b.WriteString("  - {allow: [nope], who: [all], topics: [a]}\n")
	}
	_, err := ParsePolicy([]byte(b.String()), "p.yaml")
	var pe *PolicyErrors
	if !errors.As(err, &pe) || len(pe.List) != maxErrors+1 || !strings.Contains(pe.List[maxErrors].Msg, "stopped after 100 problems") {
		t.Fatalf("got %d errors", len(pe.List))
	}
}
