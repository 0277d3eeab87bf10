package httpauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// failLogEvery is the least time between two logged backend failures; the
// ones in between are counted and reported with the next.
const failLogEvery = 10 * time.Second

// newClient builds the HTTP client: no proxy, no redirects, TLS 1.2 or
// later with the configured roots and client certificate, and every phase
// bounded by the timeout.
func newClient(o *Options) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("httpauth: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("httpauth: ca_file %s: no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	if o.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.ClientCertFile, o.ClientKeyFile)
		if err != nil {
			// The error names the files; it never quotes the key.
			return nil, fmt.Errorf("httpauth: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy from the environment would see every password
		DialContext:            (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           o.MaxConcurrent,
		MaxIdleConnsPerHost:    o.MaxConcurrent,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // the 3xx answer is returned, and denies
		},
	}, nil
}

// post sends v as JSON to e and returns the body of a 200 answer. On any
// failure it returns a reason fit for a Detail or a log: it names the
// redacted URL and never quotes the request. The number of posts in flight
// is bounded by the slots; without a free slot post fails at once.
func (b *Backend) post(ctx context.Context, e *endpoint, v any) ([]byte, string) {
	select {
	case b.slots <- struct{}{}:
		defer func() { <-b.slots }()
	default:
		return nil, fmt.Sprintf("%d backend requests already in flight", cap(b.slots))
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, "encoding the request: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return nil, "building the request for " + e.redacted
	}
	req.Header.Set("User-Agent", "moat")
	for k, vs := range b.headers {
		req.Header[k] = vs // shared, never appended to
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, b.describe(e, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return nil, fmt.Sprintf("%s answered HTTP %d; redirects are not followed", e.redacted, resp.StatusCode)
		}
		return nil, fmt.Sprintf("%s answered HTTP %d", e.redacted, resp.StatusCode)
	}
	if resp.ContentLength > MaxResponseSize {
		return nil, fmt.Sprintf("%s answered more than %d bytes", e.redacted, MaxResponseSize)
	}
	out, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, "reading the answer: " + b.describe(e, err)
	}
	if len(out) > MaxResponseSize {
		return nil, fmt.Sprintf("%s answered more than %d bytes", e.redacted, MaxResponseSize)
	}
	return out, ""
}

// describe turns a transport error into a reason without the URL's query.
func (b *Backend) describe(e *endpoint, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s did not answer in time (timeout %v)", e.redacted, b.timeout)
	case errors.Is(err, context.Canceled):
		return "request to " + e.redacted + " canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("%s did not answer in time (timeout %v)", e.redacted, b.timeout)
		}
		err = ue.Err
	}
	return e.redacted + " unreachable: " + err.Error()
}

// logFailure logs a backend failure, at most once per failLogEvery; the
// failures in between are counted in "suppressed". reason never holds a
// secret (see post).
func (b *Backend) logFailure(kind, reason string) {
	now := b.now()
	b.failMu.Lock()
	if !b.failLogged.IsZero() && now.Sub(b.failLogged) < failLogEvery {
		b.failSuppressed++
		b.failMu.Unlock()
		return
	}
	n := b.failSuppressed
	b.failLogged, b.failSuppressed = now, 0
	b.failMu.Unlock()
	b.log.Warn("http auth backend failed; denying", "endpoint", kind, "reason", reason, "suppressed", n)
}
