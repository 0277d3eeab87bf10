package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
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
	return &out, c.call(ctx, http.MethodGet, "/v1/retained", q, &out)
}

// PurgeRetained deletes the retained messages matching filter.
func (c *Client) PurgeRetained(ctx context.Context, filter string) (int, error) {
	var out Purged
	err := c.call(ctx, http.MethodDelete, "/v1/retained", url.Values{"filter": {filter}}, &out)
	return out.Purged, err
}

// call makes one request and decodes its JSON answer into out.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://moat"+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("no broker answers on %s (is moat serve running with this data directory?): %w", c.path, op.Err)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("broker answered %s", resp.Status)
	}
	return json.Unmarshal(body, out)
}
