package codec

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// MaxRequestBytes bounds a /encode or /decode request body. Temporal refuses
// payloads over 2 MB; the Web UI sends one event's payloads at a time.
const MaxRequestBytes = 8 << 20

// ServerOptions says whom the codec server answers.
type ServerOptions struct {
	// CORSOrigins are the browser origins (the Web UI's, "http://localhost:8233")
	// allowed to call the endpoints. A request from any other origin is refused;
	// one without an Origin header (the temporal CLI, curl) is served.
	CORSOrigins []string
	// Namespaces, when set, are the Temporal namespaces served: a request whose
	// X-Namespace header names another, or none, is refused.
	Namespaces []string
}

// NewHandler serves Temporal's remote codec endpoints, POST .../encode and
// POST .../decode (JSON of temporal.api.common.v1.Payloads; any path prefix, so
// a proxy may mount them under one), with CORS preflights for the Web UI.
func NewHandler(c *Codec, opts ServerOptions) http.Handler {
	endpoints := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			if !slices.Contains(opts.CORSOrigins, origin) {
				http.Error(w, fmt.Sprintf("origin %s is not allowed: add it with --cors-origin", origin), http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if len(opts.Namespaces) > 0 {
			ns := r.Header.Get("X-Namespace")
			if !slices.Contains(opts.Namespaces, ns) {
				http.Error(w, fmt.Sprintf("namespace %q is not served here (serving %s)", ns, strings.Join(opts.Namespaces, ", ")), http.StatusForbidden)
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
		endpoints.ServeHTTP(w, r)
	})
}
