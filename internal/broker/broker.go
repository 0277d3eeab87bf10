// Package broker is Moat's MQTT engine: connection loops, sessions, routing,
// delivery, retained messages, wills and takeover. It calls the security
// seams (auth, acl, audit), metrics and the store at the moments the MQTT
// flows define, and knows nothing of listeners or configuration files.
//
// # Concurrency
//
// Each connection has two goroutines: a reader that decodes and handles
// every inbound packet (routing included) and a writer that encodes and
// flushes the outbound queue. Shared state is:
//
//   - Broker.mu guards the session registry (sessions, conns).
//   - Session.mu guards one session: its connection pointer, subscriptions,
//     inflight window, queue, inbound QoS 2 ids, will and timers.
//   - the topic tree and the retained store have their own internal locks.
//   - conn.outMu guards a connection's outbound queue; it is a leaf.
//
// Lock order: Broker.mu, then Session.mu, then the topic tree or retained
// store, then conn.outMu. No lock is held across a network write, and the
// publish path takes no global lock: it reads the topic tree (lock-free on a
// cache hit) and locks each receiving session briefly.
package broker

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/limits"
	"github.com/moatmq/moat/internal/metrics"
	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/session"
	"github.com/moatmq/moat/internal/signed"
	"github.com/moatmq/moat/internal/store"
	"github.com/moatmq/moat/internal/topic"
)

// Limits are the protocol limits and advertised features.
type Limits struct {
	MaxPacketSize           int
	ReceiveMaximum          uint16 // inbound QoS 1/2 window per client
	MaxInflight             uint16 // outbound window cap per client
	TopicAliasMaximum       uint16
	MaxQoS                  byte
	RetainAvailable         bool
	WildcardSubscriptions   bool
	SubscriptionIdentifiers bool
	SharedSubscriptions     bool
	MaxKeepAlive            time.Duration // 0: no cap
	MinKeepAlive            time.Duration // MQTT 5: smaller keep alives are raised to it; 0: none
	MaxSessionExpiry        time.Duration
	ConnectTimeout          time.Duration
	WriteTimeout            time.Duration
	MaxClientIDLength       int
	Topic                   topic.Limits
	MaxQueuedMessages       int
	MaxQueuedBytes          int
	MaxSubscriptions        int
	MaxRetained             int
	AllowMQTT31             bool
	AllowEmptyClientID      bool
	// ClientIDs are the per-identity client id patterns (auth.client_ids);
	// empty allows any.
	ClientIDs []string
	// DisconnectDeniedPublish closes an MQTT 3.1/3.1.1 connection whose
	// publish the ACL refused (MQTT 5 clients get the reason code instead).
	DisconnectDeniedPublish bool
	// ClientIDPattern, when not nil, must match every client id a client
	// sends (mqtt.client_id_pattern).
	ClientIDPattern *regexp.Regexp
	// Retain limits what may be retained.
	Retain RetainPolicy
	// NoRootWildcards refuses subscriptions whose first level is a
	// wildcard, except for the identities in RootWildcardIdentities.
	NoRootWildcards        bool
	RootWildcardIdentities []string
	// Publish bounds publish rates (reloadable with SetPublishLimits).
	Publish PublishLimits
}

// Options are the broker's dependencies. Zero seams get safe defaults: open
// admission, the anonymous authenticator, the allow-all authorizer (which still protects
// $SYS), a discarding audit sink, fresh metrics and the memory store.
type Options struct {
	Limits    Limits
	Admission limits.Admission
	Auth      auth.Chain
	ACL       acl.Authorizer
	Audit     audit.Sink
	Metrics   *metrics.Metrics
	Store     store.Store
	// BatchWrites hands the store writes to one goroutine that applies
	// them in batches (a durable store); without it each write is an Apply.
	BatchWrites bool
	// HoldAcks makes acknowledgements that promise durability wait for a
	// Store.Sync covering their writes (a strict durable store). It needs
	// BatchWrites, which it implies.
	HoldAcks bool
	Log      *slog.Logger
	// Router delivers routed messages; nil means local delivery only.
	Router Router
	// Signed enforces the signed-topics policy; nil: no signed topics.
	Signed *signed.Verifier
}

// Broker is the MQTT engine. Create it with New; hand it connections with
// Serve.
type Broker struct {
	lim     Limits
	admit   limits.Admission
	auth    auth.Chain
	acl     acl.Authorizer
	audit   audit.Sink
	metrics *metrics.Metrics
	store   store.Store
	log     *slog.Logger
	router  Router

	subs     *topic.Tree[*subscription]
	retained *retainedStore

	mu       sync.Mutex
	sessions map[string]*Session
	conns    map[*conn]struct{}
	closing  bool
	quit     chan struct{} // closed when Shutdown begins

	connWG  sync.WaitGroup
	started time.Time

	pubLim    atomic.Pointer[PublishLimits]
	memOver   atomic.Bool          // over the memory budget (WatchMemory)
	signed    *signed.Verifier     // nil: no signed topics
	idBuckets limits.SharedBuckets // per-identity publish buckets

	keysMu          sync.Mutex      // guards keysPublished
	keysPublished   map[string]bool // identities with a binding on $moat/keys/ (signed.go)
	closeStore      sync.Once       // Shutdown saves the replay state and closes the store once
	closeErr        error
	holdAcks        bool          // Options.HoldAcks (durable.go)
	writer          *storeWriter  // nil without Options.BatchWrites
	written, synced atomic.Uint64 // writes made; writes known durable
}

// New builds a broker.
func New(o Options) *Broker {
	b := &Broker{
		lim:      o.Limits,
		admit:    o.Admission,
		auth:     o.Auth,
		acl:      o.ACL,
		audit:    o.Audit,
		metrics:  o.Metrics,
		store:    o.Store,
		holdAcks: o.HoldAcks,
		signed:   o.Signed,
		log:      o.Log,
		subs:     topic.NewTree[*subscription](4096),
		sessions: make(map[string]*Session),
		conns:    make(map[*conn]struct{}),
		quit:     make(chan struct{}),
		started:  time.Now(),
	}
	if b.admit == nil {
		b.admit = limits.Open{}
	}
	if b.auth == nil {
		b.auth = auth.Chain{auth.Anonymous{}}
	}
	if b.acl == nil {
		b.acl = acl.AllowAll{}
	}
	if b.audit == nil {
		b.audit = audit.Discard{}
	}
	if b.metrics == nil {
		b.metrics = &metrics.Metrics{}
	}
	if b.store == nil {
		b.store = store.Memory{}
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if o.BatchWrites || o.HoldAcks {
		b.writer = newStoreWriter(b.store, b.log)
	}
	b.retained = newRetainedStore(b.lim.MaxRetained, b.metrics)
	b.SetPublishLimits(b.lim.Publish)
	b.router = o.Router
	if b.router == nil {
		b.router = &localRouter{b: b}
	}
	return b
}

// Metrics returns the broker's counters.
func (b *Broker) Metrics() *metrics.Metrics { return b.metrics }

// Publish routes a message made by the broker itself (for example $SYS
// topics). It bypasses authorization of the sender, not of receivers.
func (b *Broker) Publish(topicName string, payload []byte, qos byte, retain bool) {
	m := &session.Message{Topic: topicName, Payload: payload, QoS: qos, Retain: retain, Created: time.Now()}
	if retain {
		_ = b.retain(m) // the broker's own messages have no owner quota
	}
	b.router.Route(m)
}

// pause waits for d, or less when the broker shuts down.
func (b *Broker) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-b.quit:
	}
}

// Uptime reports how long the broker has run.
func (b *Broker) Uptime() time.Duration { return time.Since(b.started) }

// SessionCount reports the sessions held, connected or not.
func (b *Broker) SessionCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

// Shutdown stops accepting new MQTT sessions, asks every client to leave
// (MQTT 5 clients get DISCONNECT 0x8B), lets writers flush, and waits for
// every connection to end or ctx to be done; then it closes the rest.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if !b.closing {
		close(b.quit)
	}
	b.closing = true
	conns := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	for _, c := range conns {
		c.kick(packet.ServerShuttingDown, "server shutting down")
	}
	done := make(chan struct{})
	go func() { b.connWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			c.closeNow()
		}
		<-done
	}
	b.mu.Lock()
	for _, s := range b.sessions {
		s.stopTimers()
	}
	b.mu.Unlock()
	b.closeStore.Do(func() {
		if b.writer != nil {
			b.writer.close()
		}
		b.saveReplayState()
		b.closeErr = b.store.Close()
	})
	return b.closeErr
}

func (b *Broker) record(e audit.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.Kind == audit.ACLDenied {
		b.metrics.ACLDenied.Add(deniedAction(e.Detail), 1)
	}
	b.audit.Record(e)
}

// deniedAction is the metrics label of an ACL denial, from the start of
// its audit detail: publish, retain, subscribe, will or revoke.
func deniedAction(detail string) string {
	for _, p := range [...]struct{ prefix, label string }{
		{"publish ", "publish"}, {"retain", "retain"}, {"subscribe ", "subscribe"}, {"will", "will"},
		{"subscription revoked", "revoke"}, {"signed topic", "signed"},
	} {
		if strings.HasPrefix(detail, p.prefix) {
			return p.label
		}
	}
	return "other"
}
