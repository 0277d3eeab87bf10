// Package admin serves the broker's administration API over HTTP: today on
// a local Unix socket in the data directory, which `moat retained` and
// other operator commands use; its handler is the one the network admin
// listener will serve behind its own authentication.
//
// The socket is the operator's: it is created mode 0600 and, on Linux,
// every connection's peer must run as the broker's own user or root
// (SO_PEERCRED), so that a socket briefly readable before its chmod, or a
// data directory with loose permissions, does not open it to other users.
//
// Every request that changes state is audited; every request is bounded in
// size and time, and answers JSON: the result, or {"error": "..."} with a
// 4xx or 5xx status.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/topic"
)

// Broker is what the API asks of the broker: its query functions.
type Broker interface {
	Retained(filter string, limit int) ([]broker.RetainedInfo, int)
	PurgeRetained(filter string) (int, error)
	Clients(q broker.ClientQuery) ([]broker.ClientInfo, bool)
	Subscriptions(clientID string) ([]broker.SubscriptionInfo, bool)
	Kick(clientID, why string) bool
}

var _ Broker = (*broker.Broker)(nil)

// Limits of a request.
const (
	// MaxListed bounds the entries one list answer carries.
	MaxListed = 10000
	// maxBody bounds a request body; the API takes its arguments in the
	// query string.
	maxBody = 64 << 10
)

// RetainedList is the answer to GET /v1/retained.
type RetainedList struct {
	Total    int                   `json:"total"` // matching messages, listed or not
	Messages []broker.RetainedInfo `json:"messages"`
}

// Purged is the answer to DELETE /v1/retained.
type Purged struct {
	Purged int `json:"purged"`
}

// Options are what the API serves. Broker is required; the others may be
// nil, which leaves their endpoints answering 404.
type Options struct {
	Broker Broker
	Audit  audit.Sink
	Log    *slog.Logger
	// Metrics serves GET /metrics (Prometheus).
	Metrics http.Handler
	// Ready reports whether the broker serves clients (GET /readyz).
	Ready func() bool
	// Bans manages the brute-force defence's bans.
	Bans Bans
	// Reload reloads the configuration and the files it names.
	Reload func() error
	// AuditFile is the live audit log, for GET /v1/audit.
	AuditFile string
}

// Bans is the ban list as the API manages it.
type Bans interface {
	List() []BanInfo
	Ban(target string, d time.Duration, reason string) error
	Unban(target string) bool
}

// BanInfo is one active ban.
type BanInfo struct {
	Target   string    `json:"target"`
	Until    time.Time `json:"until"`
	Reason   string    `json:"reason"`
	Offences int       `json:"offences"`
}

// Handler answers the API, recording every call that is not monitoring
// (health, readiness, metrics) on the audit sink with who made it.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

// NewHandler builds the API's handler.
func NewHandler(o Options) *Handler {
	if o.Audit == nil {
		o.Audit = audit.Discard{}
	}
	h := &Handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.mux.HandleFunc("GET /readyz", h.ready)
	if o.Metrics != nil {
		h.mux.Handle("GET /metrics", o.Metrics)
	}
	h.mux.HandleFunc("GET /v1/clients", h.listClients)
	h.mux.HandleFunc("GET /v1/clients/{id}/subscriptions", h.clientSubscriptions)
	h.mux.HandleFunc("POST /v1/clients/{id}/kick", h.kick)
	if o.AuditFile != "" {
		h.mux.HandleFunc("GET /v1/audit", h.auditTail)
	}
	h.mux.HandleFunc("GET /v1/retained", h.listRetained)
	h.mux.HandleFunc("DELETE /v1/retained", h.purgeRetained)
	if o.Bans != nil {
		h.mux.HandleFunc("GET /v1/bans", h.listBans)
		h.mux.HandleFunc("POST /v1/bans", h.addBan)
		h.mux.HandleFunc("DELETE /v1/bans/{target...}", h.removeBan)
	}
	if o.Reload != nil {
		h.mux.HandleFunc("POST /v1/reload", h.reload)
	}
	return h
}

// monitoring are the read-only paths that are neither authenticated on
// request of the operator (admin.public_metrics) nor audited.
var monitoring = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if p := r.URL.EscapedPath(); strings.Contains(p, "..") || strings.Contains(p, "//") || strings.Contains(p, "%2f") ||
		strings.Contains(p, "%2F") || strings.Contains(p, "%2e") || strings.Contains(p, "%2E") {
		// No path tricks: names never need them, and the router would
		// answer them with a redirect instead of a refusal.
		h.o.Audit.Record(audit.Event{Kind: audit.AdminAction, Identity: operator(r),
			Detail: fmt.Sprintf("%s %q: 400: path refused", r.Method, p)})
		writeError(w, http.StatusBadRequest, fmt.Errorf("path %q: no \"..\", \"//\" or encoded slashes or dots", p))
		return
	}
	if monitoring[r.URL.Path] {
		h.mux.ServeHTTP(w, r)
		return
	}
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	note := &callNote{}
	h.mux.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), noteKey{}, note)))
	detail := fmt.Sprintf("%s %s: %d", r.Method, r.URL.Path, rec.status)
	if note.s != "" {
		detail += ": " + note.s
	}
	h.o.Audit.Record(audit.Event{Kind: audit.AdminAction, Identity: operator(r), Detail: detail})
	if h.o.Log != nil && r.Method != http.MethodGet {
		h.o.Log.Info("admin call", "by", operator(r), "call", detail)
	}
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// callNote carries what a handler wants in the call's audit record.
type callNote struct{ s string }

type noteKey struct{}

// noteCall adds detail to the call's audit record.
func noteCall(r *http.Request, format string, a ...any) {
	if n, ok := r.Context().Value(noteKey{}).(*callNote); ok {
		n.s = fmt.Sprintf(format, a...)
	}
}

func (h *Handler) ready(w http.ResponseWriter, _ *http.Request) {
	if h.o.Ready != nil && !h.o.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *Handler) listBans(w http.ResponseWriter, _ *http.Request) {
	bans := h.o.Bans.List()
	if bans == nil {
		bans = []BanInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"bans": bans})
}

// BanRequest is the body of POST /v1/bans.
type BanRequest struct {
	Target string `json:"target"`
	For    string `json:"for"` // a Go duration, e.g. "24h"
	Reason string `json:"reason"`
}

func (h *Handler) addBan(w http.ResponseWriter, r *http.Request) {
	var req BanRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	d, err := time.ParseDuration(req.For)
	if err != nil || d <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf(`"for" %q: want a positive duration such as "24h"`, req.For))
		return
	}
	if req.Reason == "" {
		req.Reason = "banned by an operator"
	}
	if len(req.Reason) > 256 {
		writeError(w, http.StatusBadRequest, errors.New(`"reason" is longer than 256 bytes`))
		return
	}
	if err := h.o.Bans.Ban(req.Target, d, req.Reason); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	noteCall(r, "banned %q for %s", req.Target, d)
	writeJSON(w, http.StatusOK, map[string]string{"banned": req.Target})
}

func (h *Handler) removeBan(w http.ResponseWriter, r *http.Request) {
	target := r.PathValue("target")
	if !h.o.Bans.Unban(target) {
		writeError(w, http.StatusNotFound, fmt.Errorf("%q is not banned", target))
		return
	}
	noteCall(r, "lifted the ban of %q", target)
	writeJSON(w, http.StatusOK, map[string]string{"unbanned": target})
}

func (h *Handler) reload(w http.ResponseWriter, r *http.Request) {
	if err := h.o.Reload(); err != nil {
		noteCall(r, "refused: %v", err)
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
}

// decodeJSON decodes a request body strictly: one object, known fields.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("body larger than %d bytes", tooBig.Limit)
		}
		return fmt.Errorf("body: %w", err)
	}
	if dec.More() {
		return errors.New("body: more than one JSON value")
	}
	// The rest must be white space, and the whole within the bound.
	var tooBig *http.MaxBytesError
	if _, err := io.Copy(io.Discard, io.MultiReader(dec.Buffered(), r.Body)); errors.As(err, &tooBig) {
		return fmt.Errorf("body larger than %d bytes", tooBig.Limit)
	}
	return nil
}

// filterArg reads and checks the filter query argument.
func filterArg(r *http.Request) (string, error) {
	f := r.URL.Query().Get("filter")
	if f == "" {
		return "", errors.New(`missing "filter": a topic filter such as "sensors/#"`)
	}
	if err := topic.ValidateFilter(f, topic.Limits{}); err != nil {
		return "", fmt.Errorf("filter %q: %w", f, err)
	}
	if _, _, shared, _ := topic.ParseShared(f); shared {
		return "", fmt.Errorf("filter %q: a shared-subscription filter names no retained topics", f)
	}
	return f, nil
}

func (h *Handler) listRetained(w http.ResponseWriter, r *http.Request) {
	f, err := filterArg(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	limit := 1000
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListed {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want 1 to %d", s, MaxListed))
			return
		}
		limit = n
	}
	list, total := h.o.Broker.Retained(f, limit)
	if list == nil {
		list = []broker.RetainedInfo{}
	}
	writeJSON(w, http.StatusOK, RetainedList{Total: total, Messages: list})
}

func (h *Handler) purgeRetained(w http.ResponseWriter, r *http.Request) {
	f, err := filterArg(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	n, err := h.o.Broker.PurgeRetained(f)
	noteCall(r, "purged %d retained message(s) matching %q", n, f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("%d deleted, then the store failed: %w", n, err))
		return
	}
	writeJSON(w, http.StatusOK, Purged{Purged: n})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// ClientList is the answer to GET /v1/clients.
type ClientList struct {
	Clients []broker.ClientInfo `json:"clients"`
	// Next, when set, is the after= value of the next page.
	Next string `json:"next,omitempty"`
}

func (h *Handler) listClients(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := limitArg(q.Get("limit"), 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	cq := broker.ClientQuery{Prefix: q.Get("prefix"), After: q.Get("after"), Limit: limit,
		Connected: q.Get("connected") == "true"}
	list, more := h.o.Broker.Clients(cq)
	out := ClientList{Clients: list}
	if out.Clients == nil {
		out.Clients = []broker.ClientInfo{}
	}
	if more && len(list) > 0 {
		out.Next = list[len(list)-1].ClientID
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) clientSubscriptions(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	subs, ok := h.o.Broker.Subscriptions(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("no session %q", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"client_id": id, "subscriptions": subs})
}

func (h *Handler) kick(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !h.o.Broker.Kick(id, "disconnected by an administrator ("+operator(r)+")") {
		writeError(w, http.StatusNotFound, fmt.Errorf("client %q is not connected", id))
		return
	}
	noteCall(r, "kicked %q", id)
	writeJSON(w, http.StatusOK, map[string]string{"kicked": id})
}

// auditTail answers the last records of the live audit log (tail=N, at
// most 1000), as the JSON lines themselves.
func (h *Handler) auditTail(w http.ResponseWriter, r *http.Request) {
	n, err := limitArg(r.URL.Query().Get("tail"), 100)
	if err != nil || n > 1000 {
		writeError(w, http.StatusBadRequest, errors.New("tail: want 1 to 1000"))
		return
	}
	lines, err := tailLines(h.o.AuditFile, n)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	for _, l := range lines {
		w.Write(l)
		w.Write([]byte{'\n'})
	}
}

// tailLines returns the last n complete lines of the file, reading at
// most its last 8 MiB.
func tailLines(path string, n int) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := min(st.Size(), 8<<20)
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, st.Size()-size); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i] // drop a line being written
	} else {
		return nil, nil
	}
	lines := bytes.Split(buf, []byte{'\n'})
	if size < st.Size() && len(lines) > 0 {
		lines = lines[1:] // the first may be cut
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

// limitArg parses a positive count argument, def when empty.
func limitArg(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxListed {
		return 0, fmt.Errorf("%q: want a number from 1 to %d", s, MaxListed)
	}
	return n, nil
}
