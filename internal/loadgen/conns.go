package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

// Buffers of a connection that only connects, pings and disconnects: the
// generator holds thousands of them.
const (
	idleReadBuf  = 64
	idleWriteBuf = 64
)

// connRun holds what the connection scenarios share.
type connRun struct {
	cfg     *Config
	idPfx   string
	errs    errorList
	next    atomic.Int64 // connection number, for the source address
	failed  atomic.Int64
	resumed atomic.Int64 // TLS connections that resumed a session
}

func newConnRun(cfg *Config) *connRun {
	r := &connRun{cfg: cfg, idPfx: cfg.ClientIDPrefix}
	if r.idPfx == "" {
		var id [3]byte
		_, _ = rand.Read(id[:])
		r.idPfx = "bench-" + hex.EncodeToString(id[:]) + "-"
	}
	return r
}

// open opens one connection as user u; a failure is counted and kept.
func (r *connRun) open(ctx context.Context, kind string, u int) (*conn, bool) {
	n := int(r.next.Add(1) - 1)
	c, err := connect(ctx, r.cfg, n, connectOpts{clientID: fmt.Sprintf("%s%s%d", r.idPfx, kind, n),
		user: r.cfg.user(u), readBuf: idleReadBuf, writeBuf: idleWriteBuf})
	if err != nil {
		if ctx.Err() == nil {
			r.failed.Add(1)
			r.errs.add("connection %d: %v", n, err)
		}
		return nil, false
	}
	if tc, ok := c.nc.(*tls.Conn); ok && tc.ConnectionState().DidResume {
		r.resumed.Add(1)
	}
	return c, true
}

// tooManyFailures aborts a phase once failures are more than 1% of n and
// more than a few (or all of n): the broker is down or refuses the
// credentials.
func (r *connRun) tooManyFailures(n int) error {
	if f := r.failed.Load(); f > int64(n/100) && (f > 10 || f >= int64(n)) {
		return fmt.Errorf("%d connections failed: %s", f, r.errs.list()[0])
	}
	return nil
}

// phase measures one burst of connections.
type phase struct {
	pid      int
	name     string
	start    int64
	cpu      procSample
	failed0  int64
	resumed0 int64
}

func (r *connRun) startPhase(name string) *phase {
	ph := &phase{pid: r.cfg.BrokerPID, name: name, start: nanotime(), failed0: r.failed.Load(),
		resumed0: r.resumed.Load()}
	if ph.pid > 0 {
		ph.cpu, _ = readProc(ph.pid)
	}
	return ph
}

// pause waits d without counting it in the phase: neither its time nor the
// broker's CPU time during it.
func (ph *phase) pause(d time.Duration) {
	if d <= 0 {
		return
	}
	began := nanotime()
	before, berr := readProc(ph.pid)
	time.Sleep(d)
	after, aerr := readProc(ph.pid)
	ph.start += nanotime() - began
	if berr == nil && aerr == nil {
		ph.cpu.CPU += after.CPU - before.CPU
	}
}

// end closes the phase: n connections completed.
func (r *connRun) endPhase(ph *phase, n int64) ConnPhase {
	secs := time.Duration(nanotime() - ph.start).Seconds()
	out := ConnPhase{Name: ph.name, Connections: n, Failed: r.failed.Load() - ph.failed0, Seconds: secs}
	if r.cfg.TLS != nil {
		resumed := r.resumed.Load() - ph.resumed0
		out.TLSResumed = &resumed
	}
	if secs > 0 {
		out.PerSecond = float64(n) / secs
	}
	if ph.pid > 0 && n > 0 {
		if s, err := readProc(ph.pid); err == nil {
			out.BrokerCPUPerConn = (s.CPU - ph.cpu.CPU).Seconds() * 1e6 / float64(n)
		}
	}
	return out
}

// report fills the common parts.
func (r *connRun) report(cs *ConnStats, broker *BrokerStats, werr error) *Report {
	rep := &Report{Scenario: r.cfg.Scenario, Addr: r.cfg.Addr, Params: params(r.cfg), Connections: cs, Broker: broker}
	for _, ph := range cs.Phases {
		rep.Seconds += ph.Seconds
	}
	rep.Errors = r.errs.list()
	if werr != nil {
		rep.Errors = append(rep.Errors, werr.Error())
	}
	if f := r.failed.Load(); f > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d connections failed", f))
	}
	return rep
}

// runIdle opens Clients connections, holds them for Duration, checks that
// each still answers a ping, and reports the broker's memory per
// connection. Each user logs in once before the measurement, so that a
// broker that caches logins is measured warm, and the connections open in
// two halves, so that the growth of the second half alone is reported too
// (a garbage-collected broker may first reuse memory it holds). With
// Settle, the broker is left alone before each reading, so that a broker
// that returns the memory of a burst when it is quiet is measured at rest.
func runIdle(ctx context.Context, cfg *Config) (*Report, error) {
	r := newConnRun(cfg)
	err := forEach(ctx, min(cfg.Users, cfg.Clients), cfg.Concurrency, func(u int) error {
		c, ok := r.open(ctx, "w", u)
		if !ok {
			return fmt.Errorf("warm-up login of user %d: %s", u, r.errs.list()[0])
		}
		c.close()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cfg.Settle > 0 {
		time.Sleep(cfg.Settle)
	}
	conns := make([]*conn, cfg.Clients)
	defer func() {
		_ = forEach(context.Background(), len(conns), cfg.Concurrency, func(i int) error {
			if conns[i] != nil {
				conns[i].close()
			}
			return nil
		})
	}()
	var held atomic.Int64
	openRange := func(lo, hi int) error {
		return forEach(ctx, hi-lo, cfg.Concurrency, func(i int) error {
			if c, ok := r.open(ctx, "i", lo+i); ok {
				conns[lo+i] = c
				held.Add(1)
			}
			return r.tooManyFailures(cfg.Clients)
		})
	}
	watch := watchProc(cfg.BrokerPID, 250*time.Millisecond)
	ph := r.startPhase("connect")
	half := cfg.Clients / 2
	err = openRange(0, half)
	var mid procSample
	var heldMid int64
	if err == nil && cfg.BrokerPID > 0 {
		ph.pause(cfg.Settle)
		mid, _ = readProc(cfg.BrokerPID)
		heldMid = held.Load()
	}
	if err == nil {
		err = openRange(half, cfg.Clients)
	}
	if err != nil {
		_, _ = watch.end()
		return nil, err
	}
	cs := &ConnStats{Phases: []ConnPhase{r.endPhase(ph, held.Load())}, Held: held.Load()}

	// Hold them, pinging when the keep alive asks for it.
	var open []*conn
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	stop := make(chan struct{})
	go keeper(open, cfg.KeepAlive, stop)
	select {
	case <-ctx.Done():
	case <-time.After(max(cfg.Duration, cfg.Settle)):
	}
	close(stop)
	broker, host, werr := watch.finish()
	if broker != nil && cs.Held > 0 {
		cs.RSSPerConn = float64(broker.RSSEnd-broker.RSSStart) / float64(cs.Held)
		if n := cs.Held - heldMid; n > 0 && mid.RSS > 0 {
			cs.RSSPerConnSecondHalf = float64(broker.RSSEnd-mid.RSS) / float64(n)
		}
	}

	var alive atomic.Int64
	_ = forEach(ctx, len(open), cfg.Concurrency, func(i int) error {
		if err := open[i].ping(); err != nil {
			r.errs.add("ping after holding: %v", err)
		} else {
			alive.Add(1)
		}
		return nil
	})
	cs.Alive = alive.Load()
	rep := r.report(cs, broker, werr)
	rep.Host = host
	if cs.Alive < cs.Held {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d of %d connections did not answer a ping after holding",
			cs.Held-cs.Alive, cs.Held))
	}
	return rep, nil
}

// ping sends PINGREQ and waits for PINGRESP (an earlier one counts).
func (c *conn) ping() error {
	c.mu.Lock()
	_, err := c.w.Write(packet.AppendPingreq(c.w.AvailableBuffer()))
	if err == nil {
		err = c.flushLocked()
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.nc.SetReadDeadline(time.Now().Add(phaseTimeout)); err != nil {
		return err
	}
	var body []byte
	h, b, err := c.readPacket(&body)
	switch {
	case err != nil:
		return err
	case h.Type != packet.PINGRESP:
		return unexpectedPacket(h, b, c.v)
	}
	return nil
}

// runConnRate measures connections per second with authentication:
// first one login per user (cold: the broker verifies each password),
// then Clients workers reconnecting for Duration (warm: the broker may
// have cached the logins).
func runConnRate(ctx context.Context, cfg *Config) (*Report, error) {
	r := newConnRun(cfg)
	watch := watchProc(cfg.BrokerPID, 250*time.Millisecond)
	cycle := func(u int) bool {
		c, ok := r.open(ctx, "c", u)
		if ok {
			c.close()
		}
		return ok
	}
	var cold atomic.Int64
	ph := r.startPhase("cold")
	err := forEach(ctx, cfg.Users, min(cfg.Concurrency, cfg.Users), func(u int) error {
		if cycle(u) {
			cold.Add(1)
		}
		return r.tooManyFailures(cfg.Users)
	})
	if err != nil {
		_, _ = watch.end()
		return nil, err
	}
	cs := &ConnStats{Phases: []ConnPhase{r.endPhase(ph, cold.Load())}}

	var warm, turn atomic.Int64
	ph = r.startPhase("warm")
	end := time.Now().Add(cfg.Duration)
	err = forEach(ctx, cfg.Clients, cfg.Clients, func(int) error {
		for time.Now().Before(end) && ctx.Err() == nil {
			if cycle(int(turn.Add(1)-1) % cfg.Users) {
				warm.Add(1)
			}
			if err := r.tooManyFailures(int(warm.Load())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_, _ = watch.end()
		return nil, err
	}
	cs.Phases = append(cs.Phases, r.endPhase(ph, warm.Load()))
	broker, host, werr := watch.finish()
	rep := r.report(cs, broker, werr)
	rep.Host = host
	return rep, nil
}

// Run runs the scenario of cfg (validated and defaulted first) and
// reports it. An error means the run could not take place (no
// connection, a refused subscription); broken guarantees during the run
// are Report.Failures.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Scenario {
	case Idle:
		return runIdle(ctx, &cfg)
	case ConnRate:
		return runConnRate(ctx, &cfg)
	}
	return runFlow(ctx, &cfg)
}
