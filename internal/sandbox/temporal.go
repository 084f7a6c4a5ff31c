package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/certflow/certflow/workflows"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// TemporalOptions configures StartTemporal.
type TemporalOptions struct {
	// Dir receives temporal.log and, with Persistent, the SQLite database.
	Dir string
	// UI serves the Temporal Web UI (the demo); tests run headless.
	UI bool
	// Persistent keeps workflows in a database file in Dir, so a restart of
	// the server (Restart) finds them again.
	Persistent bool
}

// Temporal is a running `temporal server start-dev`.
type Temporal struct {
	// Address is the frontend's host:port for SDK clients and the CLI.
	Address string
	// Namespace is the namespace workflows run in.
	Namespace string
	// UIURL is the Web UI's base URL, empty when headless.
	UIURL string

	opts TemporalOptions
	bin  string
	args []string
	proc *process
}

// StartTemporal starts the Temporal dev server on free loopback ports and waits
// until its frontend answers health checks. A port taken by another process
// between its choice and the server's bind (the tests start many stacks at
// once) costs a new choice, not the start.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	bin, err := binary("temporal")
	if err != nil {
		return nil, err
	}
	return retryOnTakenPort(func() (*Temporal, error) {
		t, err := newTemporal(bin, opts)
		if err != nil {
			return nil, err
		}
		if err := t.Start(ctx); err != nil {
			return nil, err
		}
		return t, nil
	})
}

// newTemporal chooses the server's ports and arguments.
func newTemporal(bin string, opts TemporalOptions) (*Temporal, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	t := &Temporal{Address: loopback(ports[0]), Namespace: "default", opts: opts, bin: bin}
	t.args = []string{"server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(ports[0]),
		"--http-port", strconv.Itoa(ports[1]),
		"--metrics-port", strconv.Itoa(ports[2]),
		"--log-level", "warn",
		// Task priority (certflow's Orders go first): off by default in server
		// 1.29, on by default in later ones.
		"--dynamic-config-value", "matching.useNewMatcher=true",
	}
	if opts.UI {
		uiPort, err := freePort()
		if err != nil {
			return nil, err
		}
		t.args = append(t.args, "--ui-port", strconv.Itoa(uiPort))
		t.UIURL = "http://" + loopback(uiPort)
	} else {
		t.args = append(t.args, "--headless")
	}
	if opts.Persistent {
		t.args = append(t.args, "--db-filename", filepath.Join(opts.Dir, "temporal.db"))
		// A write-ahead log commits without an fsync and survives the
		// server's crash or kill; only an OS crash may lose the last commits.
		t.args = append(t.args, "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")
	}
	// certflow's search attributes, as a real server's operator adds them
	// (README: Search attributes).
	for _, name := range slices.Sorted(maps.Keys(workflows.SearchAttributes)) {
		t.args = append(t.args, "--search-attribute", name+"="+workflows.SearchAttributes[name])
	}
	return t, nil
}

// Start runs the server and waits until it is healthy. After a Stop or Kill
// it starts the server again on the same ports; with Persistent, it finds
// the workflows of before in its database, and clients that were connected
// reconnect on their own.
func (t *Temporal) Start(ctx context.Context) error {
	proc, err := startProcess("temporal", filepath.Join(t.opts.Dir, "temporal.log"), nil, t.bin, t.args...)
	if err != nil {
		return err
	}
	t.proc = proc
	if err := proc.waitReady(ctx, t.healthy); err != nil {
		_ = proc.stop(5 * time.Second)
		return err
	}
	return nil
}

func (t *Temporal) healthy(ctx context.Context) error {
	c, err := t.Dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// The frontend answers before the namespace is registered; workflows need both.
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: t.Namespace})
	if err != nil {
		return fmt.Errorf("describing namespace %s: %w", t.Namespace, err)
	}
	return nil
}

// Dial connects an SDK client to the server's namespace, quietly.
func (t *Temporal) Dial(ctx context.Context) (client.Client, error) {
	return client.DialContext(ctx, client.Options{
		HostPort:  t.Address,
		Namespace: t.Namespace,
		Logger:    tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
}

// Stop stops the server.
func (t *Temporal) Stop() error { return t.proc.stop(10 * time.Second) }

// Kill ends the server at once, as a crash would.
func (t *Temporal) Kill() { t.proc.kill() }

// Restart stops the server and starts it again on the same ports (and, when
// Persistent, with the same database).
func (t *Temporal) Restart(ctx context.Context) error {
	if err := t.Stop(); err != nil {
		return err
	}
	return t.Start(ctx)
}

// Pid is the server's process ID, for resource measurements.
func (t *Temporal) Pid() int { return t.proc.cmd.Process.Pid }

// LogPath is the server's log file.
func (t *Temporal) LogPath() string { return t.proc.logPath }
