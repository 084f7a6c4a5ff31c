package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one child program of the sandbox with its output in a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the program has exited
	err     error         // its exit status, valid once done is closed
}

func startProcess(name, logPath string, env []string, bin string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = ChildAttrs()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// ChildAttrs are the process attributes of every program a stack starts,
// and of the certflow the tests, the demo and the bench start. The program
// gets a process group of its own: a signal sent to the parent's group does
// not reach it, and stopping it stops whatever it forked. It is killed when
// the parent dies, even by a SIGKILL or SIGPIPE that skips the parent's
// clean-up: no server outlives the run that started it, to slow the next.
// (envtest starts etcd and kube-apiserver itself, with a process group only.)
func ChildAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// stop asks the program to end (SIGTERM) and kills it when it has not after grace.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	p.kill()
	return fmt.Errorf("%s did not stop within %s; killed", p.name, grace)
}

// kill ends the program at once (SIGKILL), as a crash would, and waits for it.
func (p *process) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// waitReady polls check until it succeeds, the program exits, or ctx ends. Its
// error says why and carries the tail of the program's log.
func (p *process) waitReady(ctx context.Context, check func(context.Context) error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(attempt)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			err := fmt.Errorf("%s exited (%v) before it was ready:\n%s", p.name, p.err, tail(p.logPath, 30))
			if slices.ContainsFunc(portTakenMessages, func(m string) bool { return logSays(p.logPath, m) }) {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last check: %v):\n%s", p.name, ctx.Err(), last, tail(p.logPath, 30))
		case <-tick.C:
		}
	}
}

// tail returns the last n lines of a log file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// freePort finds a port that is free on 127.0.0.1 for both TCP and UDP (DNS
// servers need the pair). Another process may take it before the caller binds
// it: StartTemporal, StartPebble and StartBIND then choose again
// (retryOnTakenPort).
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, errors.New("finding a free port: no port free for both TCP and UDP after 20 tries")
}

// portAttempts is how many times a server is started on newly chosen ports
// when a port was taken in between.
const portAttempts = 3

// portTakenMessages are what a server logs when a port it was given is taken
// (anywhere in the log: a panic's stack can bury it). named says only that
// it could not listen: the sandbox gives it one interface, loopback.
var portTakenMessages = []string{"address already in use", "unable to listen on any configured interfaces"}

// errPortTaken: a server failed to start because a port it was given (or
// chose itself) was taken in between.
var errPortTaken = errors.New("a port was taken")

// retryOnTakenPort starts a server, choosing its ports anew each time, until
// it starts or fails for another reason than a port taken in between, at
// most portAttempts times.
func retryOnTakenPort[T any](start func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		server, err := start()
		if err == nil || attempt == portAttempts || !portTaken(err) {
			return server, err
		}
	}
}

// portTaken says whether a server failed to start because a port was in use
// (its log said so).
func portTaken(err error) bool { return errors.Is(err, errPortTaken) }

// logSays reports whether the log at path contains s.
func logSays(path, s string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(data), s)
}

// freePorts returns n distinct free ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	seen := map[int]bool{}
	for len(ports) < n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if !seen[port] {
			seen[port] = true
			ports = append(ports, port)
		}
	}
	return ports, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
