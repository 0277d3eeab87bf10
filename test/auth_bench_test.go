package test

// The reconnect storm: N clients with distinct valid passwords connect
// (cold: every password is verified with argon2id), all drop at once, and
// all reconnect (warm: the success cache answers). Not part of the test
// command:
//
//	go test -run '^$' -bench BenchmarkAuth_ReconnectStorm -benchtime 1x ./test/
//
// MOAT_STORM_CLIENTS sets N (default 5000).

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/auth/password"
	"github.com/moatmq/moat/internal/config"
	"github.com/moatmq/moat/internal/testutil"
)

func BenchmarkAuth_ReconnectStorm(b *testing.B) {
	n := 5000
	if s := os.Getenv("MOAT_STORM_CLIENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("MOAT_STORM_CLIENTS=%q", s)
		}
	}
	// One argon2id hash at the lowest accepted cost, shared by every user:
	// each user still needs its own verification (the cache key binds the
	// user name), and setting up stays quick.
	p := password.DefaultParams()
	p.Memory, p.Time, p.Threads = 19*1024, 2, 1
	enc, err := password.Hash([]byte("storm-secret"), p)
	if err != nil {
		b.Fatal(err)
	}
	f := password.NewFile()
	for i := range n {
		if err := f.Set(fmt.Sprintf("dev%05d", i), enc); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "passwd")
	if err := f.Save(path); err != nil {
		b.Fatal(err)
	}
	addr, _ := testutil.Start(b, func(c *config.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.PasswordFile = path
	})
	connects := make([][]byte, n)
	for i := range n {
		user := fmt.Sprintf("dev%05d", i)
		connects[i] = rawConnect{Version: 4, ClientID: user, Clean: true, Username: &user, Password: []byte("storm-secret")}.bytes()
	}
	for range b.N {
		cold, conns := storm(b, addr, connects)
		for _, c := range conns {
			c.Close()
		}
		warm, conns := storm(b, addr, connects)
		for _, c := range conns {
			c.Close()
		}
		b.ReportMetric(cold.Seconds(), "cold-s")
		b.ReportMetric(warm.Seconds(), "warm-s")
		b.ReportMetric(float64(n)/warm.Seconds(), "warm-logins/s")
		b.ReportMetric(cold.Seconds()/warm.Seconds(), "cold/warm")
	}
}

// storm logs every client in, 256 at a time, and returns how long it took
// and the open connections.
func storm(b *testing.B, addr string, connects [][]byte) (time.Duration, []net.Conn) {
	conns := make([]net.Conn, len(connects))
	errs := make(chan error, len(connects))
	work := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range 256 {
		wg.Go(func() {
			for i := range work {
				c, err := net.DialTimeout("tcp", addr, time.Minute)
				if err != nil {
					errs <- err
					continue
				}
				conns[i] = c
				_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
				if _, err := c.Write(connects[i]); err != nil {
					errs <- err
					continue
				}
				var ack [4]byte
				if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != tCONNACK<<4 || ack[3] != 0 {
					errs <- fmt.Errorf("client %d: CONNACK %x, %v", i, ack, err)
				}
			}
		})
	}
	for i := range connects {
		work <- i
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return took, conns
}
