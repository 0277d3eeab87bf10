package test

// $SYS topics: published retained with Mosquitto's names, readable only by
// identities the ACL lets receive them; nobody may write them.

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/config"
)

func TestSys_TopicsFollowTheACL(t *testing.T) {
	requireMosquitto(t)
	const policy = `version: 1
rules:
  - allow: [publish, subscribe, receive]
    who: [authenticated]
    topics: ["#"]
  - allow: [subscribe, receive]
    who: [user:ops]
    topics: ["$SYS/#"]
`
	e := startACL(t, policy, []string{"ops", "dev"}, func(c *config.Config) {
		c.MQTT.SysInterval = config.Duration(100 * time.Millisecond)
	})
	host, port, _ := net.SplitHostPort(e.addr)
	m := mosqClients{host: host, port: port, version: "mqttv5"}
	s := m.sub(t, "-u", "ops", "-P", aclPassword("ops"), "-t", "$SYS/broker/version", "-t", "$SYS/broker/clients/connected", "-C", "2")
	msgs := s.wait(t)
	got := map[string]string{}
	for _, msg := range msgs {
		got[msg.Topic] = msg.Payload
	}
	if !strings.HasPrefix(got["$SYS/broker/version"], "moat ") || got["$SYS/broker/clients/connected"] == "" {
		t.Fatalf("ops got %v", msgs)
	}
	// dev may read "#", which never matches $ topics, and is refused $SYS.
	d := e.raw(t, true, "dev-1", "dev")
	aclWantCodes(t, "dev SUBSCRIBE $SYS/#", d.aclSubscribe(1, 0, "$SYS/#"), 0x87)
	// Nobody writes $SYS, not even ops.
	o := e.raw(t, true, "ops-1", "ops")
	aclWantCode(t, "ops PUBLISH $SYS/broker/version", o.aclPublish(1, "$SYS/broker/version", 1, false, "fake"), 0x87)
}
