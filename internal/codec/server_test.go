package codec

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const uiOrigin = "http://localhost:8233"

func TestHandlerEncodesAndDecodesForTheWebUI(t *testing.T) {
	c := newCodec(t, "test keys", randomKey(t, "k1"))
	srv := httptest.NewServer(NewHandler(c, ServerOptions{CORSOrigins: []string{uiOrigin}, Namespaces: []string{"default"}, ServeEncode: true}))
	t.Cleanup(srv.Close)
	plain := jsonPayload(t)

	enc := post(t, srv.URL+"/encode", http.StatusOK, plain)
	if len(enc) != 1 || !IsEncrypted(enc[0]) || bytes.Contains(enc[0].Data, []byte(secretName)) {
		t.Fatalf("/encode gave %v", enc)
	}
	dec := post(t, srv.URL+"/decode", http.StatusOK, enc...)
	if len(dec) != 1 || !proto.Equal(dec[0], plain) {
		t.Fatalf("/decode gave %v, want %v", dec, plain)
	}
	if got := post(t, srv.URL+"/decode", http.StatusOK, plain); !proto.Equal(got[0], plain) {
		t.Errorf("/decode changed an unencrypted payload: %v", got)
	}

	t.Run("the Web UI's preflight is answered for its origin", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
		req.Header.Set("Origin", uiOrigin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
		resp := do(t, req, http.StatusNoContent)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
			t.Errorf("Access-Control-Allow-Origin %q", got)
		}
		if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "X-Namespace") || !strings.Contains(got, "Content-Type") {
			t.Errorf("Access-Control-Allow-Headers %q", got)
		}
	})
	t.Run("another origin is refused", func(t *testing.T) {
		req := payloadRequest(t, srv.URL+"/decode", enc...)
		req.Header.Set("Origin", "http://evil.example")
		resp := do(t, req, http.StatusForbidden)
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Error("CORS header sent to a refused origin")
		}
	})
	t.Run("another namespace is refused", func(t *testing.T) {
		req := payloadRequest(t, srv.URL+"/decode", enc...)
		req.Header.Set("X-Namespace", "other")
		do(t, req, http.StatusForbidden)
	})
	t.Run("a payload of an unknown key is a 400 naming the key", func(t *testing.T) {
		foreign := encodeOne(t, newCodec(t, "other keys", randomKey(t, "k9")), plain)
		req := payloadRequest(t, srv.URL+"/decode", foreign)
		resp := do(t, req, http.StatusBadRequest)
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "payload encrypted with key k9, which is not in test keys") {
			t.Errorf("body %q", body)
		}
	})
	t.Run("an oversized body is answered 413", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(make([]byte, MaxRequestBytes+1)))
		req.Header.Set("X-Namespace", "default")
		do(t, req, http.StatusRequestEntityTooLarge)
	})
}

// TestHandlerServesEncodeOnlyWhenAsked: /encode would encrypt any plaintext a
// caller chooses, so it is off unless ServeEncode; /decode is always served.
func TestHandlerServesEncodeOnlyWhenAsked(t *testing.T) {
	c := newCodec(t, "test keys", randomKey(t, "k1"))
	enc := encodeOne(t, c, jsonPayload(t))
	for _, tc := range []struct {
		name        string
		serveEncode bool
		encode      int
	}{
		{"without ServeEncode /encode is not found", false, http.StatusNotFound},
		{"with ServeEncode /encode encrypts", true, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(NewHandler(c, ServerOptions{CORSOrigins: []string{uiOrigin}, ServeEncode: tc.serveEncode}))
			t.Cleanup(srv.Close)
			req := payloadRequest(t, srv.URL+"/api/codec/encode", jsonPayload(t))
			req.Header.Set("Origin", uiOrigin)
			resp := do(t, req, tc.encode)
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
				t.Errorf("/encode answered %d without Access-Control-Allow-Origin (%q): the Web UI cannot read why", tc.encode, got)
			}
			if dec := post(t, srv.URL+"/api/codec/decode", http.StatusOK, enc); len(dec) != 1 || !proto.Equal(dec[0], jsonPayload(t)) {
				t.Errorf("/decode gave %v", dec)
			}
		})
	}
}

// TestHandlerAsksBrowsersForNoCredentials: the server reads no cookies, so it
// must not invite a browser to send the user's.
func TestHandlerAsksBrowsersForNoCredentials(t *testing.T) {
	c := newCodec(t, "test keys", randomKey(t, "k1"))
	srv := httptest.NewServer(NewHandler(c, ServerOptions{CORSOrigins: []string{uiOrigin}}))
	t.Cleanup(srv.Close)
	preflight, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	preflight.Header.Set("Origin", uiOrigin)
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	decode := payloadRequest(t, srv.URL+"/decode", encodeOne(t, c, jsonPayload(t)))
	decode.Header.Set("Origin", uiOrigin)
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"the preflight does not allow credentials", preflight, http.StatusNoContent},
		{"the answer to /decode does not allow credentials", decode, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, tc.req, tc.status)
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, uiOrigin)
			}
			if got, ok := resp.Header["Access-Control-Allow-Credentials"]; ok {
				t.Errorf("Access-Control-Allow-Credentials %q sent", got)
			}
		})
	}
}

// TestHandlerBoundsConcurrentRequests holds requests inside the handler (the
// holding hook) until the test lets them go, so which slots are taken is
// known, not guessed from timing.
func TestHandlerBoundsConcurrentRequests(t *testing.T) {
	const limit = 2
	c := newCodec(t, "test keys", randomKey(t, "k1"))
	enc := encodeOne(t, c, jsonPayload(t))

	t.Run("a request beyond the limit is answered 503 with Retry-After", func(t *testing.T) {
		h := startHolding(t, c, limit, 50*time.Millisecond)
		var first []<-chan int
		for range limit {
			first = append(first, h.start(t, enc))
			wait(t, h.held, "a request within the limit is held")
		}
		resp := do(t, payloadRequest(t, h.url+"/decode", enc), http.StatusServiceUnavailable)
		if got := resp.Header.Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After %q, want 1", got)
		}
		h.letGo()
		for _, status := range first {
			wantStatus(t, status, http.StatusOK, "a held request once let go")
		}
		do(t, payloadRequest(t, h.url+"/decode", enc), http.StatusOK)
	})
	t.Run("a request beyond the limit waits for a slot that frees", func(t *testing.T) {
		h := startHolding(t, c, limit, time.Hour)
		var first []<-chan int
		for range limit {
			first = append(first, h.start(t, enc))
			wait(t, h.held, "a request within the limit is held")
		}
		last := h.start(t, enc)
		wait(t, h.queued, "the request beyond the limit waits")
		h.letGo()
		for _, status := range append(first, last) {
			wantStatus(t, status, http.StatusOK, "a request once a slot is free")
		}
	})
}

// holding is a codec server whose first limit requests stay in the handler,
// each reported on held, until letGo (also run at cleanup, so a failed test
// does not leave Close waiting on them). A request beyond them is
// reported on queued if it has to wait for a slot, and is not held once it has
// one, so a limit that does not hold shows as a 200, not as a hang.
type holding struct {
	url     string
	held    chan struct{}
	queued  chan struct{}
	release chan struct{}
	letGo   func()
}

func startHolding(t *testing.T, c *Codec, limit int, slotWait time.Duration) *holding {
	t.Helper()
	h := &holding{held: make(chan struct{}, limit), queued: make(chan struct{}, 16), release: make(chan struct{})}
	var entered atomic.Int32
	srv := httptest.NewServer(newHandler(c, ServerOptions{MaxConcurrent: limit}, waits{
		slot:   slotWait,
		queued: func(*http.Request) { h.queued <- struct{}{} },
		holding: func(r *http.Request) {
			if entered.Add(1) > int32(limit) {
				return
			}
			h.held <- struct{}{}
			select {
			case <-h.release:
			case <-r.Context().Done():
			}
		},
	}))
	t.Cleanup(srv.Close)
	h.letGo = sync.OnceFunc(func() { close(h.release) })
	t.Cleanup(h.letGo)
	h.url = srv.URL
	return h
}

// start posts payloads to /decode in the background; the status arrives on
// the channel, 0 if the request failed.
func (h *holding) start(t *testing.T, payloads ...*commonpb.Payload) <-chan int {
	t.Helper()
	req := payloadRequest(t, h.url+"/decode", payloads...)
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	return status
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not after 10s", what)
	}
}

func wantStatus(t *testing.T, ch <-chan int, want int, what string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Errorf("%s: status %d, want %d", what, got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer after 10s", what)
	}
}

// post sends payloads as the Web UI does and returns the payloads answered.
func post(t *testing.T, url string, wantStatus int, payloads ...*commonpb.Payload) []*commonpb.Payload {
	t.Helper()
	req := payloadRequest(t, url, payloads...)
	req.Header.Set("Origin", uiOrigin)
	resp := do(t, req, wantStatus)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("Access-Control-Allow-Origin %q, want %q", got, uiOrigin)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s answered %q: %v", url, body, err)
	}
	return out.Payloads
}

func payloadRequest(t *testing.T, url string, payloads ...*commonpb.Payload) *http.Request {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	return req
}

func do(t *testing.T, req *http.Request, wantStatus int) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != wantStatus {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, wantStatus, body)
	}
	return resp
}
