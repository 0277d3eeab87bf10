// Package poll waits for conditions in tests without sleeping a fixed
// time. It imports nothing of Moat, so that any package's tests can use it.
package poll

import (
	"testing"
	"time"
)

// Until polls cond every 5 ms until it is true or timeout passes, then
// fails the test with msg.
func Until(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
