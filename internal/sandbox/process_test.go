package sandbox

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// A server that panics on a taken port prints the cause first and a long
// stack after it: the retry must see the cause anywhere in the log.
func TestAPortTakenIsSeenAboveALongStack(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		taken        bool
	}{
		{"a taken port, then 40 lines of stack", `echo "panic: listen tcp 127.0.0.1:7233: bind: address already in use"; for i in $(seq 40); do echo "  frame $i"; done; exit 2`, true},
		{"another failure", `echo "panic: bad config"; exit 2`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := startProcess("server", filepath.Join(t.TempDir(), "server.log"), nil, "/bin/sh", "-c", tc.script)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = p.waitReady(ctx, func(context.Context) error { return context.DeadlineExceeded })
			if err == nil || portTaken(err) != tc.taken {
				t.Fatalf("waitReady: %v; port taken = %v, want %v", err, portTaken(err), tc.taken)
			}
		})
	}
}
