// Package httpauth asks an HTTP service (a webhook) who a client is and
// what it may do.
//
// The Backend is an auth.Authenticator named "http": it POSTs the CONNECT
// credentials as JSON to AuthURL and maps a 200 answer of
// {"result":"allow"} or {"result":"deny"} to a decision. When ACLURL is
// set it is also an acl.Authorizer that POSTs each (subject, action,
// topic, QoS) question there.
//
// Everything but an explicit, well-formed answer denies: a non-200 status,
// a redirect (never followed), a timeout, a body over MaxResponseSize,
// malformed JSON or an unknown result. Backend failures deny with
// packet.NotAuthorized (0x87); an explicit deny gives
// packet.BadUserNameOrPassword (0x86). The number of requests in flight is
// bounded; beyond MaxConcurrent a question is denied at once.
//
// Answers are cached in bounded LRU caches, allows for CacheTTL and
// denies for DenyTTL; failures are never cached. Cache keys are an HMAC,
// under a random per-process key, of every field sent, so the password is
// part of the key but never stored.
//
// The password travels only in the request body. It never appears in a
// Result Detail, an ACL Rule, an error or a log record; neither do the
// configured header values, which typically hold a bearer token.
package httpauth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moatmq/moat/internal/acl"
	"github.com/moatmq/moat/internal/auth"
)

// Defaults and bounds for Options.
const (
	DefaultTimeout       = 2 * time.Second
	MaxTimeout           = 30 * time.Second
	DefaultCacheTTL      = 60 * time.Second
	DefaultDenyTTL       = 5 * time.Second
	DefaultCacheSize     = 10000
	MaxCacheSize         = 1 << 20
	DefaultMaxConcurrent = 64
	MaxConcurrentLimit   = 4096
	// MaxResponseSize bounds a backend answer; a larger one denies.
	MaxResponseSize = 64 << 10
	// maxHeaderValue bounds a configured header value.
	maxHeaderValue = 8 << 10
)

// Header is a static HTTP header sent with every backend request. Exactly
// one of Value and File is set. File names a file whose content, with
// surrounding white space trimmed, is the value: the way to configure a
// secret such as "Bearer <token>". Values are never logged.
type Header struct {
	Name  string
	Value string
	File  string
}

// Options configure a Backend. Only AuthURL is required.
type Options struct {
	// AuthURL is the endpoint asked at CONNECT. It must be https, or http
	// to a loopback address ("localhost", 127.0.0.0/8, ::1) unless
	// AllowInsecureHTTP is set. It may not carry user information.
	AuthURL string
	// ACLURL, when set, is the endpoint asked by Authorize, under the same
	// rules as AuthURL. Without it the Backend is no Authorizer.
	ACLURL string
	// AllowInsecureHTTP permits plain http to non-loopback hosts: the
	// password then crosses the network in clear text.
	AllowInsecureHTTP bool

	// Timeout bounds one backend request, connection and TLS handshake
	// included. Zero means DefaultTimeout; it may not exceed MaxTimeout.
	Timeout time.Duration
	// CacheTTL is how long an allow is remembered. Zero means
	// DefaultCacheTTL; a negative value disables caching of allows.
	CacheTTL time.Duration
	// DenyTTL is how long an explicit deny is remembered. Zero means
	// DefaultDenyTTL; a negative value disables caching of denies.
	DenyTTL time.Duration
	// CacheSize bounds each of the two caches (authentication and ACL),
	// least recently used entries leaving first. Zero means
	// DefaultCacheSize; a negative value disables both caches.
	CacheSize int
	// MaxConcurrent bounds the backend requests in flight, authentication
	// and ACL together; a question beyond it is denied at once. Zero means
	// DefaultMaxConcurrent; it may not exceed MaxConcurrentLimit.
	MaxConcurrent int

	// CAFile is a PEM bundle of the CAs that may sign the backend's
	// certificate. When set it replaces the system roots. https only.
	CAFile string
	// ClientCertFile and ClientKeyFile, set together, are the PEM
	// certificate and key presented to the backend (mutual TLS). https
	// only.
	ClientCertFile string
	ClientKeyFile  string
	// Headers are sent with every request; a repeated name sends each
	// value.
	Headers []Header

	// Now is the clock of the caches, for tests. Nil means time.Now.
	Now func() time.Time
	// Logger receives backend failures, rate-limited. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// endpoint is a validated backend URL.
type endpoint struct {
	url      string // as configured, for requests
	redacted string // scheme://host/path, for logs and details
	https    bool
	insecure bool // plain http to a host that is not loopback
}

// Backend is the HTTP authenticator and authorizer. It is safe for
// concurrent use. Its configuration is immutable after New; the caches
// and the failure log have their own locks, which are never held together
// nor across a backend request.
type Backend struct {
	authURL  endpoint
	aclURL   *endpoint // nil without ACLURL
	timeout  time.Duration
	allowTTL time.Duration
	denyTTL  time.Duration
	headers  http.Header
	client   *http.Client
	slots    chan struct{} // request semaphore; a send takes a slot
	now      func() time.Time
	log      *slog.Logger
	keys     *keyer

	authCache *cache[authEntry]
	aclCache  *cache[acl.Result]

	failMu         sync.Mutex
	failLogged     time.Time // when the last failure was logged
	failSuppressed int       // failures not logged since then
}

var (
	_ auth.Authenticator = (*Backend)(nil)
	_ acl.Authorizer     = (*Backend)(nil)
)

// New validates o, reads the CA, client certificate and header files and
// returns a Backend. It sends nothing: an unreachable backend is found at
// the first question.
func New(o Options) (*Backend, error) {
	errs := []error{applyDefaults(&o)}
	authURL, err := parseEndpoint("auth_url", o.AuthURL, &o)
	errs = append(errs, err)
	var aclURL *endpoint
	if o.ACLURL != "" {
		u, err := parseEndpoint("acl_url", o.ACLURL, &o)
		errs = append(errs, err)
		aclURL = &u
	}
	if (o.CAFile != "" || o.ClientCertFile != "") && !authURL.https && (aclURL == nil || !aclURL.https) {
		errs = append(errs, errors.New("httpauth: ca_file and client certificates need an https URL"))
	}
	headers, err := loadHeaders(o.Headers)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	client, err := newClient(&o)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("httpauth: cache key: %w", err)
	}
	b := &Backend{
		authURL:  authURL,
		aclURL:   aclURL,
		timeout:  o.Timeout,
		allowTTL: o.CacheTTL,
		denyTTL:  o.DenyTTL,
		headers:  headers,
		client:   client,
		slots:    make(chan struct{}, o.MaxConcurrent),
		now:      o.Now,
		log:      o.Logger,
		keys:     newKeyer(key),
	}
	if o.CacheSize > 0 && (o.CacheTTL > 0 || o.DenyTTL > 0) {
		b.authCache = newCache[authEntry](o.CacheSize)
		b.aclCache = newCache[acl.Result](o.CacheSize)
	}
	for _, e := range []*endpoint{&b.authURL, b.aclURL} {
		if e != nil && e.insecure {
			b.log.Warn("http auth backend reached over plain http: passwords cross the network in clear text",
				"url", e.redacted)
		}
	}
	return b, nil
}

func applyDefaults(o *Options) error {
	var errs []error
	switch {
	case o.Timeout == 0:
		o.Timeout = DefaultTimeout
	case o.Timeout < 0 || o.Timeout > MaxTimeout:
		errs = append(errs, fmt.Errorf("httpauth: timeout %v outside 0..%v", o.Timeout, MaxTimeout))
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.DenyTTL == 0 {
		o.DenyTTL = DefaultDenyTTL
	}
	switch {
	case o.CacheSize == 0:
		o.CacheSize = DefaultCacheSize
	case o.CacheSize > MaxCacheSize:
		errs = append(errs, fmt.Errorf("httpauth: cache_size %d above %d", o.CacheSize, MaxCacheSize))
	}
	switch {
	case o.MaxConcurrent == 0:
		o.MaxConcurrent = DefaultMaxConcurrent
	case o.MaxConcurrent < 0 || o.MaxConcurrent > MaxConcurrentLimit:
		errs = append(errs, fmt.Errorf("httpauth: max_concurrent %d outside 1..%d", o.MaxConcurrent, MaxConcurrentLimit))
	}
	if (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		errs = append(errs, errors.New("httpauth: client_cert_file and client_key_file must be set together"))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// parseEndpoint checks one backend URL against the transport rules of o.
func parseEndpoint(field, raw string, o *Options) (endpoint, error) {
	if raw == "" {
		return endpoint{}, fmt.Errorf("httpauth: %s is required", field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("httpauth: %s: not a URL", field)
	}
	red := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	switch {
	case u.User != nil:
		return endpoint{}, fmt.Errorf("httpauth: %s: user information in the URL is refused; send credentials with a header file", field)
	case u.Host == "" || u.Hostname() == "":
		return endpoint{}, fmt.Errorf("httpauth: %s %s: no host", field, red)
	case u.Fragment != "":
		return endpoint{}, fmt.Errorf("httpauth: %s %s: a fragment is not allowed", field, red)
	case u.Scheme == "https":
		return endpoint{url: raw, redacted: red, https: true}, nil
	case u.Scheme == "http":
		insecure := !loopbackHost(u.Hostname())
		if insecure && !o.AllowInsecureHTTP {
			return endpoint{}, fmt.Errorf("httpauth: %s %s: plain http is allowed only to loopback; use https or set allow_insecure_http", field, red)
		}
		return endpoint{url: raw, redacted: red, insecure: insecure}, nil
	default:
		return endpoint{}, fmt.Errorf("httpauth: %s %s: scheme must be https or http", field, red)
	}
}

// loopbackHost reports whether host is "localhost" or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// reservedHeaders are set by the Backend or the transport.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", "Transfer-Encoding", "Connection", "Accept"}

// loadHeaders validates hs and reads their files. Errors name the header
// and the file, never the value.
func loadHeaders(hs []Header) (http.Header, error) {
	out := make(http.Header, len(hs))
	var errs []error
	for i, h := range hs {
		where := fmt.Sprintf("httpauth: headers[%d]", i)
		if !validHeaderName(h.Name) {
			errs = append(errs, fmt.Errorf("%s: invalid header name %q", where, h.Name))
			continue
		}
		canon := http.CanonicalHeaderKey(h.Name)
		if containsFold(reservedHeaders, canon) {
			errs = append(errs, fmt.Errorf("%s: header %s is set by the backend client", where, canon))
			continue
		}
		v := h.Value
		switch {
		case (h.Value == "") == (h.File == ""):
			errs = append(errs, fmt.Errorf("%s (%s): set exactly one of value and file", where, canon))
			continue
		case h.File != "":
			b, err := os.ReadFile(h.File)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %w", where, canon, err))
				continue
			}
			v = strings.TrimSpace(string(b))
			if v == "" {
				errs = append(errs, fmt.Errorf("%s (%s): file %s is empty", where, canon, h.File))
				continue
			}
		}
		if len(v) > maxHeaderValue || !validHeaderValue(v) {
			errs = append(errs, fmt.Errorf("%s (%s): value has control characters or exceeds %d bytes", where, canon, maxHeaderValue))
			continue
		}
		out[canon] = append(out[canon], v)
	}
	return out, errors.Join(errs...)
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// Name implements auth.Authenticator.
func (b *Backend) Name() string { return "http" }

// Authorizer returns the Backend as an acl.Authorizer and true when ACLURL
// is set, and nil and false otherwise.
func (b *Backend) Authorizer() (acl.Authorizer, bool) {
	if b.aclURL == nil {
		return nil, false
	}
	return b, true
}

// Close releases idle connections to the backend. Questions asked after
// Close still work; they open new connections.
func (b *Backend) Close() error {
	b.client.CloseIdleConnections()
	return nil
}
