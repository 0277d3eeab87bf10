package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/signed"
)

// fetchLimits bound what moat keys fetch accepts from a broker.
const (
	maxFetchIdentities = 100000
	maxFetchBytes      = 64 << 20
)

// keysFetch runs 'moat keys fetch': it reads the retained key bindings the
// broker publishes on $moat/keys/<identity> and writes a registry of those
// an operator key signed. The broker is not trusted: a binding without a
// valid operator signature, or published under another identity's topic,
// is left out and reported.
func keysFetch(args []string) int {
	fl := flag.NewFlagSet("keys fetch", flag.ContinueOnError)
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), "Usage: moat keys fetch --operator-key OP.pub --out REGISTRY [-h HOST -p PORT -u USER ...]\n\n"+
			"Read the operator-signed key bindings the broker publishes retained on\n"+
			"$moat/keys/<identity> and write a key registry of the keys whose\n"+
			"binding the operator key signed, for moat sub --verify --keys. The\n"+
			"account needs subscribe and receive on $moat/keys/#.\n\n")
		fl.PrintDefaults()
	}
	var cf clientFlags
	addClientFlags(fl, &cf)
	operator := fl.String("operator-key", "", "the operator's public key (PEM; required)")
	out := fl.String("out", "", "registry file to write (required)")
	quiet := fl.Duration("wait", 2*time.Second, "stop once no binding arrived for this long")
	limit := fl.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 || *operator == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "moat keys fetch: --operator-key and --out are required")
		fl.Usage()
		return 2
	}
	op, err := readPublicKey(*operator)
	if err != nil {
		return keysFail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()
	mc, err := cf.dial(ctx)
	if err != nil {
		return keysFail(err)
	}
	defer mc.close()
	if err := mc.subscribe([]string{acl.KeysPrefix + "+"}, 1); err != nil {
		return keysFail(err)
	}
	bindings := map[string][]byte{}
	total := 0
	for {
		deadline := time.Now().Add(*quiet)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		pk, err := mc.read(deadline)
		if err != nil {
			if isTimeoutErr(err) {
				break
			}
			return keysFail(err)
		}
		p, ok := pk.(*packet.Publish)
		if !ok {
			continue
		}
		if p.QoS == 1 {
			if err := mc.send(packet.AppendPuback(nil, p.PacketID, packet.Success, nil, mc.v)); err != nil {
				return keysFail(err)
			}
		}
		identity, ok := strings.CutPrefix(p.Topic, acl.KeysPrefix)
		if !ok || len(p.Payload) == 0 {
			continue
		}
		total += len(p.Payload)
		if len(bindings) >= maxFetchIdentities || total > maxFetchBytes {
			return keysFail(fmt.Errorf("more than %d identities or %d bytes of bindings", maxFetchIdentities, maxFetchBytes))
		}
		bindings[identity] = append([]byte(nil), p.Payload...)
	}
	var data []byte
	kept, refused := 0, 0
	for identity, payload := range bindings {
		keys, err := signed.ParseKeys(payload, acl.KeysPrefix+identity, ".")
		if err != nil {
			fmt.Fprintf(os.Stderr, "moat keys fetch: %s%s: %v: refused\n", acl.KeysPrefix, identity, err)
			refused++
			continue
		}
		trusted, dropped, err := keys.TrustOperator(op)
		if err != nil {
			return keysFail(err)
		}
		for _, kid := range dropped {
			fmt.Fprintf(os.Stderr, "moat keys fetch: key %q of %q is not signed by the operator key: refused\n", kid, identity)
			refused++
		}
		for _, k := range trusted.All() {
			if k.Identity != identity {
				fmt.Fprintf(os.Stderr, "moat keys fetch: key %q binds %q but was published for %q: refused\n", k.ID, k.Identity, identity)
				refused++
				continue
			}
			if data, err = signed.AddKey(data, *out, filepath.Dir(*out), k); err != nil {
				return keysFail(err)
			}
			kept++
		}
	}
	if data == nil {
		data = []byte("{\"keys\": []}\n")
	}
	if err := writeAtomic(*out, data, 0o644); err != nil {
		return keysFail(err)
	}
	fmt.Fprintf(os.Stderr, "moat keys fetch: %d key(s) of %d identities signed by the operator written to %s; %d refused\n",
		kept, len(bindings), *out, refused)
	if refused > 0 {
		return 1
	}
	return 0
}

// isTimeoutErr reports whether err is a read deadline passing.
func isTimeoutErr(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
