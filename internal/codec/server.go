package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
)

// MaxRequestBytes bounds a /encode or /decode request body; a larger one is
// answered 413. Temporal refuses payloads over 2 MB; the Web UI sends one
// event's payloads at a time.
const MaxRequestBytes = 8 << 20

// DefaultMaxConcurrent is how many requests are decoded at once unless
// ServerOptions says otherwise. Each holds its body (up to MaxRequestBytes) and
// the payloads decoded from it, so this bounds the memory a burst can take.
const DefaultMaxConcurrent = 16

// slotWait is how long a request waits for a decoding slot before it is
// answered 503. The Web UI asks again on its own; a browser tab should not hang.
const slotWait = 5 * time.Second

// ServerOptions says whom the codec server answers and how much it takes on.
type ServerOptions struct {
	// CORSOrigins are the browser origins (the Web UI's, "http://localhost:8233")
	// allowed to call the endpoints. A request from any other origin is refused;
	// one without an Origin header (the temporal CLI, curl) is served.
	CORSOrigins []string
	// Namespaces, when set, are the Temporal namespaces served: a request whose
	// X-Namespace header names another, or none, is refused. The header is the
	// client's own claim, not authentication: this keeps an honest Web UI of
	// another namespace from using these keys, and stops nobody who lies.
	Namespaces []string
	// ServeEncode serves /encode. Off, /encode is answered 404: it would encrypt
	// any plaintext a caller chooses with the payload key, and the Web UI needs
	// only /decode.
	ServeEncode bool
	// MaxConcurrent is how many requests are decoded at once; 0 means
	// DefaultMaxConcurrent. A request beyond it waits for a slot, up to 5
	// seconds, then is answered 503 with Retry-After.
	MaxConcurrent int
}

// NewHandler serves Temporal's remote codec endpoints, POST .../decode and,
// with ServeEncode, POST .../encode (JSON of temporal.api.common.v1.Payloads;
// any path prefix, so a proxy may mount them under one), with CORS preflights
// for the Web UI.
func NewHandler(c *Codec, opts ServerOptions) http.Handler {
	return newHandler(c, opts, waits{slot: slotWait})
}

// waits are the handler's timing, apart from ServerOptions so a test can
// shorten the wait for a slot and hold a slot for as long as it likes.
type waits struct {
	slot time.Duration
	// queued, when set, is called when a request finds every slot taken and
	// starts to wait.
	queued func(*http.Request)
	// holding, when set, is called with a slot held, before the body is read.
	holding func(*http.Request)
}

func newHandler(c *Codec, opts ServerOptions, wt waits) http.Handler {
	endpoints := converter.NewPayloadCodecHTTPHandler(c)
	maxConcurrent := opts.MaxConcurrent
	if maxConcurrent <= 0 {
		maxConcurrent = DefaultMaxConcurrent
	}
	slots := make(chan struct{}, maxConcurrent)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			if !slices.Contains(opts.CORSOrigins, origin) {
				http.Error(w, fmt.Sprintf("origin %s is not allowed: add it with --cors-origin", origin), http.StatusForbidden)
				return
			}
			// No Access-Control-Allow-Credentials: the server reads no cookies,
			// so a browser has no reason to send the user's.
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !opts.ServeEncode && strings.HasSuffix(r.URL.Path, "/encode") {
			http.Error(w, "/encode is not served: start codec-server with --serve-encode", http.StatusNotFound)
			return
		}
		if len(opts.Namespaces) > 0 {
			ns := r.Header.Get("X-Namespace")
			if !slices.Contains(opts.Namespaces, ns) {
				http.Error(w, fmt.Sprintf("namespace %q is not served here (serving %s)", ns, strings.Join(opts.Namespaces, ", ")), http.StatusForbidden)
				return
			}
		}
		// The slot is taken before the body is read, so a request waiting
		// for one holds no body in memory.
		if !acquire(r, slots, wt) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("codec server busy: %d requests being decoded", maxConcurrent), http.StatusServiceUnavailable)
			return
		}
		defer func() { <-slots }()
		if wt.holding != nil {
			wt.holding(r)
		}
		// Read here rather than in the SDK's handler, which answers every
		// read error 400, so an oversized body gets its own status.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
		if err != nil {
			if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
				http.Error(w, fmt.Sprintf("request body over %d bytes", tooBig.Limit), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, fmt.Sprintf("reading request body: %v", err), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		endpoints.ServeHTTP(w, r)
	})
}

// acquire takes a slot for r, waiting at most wt.slot and no longer than r's
// context lives (a client that gave up needs no answer).
func acquire(r *http.Request, slots chan struct{}, wt waits) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	if wt.queued != nil {
		wt.queued(r)
	}
	timer := time.NewTimer(wt.slot)
	defer timer.Stop()
	select {
	case slots <- struct{}{}:
		return true
	case <-timer.C:
		return false
	case <-r.Context().Done():
		return false
	}
}
