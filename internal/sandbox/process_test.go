package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
		{"named: no interface to listen on", `echo "creating IPv4 interface lo failed; interface ignored"; echo "unable to listen on any configured interfaces"; echo "exiting (due to fatal error)"; exit 1`, true},
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

// A parent killed at once (SIGKILL: no clean-up runs) takes the programs it
// started with it. The test runs itself again as that parent.
func TestAProgramDiesWithItsParent(t *testing.T) {
	if pidFile := os.Getenv("SANDBOX_TEST_PARENT_PIDFILE"); pidFile != "" {
		p, err := startProcess("child", filepath.Join(filepath.Dir(pidFile), "child.log"), nil, "/bin/sleep", "300")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(p.cmd.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
		<-p.done // until the outer test kills this process
		return
	}
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	parent := exec.Command(os.Args[0], "-test.run", "^TestAProgramDiesWithItsParent$")
	parent.Env = append(os.Environ(), "SANDBOX_TEST_PARENT_PIDFILE="+pidFile)
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	child := 0
	for deadline := time.Now().Add(20 * time.Second); child == 0; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil {
			child, _ = strconv.Atoi(string(b))
		}
		if time.Now().After(deadline) {
			_ = parent.Process.Kill()
			t.Fatal("the parent did not start its child within 20s")
		}
	}
	_ = parent.Process.Kill()
	_ = parent.Wait()
	for deadline := time.Now().Add(5 * time.Second); alive(child); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("child %d still runs 5s after its parent was killed", child)
		}
	}
}

// alive says whether a process runs: it exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// A server whose port was taken is started again on new ports, up to
// portAttempts times; any other failure ends the start at once.
func TestAServerWhosePortWasTakenStartsAgain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  []error
		wantCalls int
		wantErr   bool
	}{
		{"taken twice, then started", []error{errPortTaken, errPortTaken}, 3, false},
		{"taken every time", []error{errPortTaken, errPortTaken, errPortTaken, errPortTaken}, portAttempts, true},
		{"another failure", []error{errors.New("bad config")}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			got, err := retryOnTakenPort(func() (string, error) {
				calls++
				if calls <= len(tc.failures) {
					return "", fmt.Errorf("pebble exited: %w", tc.failures[calls-1])
				}
				return "server", nil
			})
			if calls != tc.wantCalls || (err != nil) != tc.wantErr || (err == nil && got != "server") {
				t.Fatalf("%d starts, %q, %v; want %d starts, error %v", calls, got, err, tc.wantCalls, tc.wantErr)
			}
		})
	}
}
