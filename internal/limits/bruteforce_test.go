package limits

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/packet"
	"github.com/moatmq/moat/internal/testutil/poll"
)

// fakeClock is a settable clock safe for concurrent reads.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newBF(t *testing.T, o BruteForceOptions) (*BruteForce, *fakeClock) {
	t.Helper()
	c := newClock()
	o.Now = c.Now
	b, err := NewBruteForce(o)
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

var (
	attacker = netip.MustParseAddr("203.0.113.7")
	other    = netip.MustParseAddr("198.51.100.9")
)

func TestBruteForceDelaysGrowAndCap(t *testing.T) {
	b, _ := newBF(t, BruteForceOptions{BanAfter: 100, GlobalPerSecond: 1000})
	want := []time.Duration{0, 0, 0, 0, 0,
		200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := b.Failed(attacker, ""); got != w {
			t.Fatalf("failure %d: delay %v, want %v", i+1, got, w)
		}
	}
	for range 60 {
		if got := b.Failed(attacker, ""); got != 5*time.Second {
			t.Fatalf("delay %v beyond cap", got)
		}
	}
}

func TestBruteForceWindowSlides(t *testing.T) {
	b, c := newBF(t, BruteForceOptions{Window: time.Minute})
	for range 5 {
		b.Failed(attacker, "")
	}
	if d := b.Failed(attacker, ""); d == 0 {
		t.Fatal("6th failure not delayed")
	}
	c.Add(61 * time.Second)
	if d := b.Failed(attacker, ""); d != 0 {
		t.Fatalf("failure after window delayed %v", d)
	}
}

func TestBruteForceBanAfter(t *testing.T) {
	b, _ := newBF(t, BruteForceOptions{})
	for i := 1; i < 20; i++ {
		b.Failed(attacker, "")
		if rc := b.Before(attacker, ""); rc != 0 {
			t.Fatalf("after %d failures: %v", i, rc)
		}
	}
	b.Failed(attacker, "")
	if rc := b.Before(attacker, ""); rc != packet.Banned {
		t.Fatalf("after 20 failures: %v, want Banned", rc)
	}
	if b.Accept("tcp", netip.AddrPortFrom(attacker, 1883)) {
		t.Fatal("Accept admitted a banned address")
	}
	if rc := b.Before(other, ""); rc != 0 {
		t.Fatalf("other address: %v", rc)
	}
	if !b.Accept("tcp", netip.AddrPortFrom(other, 1883)) {
		t.Fatal("Accept refused an unbanned address")
	}
	bans := b.Bans()
	if len(bans) != 1 || bans[0].Target != "203.0.113.7" || bans[0].Offences != 1 || bans[0].Reason == "" {
		t.Fatalf("Bans() = %+v", bans)
	}
}

func TestBruteForceBanByUserAcrossAddresses(t *testing.T) {
	b, _ := newBF(t, BruteForceOptions{})
	for i := range 20 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)})
		b.Failed(a, "alice")
	}
	if rc := b.Before(netip.MustParseAddr("10.9.9.9"), "alice"); rc != packet.Banned {
		t.Fatalf("user alice from a new address: %v, want Banned", rc)
	}
	// The addresses each failed once: not banned, and other users are fine.
	if rc := b.Before(netip.AddrFrom4([4]byte{10, 0, 0, 1}), "bob"); rc != 0 {
		t.Fatalf("bob: %v", rc)
	}
	if rc := b.Before(other, "carol"); rc != 0 {
		t.Fatalf("legitimate client: %v", rc)
	}
	bans := b.Bans()
	if len(bans) != 1 || bans[0].Target != "user:alice" {
		t.Fatalf("Bans() = %+v", bans)
	}
}

func TestBruteForceLegitimateClientUnaffected(t *testing.T) {
	b, _ := newBF(t, BruteForceOptions{})
	for range 30 {
		b.Failed(attacker, "mallory")
	}
	if d := b.Failed(other, "carol"); d != 0 {
		t.Fatalf("first failure of another client delayed %v", d)
	}
	if rc := b.Before(other, "carol"); rc != 0 {
		t.Fatalf("another client: %v", rc)
	}
}

func TestBruteForceBanExpires(t *testing.T) {
	b, c := newBF(t, BruteForceOptions{BanFor: time.Minute})
	for range 20 {
		b.Failed(attacker, "")
	}
	if rc := b.Before(attacker, ""); rc != packet.Banned {
		t.Fatalf("%v, want Banned", rc)
	}
	c.Add(time.Minute)
	if rc := b.Before(attacker, ""); rc != 0 {
		t.Fatalf("after expiry: %v", rc)
	}
	if bans := b.Bans(); len(bans) != 0 {
		t.Fatalf("expired ban listed: %+v", bans)
	}
	// The count restarted with the ban: free failures again.
	if d := b.Failed(attacker, ""); d != 0 {
		t.Fatalf("first failure after ban delayed %v", d)
	}
}

func TestBruteForceRepeatOffenceDoubles(t *testing.T) {
	b, c := newBF(t, BruteForceOptions{BanFor: time.Hour, MaxBan: 5 * time.Hour})
	want := []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 5 * time.Hour, 5 * time.Hour}
	for i, w := range want {
		for range 20 {
			b.Failed(attacker, "")
		}
		bans := b.Bans()
		if len(bans) != 1 {
			t.Fatalf("offence %d: Bans() = %+v", i+1, bans)
		}
		if got := bans[0].Until.Sub(c.Now()); got != w || bans[0].Offences != i+1 {
			t.Fatalf("offence %d: ban %v offences %d, want %v %d", i+1, got, bans[0].Offences, w, i+1)
		}
		c.Add(w)
		if rc := b.Before(attacker, ""); rc != 0 {
			t.Fatalf("offence %d: still banned after %v", i+1, w)
		}
	}
	// An offence is forgotten MaxBan after its ban ended.
	c.Add(5 * time.Hour)
	for range 20 {
		b.Failed(attacker, "")
	}
	if bans := b.Bans(); len(bans) != 1 || bans[0].Until.Sub(c.Now()) != time.Hour || bans[0].Offences != 1 {
		t.Fatalf("after the offences were forgotten: %+v", bans)
	}
}

func TestBruteForceIPv6GroupedBy64(t *testing.T) {
	b, _ := newBF(t, BruteForceOptions{})
	for i := range 20 {
		a := netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1))
		b.Failed(a, "")
	}
	if rc := b.Before(netip.MustParseAddr("2001:db8:1:2:ffff::1"), ""); rc != packet.Banned {
		t.Fatalf("same /64: %v, want Banned", rc)
	}
	if rc := b.Before(netip.MustParseAddr("2001:db8:1:3::1"), ""); rc != 0 {
		t.Fatalf("next /64: %v", rc)
	}
	if bans := b.Bans(); len(bans) != 1 || bans[0].Target != "2001:db8:1:2::/64" {
		t.Fatalf("Bans() = %+v", bans)
	}
}

func TestBruteForceIPv4MappedAsIPv4(t *testing.T) {
	b, _ := newBF(t, BruteForceOptions{})
	mapped := netip.AddrFrom16(attacker.As16())
	for range 20 {
		b.Failed(mapped, "")
	}
	if rc := b.Before(attacker, ""); rc != packet.Banned {
		t.Fatalf("plain IPv4 after mapped failures: %v", rc)
	}
	if b.Accept("tcp", netip.AddrPortFrom(mapped, 1)) {
		t.Fatal("mapped address accepted")
	}
	if bans := b.Bans(); bans[0].Target != "203.0.113.7" {
		t.Fatalf("Bans() = %+v", bans)
	}
}

func TestBruteForceGlobalCeiling(t *testing.T) {
	b, c := newBF(t, BruteForceOptions{GlobalPerSecond: 50})
	for i := range 49 {
		b.Failed(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), "")
	}
	if rc := b.Before(other, ""); rc != 0 {
		t.Fatalf("below ceiling: %v", rc)
	}
	b.Failed(netip.AddrFrom4([4]byte{10, 1, 1, 0}), "")
	if rc := b.Before(other, ""); rc != packet.ConnectionRateExceeded {
		t.Fatalf("at ceiling: %v, want ConnectionRateExceeded", rc)
	}
	c.Add(500 * time.Millisecond)
	if rc := b.Before(other, ""); rc != packet.ConnectionRateExceeded {
		t.Fatalf("half a second later: %v", rc)
	}
	c.Add(time.Second)
	if rc := b.Before(other, ""); rc != 0 {
		t.Fatalf("after the rate dropped: %v", rc)
	}
	c.Add(time.Hour)
	if rc := b.Before(other, ""); rc != 0 {
		t.Fatalf("an hour later: %v", rc)
	}
}

func TestBruteForceSucceededResets(t *testing.T) {
	b, _ := newBF(t, BruteForceOptions{})
	for range 19 {
		b.Failed(attacker, "alice")
	}
	b.Succeeded(attacker, "alice")
	if d := b.Failed(attacker, "alice"); d != 0 {
		t.Fatalf("failure after success delayed %v", d)
	}
	for range 18 {
		b.Failed(attacker, "alice")
	}
	if rc := b.Before(attacker, "alice"); rc != 0 {
		t.Fatalf("19 failures since success: %v", rc)
	}
	b.Failed(attacker, "alice")
	// A success does not lift a ban.
	b.Succeeded(attacker, "alice")
	if rc := b.Before(attacker, "alice"); rc != packet.Banned {
		t.Fatalf("after success on a banned address: %v", rc)
	}
}

func TestBruteForceBoundedMaps(t *testing.T) {
	const maxTracked = 1000
	b, _ := newBF(t, BruteForceOptions{MaxTracked: maxTracked, BanAfter: 2, GlobalPerSecond: 1 << 30})
	users := make([]string, 5000)
	for i := range users {
		users[i] = fmt.Sprintf("u%d", i)
	}
	for i := range 1_000_000 {
		a := netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		b.Failed(a, users[i%len(users)])
		if i%2 == 0 {
			b.Failed(a, "") // reaches BanAfter: fills the ban list too
		}
		if i%100_000 == 0 {
			checkBounds(t, b, maxTracked)
		}
	}
	checkBounds(t, b, maxTracked)
}

func checkBounds(t *testing.T, b *BruteForce, maxTracked int) {
	t.Helper()
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.tracked) > maxTracked || b.lru.Len() != len(b.tracked) {
		t.Fatalf("tracked %d, lru %d, max %d", len(b.tracked), b.lru.Len(), maxTracked)
	}
	if n := len(b.ipBans) + len(b.userBans); n > maxTracked || n != len(b.byUntil) {
		t.Fatalf("%d bans, max %d", n, maxTracked)
	}
}

func TestBruteForceBanUnbanTargets(t *testing.T) {
	b, _ := newBF(t, BruteForceOptions{})
	for _, target := range []string{"192.0.2.1", "10.20.0.0/16", "2001:db8::/32", "user:eve", "::ffff:192.0.2.128/121"} {
		if err := b.Ban(target, time.Hour, "manual"); err != nil {
			t.Fatalf("Ban(%q): %v", target, err)
		}
	}
	cases := []struct {
		addr string
		user string
		want packet.ReasonCode
	}{
		{"192.0.2.1", "", packet.Banned},
		{"192.0.2.2", "", 0},
		{"192.0.2.129", "", packet.Banned},
		{"10.20.255.1", "", packet.Banned},
		{"::ffff:10.20.1.1", "", packet.Banned},
		{"10.21.0.1", "", 0},
		{"2001:db8:ffff::1", "", packet.Banned},
		{"2001:db9::1", "", 0},
		{"198.51.100.1", "eve", packet.Banned},
		{"198.51.100.1", "eve2", 0},
	}
	for _, tc := range cases {
		if rc := b.Before(netip.MustParseAddr(tc.addr), tc.user); rc != tc.want {
			t.Errorf("Before(%s, %q) = %v, want %v", tc.addr, tc.user, rc, tc.want)
		}
	}
	var targets []string
	for _, ban := range b.Bans() {
		targets = append(targets, ban.Target)
	}
	if got := strings.Join(targets, " "); got != "10.20.0.0/16 192.0.2.1 192.0.2.128/25 2001:db8::/32 user:eve" {
		t.Fatalf("targets %q", got)
	}
	for _, target := range []string{"192.0.2.1", "10.20.7.7/16", "2001:db8::/32", "user:eve", "192.0.2.128/25"} {
		if !b.Unban(target) {
			t.Errorf("Unban(%q) = false", target)
		}
	}
	if b.Unban("user:eve") || b.Unban("192.0.2.99") {
		t.Error("Unban of an unbanned target = true")
	}
	if bans := b.Bans(); len(bans) != 0 {
		t.Fatalf("left: %+v", bans)
	}
	for _, bad := range []string{"", "nonsense", "10.0.0.0/33", "user:", "::ffff:0:0/90"} {
		if err := b.Ban(bad, time.Hour, ""); err == nil {
			t.Errorf("Ban(%q) accepted", bad)
		}
	}
	if err := b.Ban("192.0.2.1", 0, ""); err == nil {
		t.Error("zero duration accepted")
	}
}

func TestBruteForcePersistence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bans.json")
	c := newClock()
	o := BruteForceOptions{BansFile: file, Now: c.Now}
	b, err := NewBruteForce(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ban("10.0.0.0/8", time.Hour, "manual"); err != nil {
		t.Fatal(err)
	}
	if err := b.Ban("user:eve", 2*time.Hour, "manual"); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b.Failed(attacker, "")
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	want := b.Bans()

	b2, err := NewBruteForce(o)
	if err != nil {
		t.Fatal(err)
	}
	got := b2.Bans()
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 3 {
		t.Fatalf("reloaded %+v, want %+v", got, want)
	}
	if rc := b2.Before(attacker, ""); rc != packet.Banned {
		t.Fatalf("reloaded ban not in force: %v", rc)
	}
	// Offences survive: the next automatic ban doubles.
	c.Add(time.Hour)
	for range 20 {
		b2.Failed(attacker, "")
	}
	for _, ban := range b2.Bans() {
		if ban.Target == "203.0.113.7" && (ban.Offences != 2 || ban.Until.Sub(c.Now()) != 30*time.Minute) {
			t.Fatalf("repeat after reload: %+v", ban)
		}
	}
	if !b2.Unban("user:eve") {
		t.Fatal("Unban")
	}
	b3, err := NewBruteForce(o)
	if err != nil {
		t.Fatal(err)
	}
	if rc := b3.Before(other, "eve"); rc != 0 {
		t.Fatalf("unban not persisted: %v", rc)
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Fatalf("stray files: %v", entries)
	}
}

func TestBruteForceMissingFileIsEmpty(t *testing.T) {
	file := filepath.Join(t.TempDir(), "none.json")
	b, err := NewBruteForce(BruteForceOptions{BansFile: file})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Bans()) != 0 {
		t.Fatal("bans from nowhere")
	}
}

func TestBruteForceCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage.json":  "{not json",
		"unknown.json":  `{"version":1,"bans":[],"extra":1}`,
		"version.json":  `{"version":2,"bans":[]}`,
		"target.json":   `{"version":1,"bans":[{"target":"bogus","until":"2030-01-01T00:00:00Z","offences":1}]}`,
		"offences.json": `{"version":1,"bans":[{"target":"10.0.0.1","until":"2030-01-01T00:00:00Z","offences":0}]}`,
		"trailing.json": `{"version":1,"bans":[]} {}`,
	} {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := NewBruteForce(BruteForceOptions{BansFile: file})
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: error %v, want one naming the file", name, err)
		}
	}
}

func TestBruteForceOptionsValidated(t *testing.T) {
	for _, o := range []BruteForceOptions{
		{Window: -1}, {FreeFailures: -1}, {BanAfter: -2}, {MaxTracked: -1},
		{BanAfter: maxBanAfter + 1}, {BanFor: time.Hour, MaxBan: time.Minute},
	} {
		if _, err := NewBruteForce(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestBruteForceAdmissionSeam(t *testing.T) {
	var adm Admission
	b, _ := newBF(t, BruteForceOptions{})
	adm = b
	cl := &Client{Listener: "tcp", Remote: netip.AddrPortFrom(attacker, 5000), Username: "alice"}
	for range 19 {
		b.Failed(attacker, "alice")
	}
	if rc := adm.Authenticated(cl); rc != 0 {
		t.Fatal(rc)
	}
	b.Failed(attacker, "alice")
	if rc := adm.Connect(cl); rc != 0 {
		t.Fatalf("success did not reset: %v", rc)
	}
	for range 19 {
		b.Failed(attacker, "alice")
	}
	if rc := adm.Connect(cl); rc != packet.Banned {
		t.Fatalf("Connect = %v", rc)
	}
	adm.Closed(cl)
}

func TestBruteForceLongUserNamesBounded(t *testing.T) {
	b, _ := newBF(t, BruteForceOptions{})
	long := strings.Repeat("x", 60000)
	for range 20 {
		b.Failed(other, long)
	}
	if rc := b.Before(attacker, long); rc != packet.Banned {
		t.Fatalf("long name: %v", rc)
	}
	if rc := b.Before(attacker, long+"y"); rc != 0 {
		t.Fatalf("different long name: %v", rc)
	}
	for _, ban := range b.Bans() {
		if len(ban.Target) > 100 {
			t.Fatalf("long target kept: %d bytes", len(ban.Target))
		}
		if strings.HasPrefix(ban.Target, "user:") && !b.Unban(ban.Target) {
			t.Fatal("cannot unban by reported target")
		}
	}
}

func TestBruteForceConcurrent(t *testing.T) {
	b, c := newBF(t, BruteForceOptions{MaxTracked: 500, GlobalPerSecond: 1 << 20, BansFile: filepath.Join(t.TempDir(), "bans.json")})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				a := netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i % 7)})
				user := fmt.Sprintf("u%d", i%13)
				switch i % 5 {
				case 0:
					b.Succeeded(a, user)
				case 1:
					b.Before(a, user)
					b.Accept("tcp", netip.AddrPortFrom(a, 1))
				case 2:
					if i%100 == 2 {
						_ = b.Ban(fmt.Sprintf("10.%d.0.0/16", g), time.Minute, "t")
						b.Unban(fmt.Sprintf("10.%d.0.0/16", g))
					}
					b.Bans()
				default:
					b.Failed(a, user)
				}
				if g == 0 && i%50 == 0 {
					c.Add(time.Second)
				}
			}
		})
	}
	wg.Wait()
	checkBounds(t, b, 500)
}

func BenchmarkBruteForceBefore(b *testing.B) {
	bf, err := NewBruteForce(BruteForceOptions{})
	if err != nil {
		b.Fatal(err)
	}
	_ = bf.Ban("10.0.0.0/8", time.Hour, "")
	_ = bf.Ban("2001:db8::/32", time.Hour, "")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bf.Before(other, "alice")
		}
	})
}

// A ban written by another process (moat ban) is picked up by Reload and
// by Watch; failure counts survive a reload.
func TestBruteForceReloadsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bans.json")
	b, clock := newBF(t, BruteForceOptions{BansFile: file})
	cli, err := NewBruteForce(BruteForceOptions{BansFile: file, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("192.0.2.9")
	for range 3 {
		b.Failed(addr, "")
	}
	if err := cli.Ban("192.0.2.10", time.Hour, "operator"); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := b.Before(netip.MustParseAddr("192.0.2.10"), ""); got != packet.Banned {
		t.Fatalf("after Reload: %v, want banned", got)
	}
	b.mu.RLock()
	n := len(b.tracked)
	b.mu.RUnlock()
	if n != 1 {
		t.Fatalf("tracked failures after reload: %d, want 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Watch(ctx, 5*time.Millisecond); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if !cli.Unban("192.0.2.10") {
		t.Fatal("Unban found nothing")
	}
	poll.Until(t, 5*time.Second, "Watch did not pick up the lifted ban", func() bool {
		return b.Before(netip.MustParseAddr("192.0.2.10"), "") == 0
	})
	// A broken file keeps the bans in force.
	if err := cli.Ban("192.0.2.11", time.Hour, "x"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "Watch did not pick up the new ban", func() bool {
		return b.Before(netip.MustParseAddr("192.0.2.11"), "") == packet.Banned
	})
	if err := os.WriteFile(file, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
	if b.Before(netip.MustParseAddr("192.0.2.11"), "") != packet.Banned {
		t.Fatal("a broken file lifted the bans in force")
	}
}

// Gates: the first refusal wins, the longest delay applies, and a gate
// that admitted a client hears of its close when a later gate refuses.
func TestGates(t *testing.T) {
	a := &countGate{}
	b := &countGate{refuse: packet.QuotaExceeded, delay: time.Second}
	g := Gates{a, b}
	c := &Client{ClientID: "x"}
	if code := g.Connect(c); code != packet.QuotaExceeded {
		t.Fatalf("Connect %v", code)
	}
	if a.open != 0 {
		t.Fatalf("first gate still counts the refused client: %d", a.open)
	}
	if d := g.AuthFailed(c); d != time.Second {
		t.Fatalf("AuthFailed %v", d)
	}
	if code := (Gates{a}).Connect(c); code != 0 || a.open != 1 {
		t.Fatalf("Connect %v, open %d", code, a.open)
	}
	Gates{a}.Closed(c)
	if a.open != 0 {
		t.Fatalf("open %d after Closed", a.open)
	}
}

type countGate struct {
	Open
	refuse packet.ReasonCode
	delay  time.Duration
	open   int
}

func (g *countGate) Connect(*Client) packet.ReasonCode {
	if g.refuse != 0 {
		return g.refuse
	}
	g.open++
	return 0
}

func (g *countGate) Closed(*Client)                   { g.open-- }
func (g *countGate) AuthFailed(*Client) time.Duration { return g.delay }
