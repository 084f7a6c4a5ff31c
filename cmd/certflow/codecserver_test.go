package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/certflow/certflow/internal/codec"
)

const webUIOrigin = "http://localhost:8233"

// TestCodecServerDecodesForTheWebUI runs `certflow codec-server` on a loopback
// port and calls /decode and the CORS preflight as the Web UI does.
func TestCodecServerDecodesForTheWebUI(t *testing.T) {
	keyLine := "k1:" + randomKeyBase64(t)
	base := startCodecServer(t, "--payload-key-file", writeKeyFile(t, keyLine),
		"--cors-origin", webUIOrigin, "--allow-namespace", "default")

	plain := plainPayload(t)
	encoded := encodeWith(t, keyLine, plain)
	if decoded := callCodec(t, base+"/decode", encoded); !proto.Equal(decoded, plain) {
		t.Fatalf("/decode answered %v, want %v", decoded, plain)
	}

	preflight, _ := http.NewRequest(http.MethodOptions, base+"/decode", nil)
	preflight.Header.Set("Origin", webUIOrigin)
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(preflight)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != webUIOrigin {
		t.Errorf("preflight: status %d, Access-Control-Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if got, ok := resp.Header["Access-Control-Allow-Credentials"]; ok {
		t.Errorf("preflight: Access-Control-Allow-Credentials %q sent, but the server uses no cookies", got)
	}
}

// TestCodecServerServesEncodeOnlyWhenAsked: /encode encrypts whatever it is
// sent with the payload key, so it is served only on request.
func TestCodecServerServesEncodeOnlyWhenAsked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    string // CERTFLOW_CODEC_SERVE_ENCODE
		args   []string
		encode int
	}{
		{"without --serve-encode /encode is not found", "", nil, http.StatusNotFound},
		{"--serve-encode serves /encode", "", []string{"--serve-encode"}, http.StatusOK},
		{"CERTFLOW_CODEC_SERVE_ENCODE=true serves /encode", "true", nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CERTFLOW_CODEC_SERVE_ENCODE", tc.env)
			keyLine := "k1:" + randomKeyBase64(t)
			base := startCodecServer(t, append([]string{"--payload-key-file", writeKeyFile(t, keyLine),
				"--cors-origin", webUIOrigin}, tc.args...)...)
			plain := plainPayload(t)

			resp, answer := postPayload(t, base+"/encode", plain)
			if resp.StatusCode != tc.encode {
				t.Fatalf("/encode: status %d, want %d: %s", resp.StatusCode, tc.encode, answer)
			}
			if resp.StatusCode == http.StatusOK {
				var out commonpb.Payloads
				if err := protojson.Unmarshal(answer, &out); err != nil || len(out.Payloads) != 1 {
					t.Fatalf("/encode answered %s (%v)", answer, err)
				}
				if p := out.Payloads[0]; !codec.IsEncrypted(p) || string(p.Metadata[codec.MetadataKeyID]) != "k1" || bytes.Contains(p.Data, []byte("secret.example.com")) {
					t.Fatalf("/encode answered %v", p)
				}
			}
			if decoded := callCodec(t, base+"/decode", encodeWith(t, keyLine, plain)); !proto.Equal(decoded, plain) {
				t.Errorf("/decode answered %v, want %v", decoded, plain)
			}
		})
	}
}

// TestCodecServerBoundsConcurrentRequests runs codec-server with
// --max-concurrent 1 and holds its one slot with a request whose body the test
// has not sent yet. The server takes the slot before it reads the body, and
// asks for the body (100 Continue) only when it reads it, so the 100 tells the
// test the slot is held.
func TestCodecServerBoundsConcurrentRequests(t *testing.T) {
	keyLine := "k1:" + randomKeyBase64(t)
	base := startCodecServer(t, "--payload-key-file", writeKeyFile(t, keyLine), "--cors-origin", webUIOrigin, "--max-concurrent", "1")
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{encodeWith(t, keyLine, plainPayload(t))}})
	if err != nil {
		t.Fatal(err)
	}

	bodyR, bodyW := io.Pipe()
	t.Cleanup(func() { bodyW.CloseWithError(io.ErrUnexpectedEOF) })
	slotHeld := make(chan struct{})
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(slotHeld) }}
	holder, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, base+"/decode", bodyR)
	holder.Header.Set("Content-Type", "application/json")
	holder.Header.Set("Expect", "100-continue")
	held := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(holder)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	select {
	case <-slotHeld:
	case status := <-held:
		t.Fatalf("the holding request was answered %d before it sent its body", status)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not ask for the holding request's body within 10s")
	}

	asked := time.Now()
	resp, answer := postPayload(t, base+"/decode", encodeWith(t, keyLine, plainPayload(t)))
	waited := time.Since(asked)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a second request with the one slot held: status %d, want 503: %s", resp.StatusCode, answer)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("503 with Retry-After %q, want 1", got)
	}
	if waited < 5*time.Second {
		t.Errorf("a second request was refused after %v, want after waiting 5s for a slot", waited)
	}

	if _, err := bodyW.Write(body); err != nil {
		t.Fatal(err)
	}
	bodyW.Close()
	if status := <-held; status != http.StatusOK {
		t.Errorf("the holding request, once sent: status %d, want 200", status)
	}
}

// TestCodecServerRefusesABadMaxConcurrent: a limit that cannot work stops the
// server at start instead of being replaced by the default.
func TestCodecServerRefusesABadMaxConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string // CERTFLOW_CODEC_MAX_CONCURRENT
		args []string
		want string
	}{
		{"--max-concurrent 0 is refused", "", []string{"--max-concurrent", "0"}, "--max-concurrent (CERTFLOW_CODEC_MAX_CONCURRENT) is 0: must be at least 1"},
		{"a CERTFLOW_CODEC_MAX_CONCURRENT that is not a number is refused", "many", nil, `CERTFLOW_CODEC_MAX_CONCURRENT="many": not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CERTFLOW_CODEC_MAX_CONCURRENT", tc.env)
			root := newRootCommand()
			root.SetArgs(append([]string{"codec-server", "--listen", freeLoopbackAddr(t),
				"--payload-key-file", writeKeyFile(t, "k1:"+randomKeyBase64(t)), "--log-level", "warn"}, tc.args...))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := root.ExecuteContext(ctx); err == nil || err.Error() != tc.want {
				t.Errorf("codec-server ended with %v, want %q", err, tc.want)
			}
		})
	}
}

// startCodecServer runs `certflow codec-server` with args on a free loopback
// port until the test ends, and returns its base URL.
func startCodecServer(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCommand()
	root.SetArgs(append([]string{"codec-server", "--listen", addr, "--log-level", "error"}, args...))
	var servedErr error
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		servedErr = root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-ended
		if servedErr != nil {
			t.Errorf("codec-server ended with %v", servedErr)
		}
	})
	waitListening(t, addr, ended)
	return "http://" + addr
}

func plainPayload(t *testing.T) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]any{"dnsNames": []string{"secret.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// encodeWith encrypts p as a worker holding keyLine would.
func encodeWith(t *testing.T, keyLine string, p *commonpb.Payload) *commonpb.Payload {
	t.Helper()
	keys, err := codec.ParseKeys([]byte(keyLine))
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.New(keys, "test key")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// postPayload posts one payload from the Web UI's origin and namespace and
// returns the response, its body read and closed, and the body.
func postPayload(t *testing.T, url string, p *commonpb.Payload) (*http.Response, []byte) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", webUIOrigin)
	req.Header.Set("X-Namespace", "default")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp, answer
}

// callCodec posts one payload from the Web UI's origin and namespace and
// returns the one payload answered.
func callCodec(t *testing.T, url string, p *commonpb.Payload) *commonpb.Payload {
	t.Helper()
	resp, answer := postPayload(t, url, p)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != webUIOrigin {
		t.Fatalf("%s: status %d, Access-Control-Allow-Origin %q: %s", url, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), answer)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(answer, &out); err != nil || len(out.Payloads) != 1 {
		t.Fatalf("%s answered %s (%v)", url, answer, err)
	}
	return out.Payloads[0]
}

// waitListening returns once addr accepts connections; if the server ends
// first, the test fails (the cleanup that waited for it reports why).
func waitListening(t *testing.T, addr string, ended <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-ended:
			t.Fatal("codec-server ended before listening")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("codec-server not listening on %s after 30s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomKeyBase64(t *testing.T) string {
	t.Helper()
	key := make([]byte, codec.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

func writeKeyFile(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "payload-keys")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
