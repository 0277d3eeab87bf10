package httpauth

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/moatmq/moat/internal/acl"
)

// Rules of the Results Authorize returns, besides failures.
const (
	ruleAllow    = "http: allowed by the backend"
	ruleDeny     = "http: denied by the backend"
	ruleNoACLURL = "http: no acl_url configured"
)

// aclRequest is the body POSTed to ACLURL. Topic is a filter for the
// subscribe action.
type aclRequest struct {
	Username string `json:"username"`
	Identity string `json:"identity"`
	ClientID string `json:"client_id"`
	Action   string `json:"action"`
	Topic    string `json:"topic"`
	QoS      byte   `json:"qos"`
}

// aclAnswer is the body of a 200 answer from ACLURL. An absent max_qos
// grants up to 2.
type aclAnswer struct {
	Result string `json:"result"`
	MaxQoS *int   `json:"max_qos"`
	Reason string `json:"reason"`
}

// Authorize implements acl.Authorizer. A cached answer costs an HMAC and
// a map lookup and allocates nothing. Otherwise the backend is asked,
// within the Timeout, on the caller's goroutine: the publish or delivery
// waits for it. Without ACLURL, for a nil subject or an unknown action,
// and whenever the exchange fails, it denies.
func (b *Backend) Authorize(s *acl.Subject, r acl.Request) acl.Result {
	if b.aclURL == nil {
		return acl.Result{Rule: ruleNoACLURL}
	}
	action := r.Action.String()
	if s == nil || action == "unknown" {
		return acl.Result{Rule: "http: no subject or unknown action"}
	}
	identity := ""
	if s.Identity != nil {
		identity = s.Identity.Name
	}
	key := b.aclKey(s, identity, r)
	if res, ok := b.aclCache.get(key, b.now()); ok {
		return res
	}
	body, fail := b.post(context.Background(), b.aclURL, &aclRequest{
		Username: s.Username, Identity: identity, ClientID: s.ClientID,
		Action: action, Topic: r.Topic, QoS: r.QoS,
	})
	if fail != "" {
		b.logFailure("acl", fail)
		return acl.Result{Rule: "http: " + fail}
	}
	res, fail := parseACLAnswer(body)
	if fail != "" {
		fail = "malformed answer from " + b.aclURL.redacted + ": " + fail
		b.logFailure("acl", fail)
		return acl.Result{Rule: "http: " + fail}
	}
	ttl := b.allowTTL
	if !res.Allowed {
		ttl = b.denyTTL
	}
	b.aclCache.put(key, res, ttl, b.now())
	return res
}

// aclKey covers every field sent.
func (b *Backend) aclKey(s *acl.Subject, identity string, r acl.Request) cacheKey {
	k := b.keys.start('C')
	k.str(s.Username)
	k.str(identity)
	k.str(s.ClientID)
	k.byte(byte(r.Action))
	k.str(r.Topic)
	k.byte(r.QoS)
	return b.keys.sum(k)
}

func parseACLAnswer(body []byte) (acl.Result, string) {
	var a aclAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return acl.Result{}, "not a JSON object of the expected shape"
	}
	switch a.Result {
	case "allow":
		q := 2
		if a.MaxQoS != nil {
			q = *a.MaxQoS
		}
		if q < 0 || q > 2 {
			return acl.Result{}, fmt.Sprintf("max_qos %d outside 0..2", q)
		}
		return acl.Result{Allowed: true, MaxQoS: byte(q), Rule: ruleAllow}, ""
	case "deny":
		if a.Reason != "" {
			return acl.Result{Rule: ruleDeny + ": " + quoteReason(a.Reason, nil)}, ""
		}
		return acl.Result{Rule: ruleDeny}, ""
	}
	return acl.Result{}, "result is neither \"allow\" nor \"deny\""
}
