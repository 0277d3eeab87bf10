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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/moatmq/moat/internal/audit"
	"github.com/moatmq/moat/internal/broker"
	"github.com/moatmq/moat/internal/topic"
)

// Broker is what the API asks of the broker: its query functions.
type Broker interface {
	Retained(filter string, limit int) ([]broker.RetainedInfo, int)
	PurgeRetained(filter string) (int, error)
}

var _ Broker = (*broker.Broker)(nil)

// kindAdmin is the audit kind of an administrator's action.
const kindAdmin = audit.Kind("admin.action")

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

// Handler answers the API for b, recording changes on sink as done by who
// (the socket's "local operator", or an authenticated admin identity).
type Handler struct {
	Broker Broker
	Audit  audit.Sink
	Log    *slog.Logger
	mux    *http.ServeMux
}

// NewHandler builds the API's handler.
func NewHandler(b Broker, sink audit.Sink, log *slog.Logger) *Handler {
	if sink == nil {
		sink = audit.Discard{}
	}
	h := &Handler{Broker: b, Audit: sink, Log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/retained", h.listRetained)
	h.mux.HandleFunc("DELETE /v1/retained", h.purgeRetained)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	h.mux.ServeHTTP(w, r)
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
	list, total := h.Broker.Retained(f, limit)
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
	n, err := h.Broker.PurgeRetained(f)
	detail := fmt.Sprintf("purge retained %q: %d deleted", f, n)
	if err != nil {
		detail += "; store error: " + err.Error()
	}
	h.Audit.Record(audit.Event{Kind: kindAdmin, Identity: operator(r), Detail: detail})
	h.Log.Info("admin: retained messages purged", "filter", f, "purged", n, "by", operator(r))
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
