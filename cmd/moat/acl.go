package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/config"
)

const aclUsage = `Usage:
  moat acl check [--config FILE | --policy FILE] --action ACTION --topic TOPIC
                 [--user U | --cert ID | --anonymous] [--group G]... [--client-id C]
                 [--qos N] [--payload BYTES]
  moat acl lint  [--config FILE | --policy FILE]

check answers allow or deny for one request and names the deciding rule
(exit 0 allow, 1 deny). lint lists risky rules (exit 1 when one is
critical). The policy is the configuration's acl.file, or --policy.

Flags:
`

// aclCmd runs "moat acl".
func aclCmd(args []string) int {
	fl := flag.NewFlagSet("moat acl", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	fl.Usage = func() {
		fmt.Fprint(os.Stderr, aclUsage)
		fl.PrintDefaults()
	}
	cfgPath := fl.String("config", "", "configuration file whose acl.file to use")
	policyPath := fl.String("policy", "", "policy file (instead of --config)")
	user := fl.String("user", "", "check: the identity, authenticated by password or token")
	certID := fl.String("cert", "", "check: the identity, authenticated by client certificate")
	anonymous := fl.Bool("anonymous", false, "check: an anonymous client")
	var groups stringList
	fl.Var(&groups, "group", "check: a group of the identity (repeatable)")
	clientID := fl.String("client-id", "", "check: the client id (default: the identity)")
	action := fl.String("action", "", "check: publish, subscribe, receive or retain")
	topicName := fl.String("topic", "", "check: the topic name (a filter for subscribe)")
	qos := fl.Int("qos", 0, "check: QoS of the request")
	payload := fl.Int("payload", 0, "check: payload size in bytes")
	pos, code, ok := parseFlags(fl, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || (pos[0] != "check" && pos[0] != "lint") {
		fl.Usage()
		return 2
	}
	p, err := aclPolicy(*cfgPath, *policyPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "moat acl:", err)
		return 2
	}
	if pos[0] == "lint" {
		return aclLint(p)
	}
	act, ok := map[string]acl.Action{"publish": acl.Publish, "subscribe": acl.Subscribe,
		"receive": acl.Receive, "retain": acl.Retain}[*action]
	if !ok || *topicName == "" {
		fmt.Fprintln(os.Stderr, "moat acl check: --action (publish, subscribe, receive, retain) and --topic are required")
		return 2
	}
	n := 0
	for _, set := range []bool{*user != "", *certID != "", *anonymous} {
		if set {
			n++
		}
	}
	if n != 1 {
		fmt.Fprintln(os.Stderr, "moat acl check: give exactly one of --user, --cert and --anonymous")
		return 2
	}
	id := &auth.Identity{Name: *user, Groups: groups, Method: "password"}
	switch {
	case *certID != "":
		id = &auth.Identity{Name: *certID, Groups: groups, Method: "certificate"}
	case *anonymous:
		id = &auth.Identity{Name: "anonymous", Method: "anonymous", Anonymous: true}
	}
	cid := *clientID
	if cid == "" {
		cid = id.Name
	}
	res, lines := p.Explain(&acl.Subject{ClientID: cid, Username: *user, Identity: id},
		acl.Request{Action: act, Topic: *topicName, QoS: byte(*qos), Payload: *payload})
	verdict := "deny"
	if res.Allowed {
		verdict = "allow"
		if act == acl.Subscribe {
			verdict += fmt.Sprintf(" (granted QoS %d)", res.MaxQoS)
		}
	}
	fmt.Printf("%s: %s\n", verdict, res.Rule)
	for _, l := range lines {
		fmt.Println("  " + l)
	}
	if !res.Allowed {
		return 1
	}
	return 0
}

// aclPolicy loads --policy, or the acl.file of --config.
func aclPolicy(cfgPath, policyPath string) (*acl.Policy, error) {
	switch {
	case cfgPath != "" && policyPath != "":
		return nil, fmt.Errorf("give --config or --policy, not both")
	case policyPath != "":
		return acl.LoadPolicy(policyPath)
	case cfgPath != "":
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return nil, err
		}
		if cfg.ACL.File == "" {
			return nil, fmt.Errorf("%s sets no acl.file: every authenticated client may use every topic except writing $SYS", cfgPath)
		}
		return acl.LoadPolicy(cfg.ACL.File)
	}
	return nil, fmt.Errorf("give --config or --policy")
}

func aclLint(p *acl.Policy) int {
	findings := acl.Lint(p)
	critical := false
	for _, f := range findings {
		fmt.Println(f.String())
		critical = critical || strings.EqualFold(f.Severity, "critical")
	}
	if len(findings) == 0 {
		fmt.Printf("%s: no findings (%d rules)\n", p.File(), p.Len())
	}
	if critical {
		return 1
	}
	return 0
}
