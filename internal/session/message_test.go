package session

import (
	"testing"
	"time"
)

func TestMessageExpiry(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name        string
		expiry      time.Time
		wantExpired bool
		wantRemain  uint32
	}{
		{"never expires", time.Time{}, false, 0},
		{"whole seconds left", now.Add(10 * time.Second), false, 10},
		{"fraction rounds up", now.Add(1500 * time.Millisecond), false, 2},
		{"one nanosecond left is one second", now.Add(time.Nanosecond), false, 1},
		{"just under a second", now.Add(time.Second - time.Nanosecond), false, 1},
		{"just over a second", now.Add(time.Second + time.Nanosecond), false, 2},
		{"expires exactly now", now, true, 0},
		{"expired a while ago", now.Add(-time.Hour), true, 0},
		{"long interval", now.Add(49 * 24 * time.Hour), false, 49 * 24 * 3600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &Message{Topic: "t", Created: now.Add(-time.Minute), Expiry: tc.expiry}
			if got := m.Expired(now); got != tc.wantExpired {
				t.Errorf("Expired = %v, want %v", got, tc.wantExpired)
			}
			got := m.RemainingExpiry(now)
			if got != tc.wantRemain {
				t.Errorf("RemainingExpiry = %d, want %d", got, tc.wantRemain)
			}
			// A live message with an expiry never goes out with 0.
			if !tc.expiry.IsZero() && !m.Expired(now) && got == 0 {
				t.Error("live message would be forwarded with expiry 0")
			}
		})
	}
}

func TestMessageSize(t *testing.T) {
	tests := []struct {
		topic   string
		payload int
		want    int
	}{
		{"", 0, 64},
		{"a/b", 0, 67},
		{"a/b", 1000, 1067},
	}
	for _, tc := range tests {
		m := &Message{Topic: tc.topic, Payload: make([]byte, tc.payload)}
		if got := m.Size(); got != tc.want {
			t.Errorf("Size(%q, %d bytes) = %d, want %d", tc.topic, tc.payload, got, tc.want)
		}
	}
}
