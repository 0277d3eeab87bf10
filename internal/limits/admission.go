// Package limits decides whether connections are admitted: the Admission
// seam the broker and the listeners call, and (in later issues) IP filters,
// bans, connection quotas and rate limits behind it.
package limits

import (
	"net/netip"
	"time"

	"github.com/moatmq/moat/internal/auth"
	"github.com/moatmq/moat/internal/packet"
)

// Client describes a connection at admission time. Identity is nil before
// authentication.
type Client struct {
	Listener string
	Remote   netip.AddrPort
	Version  packet.Version
	ClientID string
	Username string
	Identity *auth.Identity
}

// Admission is consulted at each gate a connection passes. Implementations
// are safe for concurrent use and fast; a refusal is final for that
// connection.
type Admission interface {
	// Accept runs when a connection is accepted, before any TLS work or
	// read. False closes it at once.
	Accept(listener string, remote netip.AddrPort) bool
	// Released runs once for every connection Accept admitted, when its
	// socket closes, so that counted connections are released.
	Released(listener string, remote netip.AddrPort)
	// Connect runs after CONNECT is decoded and before authentication.
	// A non-zero code refuses with that CONNACK reason (0x89 server busy,
	// 0x8A banned, 0x9F connection rate exceeded, ...).
	Connect(c *Client) packet.ReasonCode
	// Authenticated runs after authentication, with the identity; a
	// non-zero code refuses (per-identity quotas, session ownership).
	Authenticated(c *Client) packet.ReasonCode
	// AuthFailed runs when authentication refuses a client that passed
	// Connect. It returns how long the broker waits before sending the
	// refusal (brute-force slow-down); zero sends it at once.
	AuthFailed(c *Client) time.Duration
	// Closed runs once for every client that passed Connect, when its
	// connection ends, so that counted resources are released.
	Closed(c *Client)
}

// Open admits everything. It is the broker core's admission until the
// firewall, bans and quotas land.
type Open struct{}

var _ Admission = Open{}

// Accept implements Admission.
func (Open) Accept(string, netip.AddrPort) bool { return true }

// Released implements Admission.
func (Open) Released(string, netip.AddrPort) {}

// Connect implements Admission.
func (Open) Connect(*Client) packet.ReasonCode { return 0 }

// Authenticated implements Admission.
func (Open) Authenticated(*Client) packet.ReasonCode { return 0 }

// AuthFailed implements Admission.
func (Open) AuthFailed(*Client) time.Duration { return 0 }

// Closed implements Admission.
func (Open) Closed(*Client) {}

// Gates runs several admissions in order: the first refusal wins, and
// Closed reaches exactly the gates whose Connect admitted the client. The
// longest AuthFailed delay applies.
type Gates []Admission

var _ Admission = Gates(nil)

// Accept implements Admission. When a later gate refuses, the earlier
// ones that admitted the connection release it.
func (g Gates) Accept(listener string, remote netip.AddrPort) bool {
	for i, a := range g {
		if !a.Accept(listener, remote) {
			for _, prev := range g[:i] {
				prev.Released(listener, remote)
			}
			return false
		}
	}
	return true
}

// Released implements Admission.
func (g Gates) Released(listener string, remote netip.AddrPort) {
	for _, a := range g {
		a.Released(listener, remote)
	}
}

// Connect implements Admission. When a later gate refuses, the earlier
// ones that admitted the client are told it closed.
func (g Gates) Connect(c *Client) packet.ReasonCode {
	for i, a := range g {
		if code := a.Connect(c); code != 0 {
			for _, prev := range g[:i] {
				prev.Closed(c)
			}
			return code
		}
	}
	return 0
}

// Authenticated implements Admission.
func (g Gates) Authenticated(c *Client) packet.ReasonCode {
	for _, a := range g {
		if code := a.Authenticated(c); code != 0 {
			return code
		}
	}
	return 0
}

// AuthFailed implements Admission.
func (g Gates) AuthFailed(c *Client) time.Duration {
	var d time.Duration
	for _, a := range g {
		d = max(d, a.AuthFailed(c))
	}
	return d
}

// Closed implements Admission.
func (g Gates) Closed(c *Client) {
	for _, a := range g {
		a.Closed(c)
	}
}
