// Command moat is the Moat MQTT broker and its tools. It is the only place
// in the code base that exits the process.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `moat: a security-first MQTT broker

Usage:
  moat serve [--config FILE] [--listen ADDR]... [--log-level LEVEL] [--log-format text|json]
  moat certs init|server|client|inspect|crl [flags]
  moat passwd [flags] FILE add|delete|verify USER | list
  moat ban [--config FILE | --data-dir DIR] list | add TARGET | remove TARGET
  moat acl check|lint [--config FILE | --policy FILE] [flags]
  moat doctor [--config FILE] [--format text|json|sarif] [--fail-on SEVERITY]
  moat scan [flags] HOST:PORT|URL...
  moat bench fanin|pairs|fanout|shared|idle|connrate [flags]
  moat retained [--config FILE | --data-dir DIR] list|purge FILTER
  moat audit verify FILE...
  moat sign keygen|message|verify [flags]
  moat keys gen|bind|export [flags]
  moat pub -t TOPIC -m MESSAGE [--sign-key KEY] [flags]
  moat sub -t FILTER [--verify --keys FILE] [flags]
  moat verify --keys FILE --topic TOPIC (--sig VALUE | --envelope FILE) [flags]
  moat store [--config FILE | --data-dir DIR] [--key-file F] check|rotate-key|recover|gen-key
  moat admin token [--config FILE | --data-dir DIR] add NAME | remove NAME | list
  moat version

Run 'moat COMMAND --help' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "certs":
		return certsCmd(args[1:])
	case "passwd":
		return passwd(args[1:])
	case "ban":
		return banCmd(args[1:])
	case "acl":
		return aclCmd(args[1:])
	case "doctor":
		return doctorCmd(args[1:])
	case "scan":
		return scanCmd(args[1:])
	case "bench":
		return benchCmd(args[1:])
	case "retained":
		return retainedCmd(args[1:])
	case "audit":
		return auditCmd(args[1:])
	case "sign":
		return signCmd(args[1:])
	case "keys":
		return keysCmd(args[1:])
	case "pub":
		return pubCmd(args[1:])
	case "sub":
		return subCmd(args[1:])
	case "verify":
		return signVerify(args[1:])
	case "store":
		return storeCmd(args[1:])
	case "admin":
		return adminCmd(args[1:])
	case "version", "--version":
		fmt.Println("moat", version)
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "moat: unknown command %q\n\n%s", args[0], usage)
	return 2
}
