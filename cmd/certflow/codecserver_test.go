package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net"
	"net/http"
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
// port and calls /encode, /decode and the CORS preflight as the Web UI does.
func TestCodecServerDecodesForTheWebUI(t *testing.T) {
	keyFile := writeKeyFile(t, "k1:"+randomKeyBase64(t))
	addr := freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		root := newRootCommand()
		root.SetArgs([]string{"codec-server", "--listen", addr, "--payload-key-file", keyFile,
			"--cors-origin", webUIOrigin, "--allow-namespace", "default", "--log-level", "warn"})
		served <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("codec-server ended with %v", err)
		}
	})
	base := "http://" + addr
	waitListening(t, addr, served)

	plain, err := converter.GetDefaultDataConverter().ToPayload(map[string]any{"dnsNames": []string{"secret.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	encoded := callCodec(t, base+"/encode", plain)
	if !codec.IsEncrypted(encoded) || string(encoded.Metadata[codec.MetadataKeyID]) != "k1" || bytes.Contains(encoded.Data, []byte("secret.example.com")) {
		t.Fatalf("/encode answered %v", encoded)
	}
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
}

// callCodec posts one payload from the Web UI's origin and namespace.
func callCodec(t *testing.T, url string, p *commonpb.Payload) *commonpb.Payload {
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
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != webUIOrigin {
		t.Fatalf("%s: status %d, Access-Control-Allow-Origin %q: %s", url, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), answer)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(answer, &out); err != nil || len(out.Payloads) != 1 {
		t.Fatalf("%s answered %s (%v)", url, answer, err)
	}
	return out.Payloads[0]
}

func waitListening(t *testing.T, addr string, served <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case err := <-served:
			t.Fatalf("codec-server ended before listening: %v", err)
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
