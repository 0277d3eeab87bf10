package main

import (
	"strings"
	"testing"
)

func TestACLCommands(t *testing.T) {
	policy := writeFile(t, "acl.yaml", `version: 1
rules:
  - name: own
    allow: [publish, subscribe, receive]
    who: [authenticated]
    topics: ["devices/%u/#"]
  - name: ops
    allow: [subscribe, receive]
    who: ["group:ops"]
    topics: ["devices/#"]
    max_qos: 1
`)
	aclRun := func(want int, args ...string) string {
		t.Helper()
		code, stdout, stderr := capture(t, func() int { return run(append([]string{"acl"}, args...)) })
		if code != want {
			t.Fatalf("moat acl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout + stderr
	}
	out := aclRun(0, "check", "--policy", policy, "--user", "alice", "--action", "publish", "--topic", "devices/alice/t")
	if !strings.HasPrefix(out, "allow: rules[0] own") {
		t.Errorf("allowed publish: %q", out)
	}
	out = aclRun(1, "check", "--policy", policy, "--user", "alice", "--action", "publish", "--topic", "devices/bob/t")
	if !strings.HasPrefix(out, "deny: no rule matched (default deny)") {
		t.Errorf("denied publish: %q", out)
	}
	// A user named "#" gains nothing from %u.
	aclRun(1, "check", "--policy", policy, "--user", "#", "--action", "subscribe", "--topic", "devices/#")
	out = aclRun(0, "check", "--policy", policy, "--user", "carol", "--group", "ops", "--action", "subscribe", "--topic", "devices/+/t")
	if !strings.HasPrefix(out, "allow (granted QoS 1): rules[1] ops") {
		t.Errorf("group subscribe: %q", out)
	}
	aclRun(1, "check", "--policy", policy, "--anonymous", "--action", "receive", "--topic", "devices/x/t")
	aclRun(2, "check", "--policy", policy, "--action", "publish", "--topic", "t") // no identity
	aclRun(2, "check", "--policy", policy, "--user", "a", "--action", "fly", "--topic", "t")
	aclRun(2, "check", "--user", "a", "--action", "publish", "--topic", "t") // no policy

	if out := aclRun(0, "lint", "--policy", policy); !strings.Contains(out, "no findings (2 rules)") {
		t.Errorf("lint of a sound policy: %q", out)
	}
	risky := writeFile(t, "risky.yaml", `version: 1
rules:
  - allow: [subscribe, receive]
    who: [all]
    topics: ["#"]
`)
	if out := aclRun(1, "lint", "--policy", risky); !strings.Contains(out, "critical: rules[0]") {
		t.Errorf("lint of a risky policy: %q", out)
	}
	bad := writeFile(t, "bad.yaml", "version: 1\nrules:\n  - allow: [fly]\n    who: [all]\n    topics: [x]\n")
	if out := aclRun(2, "lint", "--policy", bad); !strings.Contains(out, "bad.yaml:3:") {
		t.Errorf("bad policy: %q", out)
	}
	// Through a configuration file.
	cfg := writeFile(t, "moat.yaml", "acl:\n  file: "+policy+"\n")
	aclRun(0, "check", "--config", cfg, "--cert", "dev-1", "--action", "publish", "--topic", "devices/dev-1/t")
}
