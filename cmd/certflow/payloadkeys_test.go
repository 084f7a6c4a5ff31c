package main

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestBadPayloadKeysStopCertflowAtStart: a bad key setting is the first thing
// certflow reports, before it tries Temporal (here unreachable) or Kubernetes.
func TestBadPayloadKeysStopCertflowAtStart(t *testing.T) {
	shortKey := writeKeyFile(t, "# rotated in June", "k1:"+base64.StdEncoding.EncodeToString(make([]byte, 16)))
	good := writeKeyFile(t, randomKeyBase64(t))
	unreachable := []string{"--temporal-address", freeLoopbackAddr(t), "--connect-timeout", "2s", "--kubeconfig", "/nonexistent"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"a short key names the file, the line and the size",
			[]string{"run", "--payload-key-file", shortKey},
			nil, "reading payload keys from --payload-key-file " + shortKey + ": line 2: key is 16 bytes, AES-256 needs 32"},
		{"the key file comes from CERTFLOW_PAYLOAD_KEY_FILE",
			[]string{"worker"},
			map[string]string{"CERTFLOW_PAYLOAD_KEY_FILE": shortKey}, "line 2: key is 16 bytes"},
		{"a missing key file is named",
			[]string{"controller", "--payload-key-file", "/nonexistent/keys"},
			nil, "reading payload keys from --payload-key-file /nonexistent/keys: open /nonexistent/keys: no such file"},
		{"an empty key file says what to write",
			[]string{"run", "--payload-key-file", writeKeyFile(t, "# none yet")},
			nil, "no key in it: write one line with the base64 of 32 random bytes"},
		{"both sources at once are refused",
			[]string{"run", "--payload-key-file", good, "--payload-key-secret", "certflow/payload-keys"},
			nil, "--payload-key-file and --payload-key-secret are both set"},
		{"a Secret reference without a namespace is refused",
			[]string{"run", "--payload-key-secret", "payload-keys"},
			nil, "reading payload keys from --payload-key-secret payload-keys: want NAMESPACE/NAME or NAMESPACE/NAME:KEY"},
		{"codec-server without keys says which flags give them",
			[]string{"codec-server", "--listen", "127.0.0.1:0"},
			nil, "codec-server needs the payload keys: set --payload-key-file or --payload-key-secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			root := newRootCommand()
			args := tc.args
			if args[0] != "codec-server" {
				args = append(args, unreachable...)
			}
			root.SetArgs(args)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := root.ExecuteContext(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
