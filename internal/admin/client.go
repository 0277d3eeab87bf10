package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls the API on a local socket (the operator commands).
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns: 1,
	}
	return &Client{path: path, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Retained lists the retained messages matching filter, at most limit.
func (c *Client) Retained(ctx context.Context, filter string, limit int) (*RetainedList, error) {
	q := url.Values{"filter": {filter}, "limit": {strconv.Itoa(limit)}}
	var out RetainedList
	return &out, c.call(ctx, http.MethodGet, "/v1/retained", q, nil, &out)
}

// PurgeRetained deletes the retained messages matching filter.
func (c *Client) PurgeRetained(ctx context.Context, filter string) (int, error) {
	var out Purged
	err := c.call(ctx, http.MethodDelete, "/v1/retained", url.Values{"filter": {filter}}, nil, &out)
	return out.Purged, err
}

// call makes one request and decodes its JSON answer into out.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://moat"+path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w %s (is moat serve running with this data directory?): %v", ErrNoBroker, c.path, op.Err)
		}
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(answer, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("broker answered %s", resp.Status)
	}
	return json.Unmarshal(answer, out)
}

// ErrNoBroker wraps the error of a client that found no broker on its
// socket, so that a command can fall back to working on files.
var ErrNoBroker = errors.New("no broker answers on the admin socket")

// Bans lists the active bans.
func (c *Client) Bans(ctx context.Context) ([]BanInfo, error) {
	var out struct {
		Bans []BanInfo `json:"bans"`
	}
	err := c.call(ctx, http.MethodGet, "/v1/bans", nil, nil, &out)
	return out.Bans, err
}

// Ban bans target for d.
func (c *Client) Ban(ctx context.Context, target string, d time.Duration, reason string) error {
	body, _ := json.Marshal(BanRequest{Target: target, For: d.String(), Reason: reason})
	return c.call(ctx, http.MethodPost, "/v1/bans", nil, body, &struct{}{})
}

// Unban lifts target's ban.
func (c *Client) Unban(ctx context.Context, target string) error {
	// A CIDR prefix keeps its slash: the API refuses encoded slashes.
	return c.call(ctx, http.MethodDelete, "/v1/bans/"+strings.ReplaceAll(url.PathEscape(target), "%2F", "/"), nil, nil, &struct{}{})
}
