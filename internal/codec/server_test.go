package codec

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const uiOrigin = "http://localhost:8233"

func TestHandlerEncodesAndDecodesForTheWebUI(t *testing.T) {
	c := newCodec(t, "test keys", randomKey(t, "k1"))
	srv := httptest.NewServer(NewHandler(c, ServerOptions{CORSOrigins: []string{uiOrigin}, Namespaces: []string{"default"}}))
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
	t.Run("an oversized body is refused", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(make([]byte, MaxRequestBytes+1)))
		req.Header.Set("X-Namespace", "default")
		do(t, req, http.StatusBadRequest)
	})
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
