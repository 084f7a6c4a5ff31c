package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/certflow/certflow/internal/sandbox"
)

// browser is a headless Chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: it reads commands on its fd 3 and answers
// on its fd 4, one JSON message ending in a NUL byte each).
//
// Not `chromium --screenshot`: its --virtual-time-budget pauses while a
// request is in flight, and the Web UI keeps a long poll open on a running
// workflow's history, so the picture of a running Certificate came only when
// its run ended, a minute or more later, showing it closed. Here the page is
// photographed once it shows the text it is expected to show.
type browser struct {
	cmd     *exec.Cmd
	send    *os.File
	answers *os.File
	recv    *bufio.Reader
	lastID  int
	exited  chan struct{}
	session string // of the page, once attached
}

// startBrowser starts Chromium with its profile in profile, not in $HOME,
// and attaches to its page.
func startBrowser(ctx context.Context, profile string) (*browser, error) {
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ansR, ansW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		cmdW.Close()
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--window-size=1400,900", "--user-data-dir="+profile, "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, ansW}
	cmd.SysProcAttr = sandbox.ChildAttrs()
	err = cmd.Start()
	// Chromium holds its ends now: without ours, a read sees the end when it exits.
	cmdR.Close()
	ansW.Close()
	if err != nil {
		cmdW.Close()
		ansR.Close()
		return nil, fmt.Errorf("starting chromium (make screenshots installs it): %w", err)
	}
	b := &browser{cmd: cmd, send: cmdW, answers: ansR, recv: bufio.NewReader(ansR), exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(b.exited) }()

	var targets struct {
		TargetInfos []struct{ TargetID, Type string }
	}
	if err := b.call("Target.getTargets", nil, &targets); err != nil {
		b.close()
		return nil, err
	}
	target := ""
	for _, t := range targets.TargetInfos {
		if t.Type == "page" {
			target = t.TargetID
		}
	}
	var attached struct{ SessionID string }
	if err := b.call("Target.attachToTarget", map[string]any{"targetId": target, "flatten": true}, &attached); err != nil {
		b.close()
		return nil, err
	}
	b.session = attached.SessionID
	return b, nil
}

// call sends one command (to the page once attached) and waits for its
// answer, passing over the events that come before it.
func (b *browser) call(method string, params, result any) error {
	b.lastID++
	msg := map[string]any{"id": b.lastID, "method": method, "params": params}
	if params == nil {
		msg["params"] = struct{}{}
	}
	if b.session != "" {
		msg["sessionId"] = b.session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.send.Write(append(data, 0)); err != nil {
		return fmt.Errorf("chromium: sending %s: %w", method, err)
	}
	_ = b.answers.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		raw, err := b.recv.ReadBytes(0)
		if err != nil {
			return fmt.Errorf("chromium: waiting for the answer to %s: %w", method, err)
		}
		var answer struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
		}
		if err := json.Unmarshal(raw[:len(raw)-1], &answer); err != nil {
			return fmt.Errorf("chromium: reading the answer to %s: %w", method, err)
		}
		if answer.ID != b.lastID {
			continue
		}
		if answer.Error != nil {
			return fmt.Errorf("chromium: %s: %s", method, answer.Error.Message)
		}
		if result == nil {
			return nil
		}
		return json.Unmarshal(answer.Result, result)
	}
}

// shoot loads url in a page 1400 pixels wide and height high, waits until
// the page's text holds every string of want (for 30 seconds at most) and one
// second more for it to settle, and writes what it shows to file as a PNG.
func (b *browser) shoot(ctx context.Context, file, url string, height int, want ...string) error {
	if err := b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 1400, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		return err
	}
	if err := b.call("Page.navigate", map[string]any{"url": url}, nil); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var text struct{ Result struct{ Value string } }
		err := b.call("Runtime.evaluate", map[string]any{"expression": pageText, "returnByValue": true}, &text)
		i := slices.IndexFunc(want, func(w string) bool { return !strings.Contains(text.Result.Value, w) })
		if err == nil && i < 0 {
			break
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("the page does not show %q", want[i])
			}
			return fmt.Errorf("photographing %s after 30s: %w", url, err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(250 * time.Millisecond):
		}
	}
	time.Sleep(time.Second)
	var shot struct{ Data string }
	if err := b.call("Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return fmt.Errorf("chromium: decoding the screenshot of %s: %w", url, err)
	}
	return os.WriteFile(file, png, 0o644)
}

// pageText is the text of the page and of the frames in it: the Web UI
// renders a workflow's summary and details (Markdown) in frames of its own.
const pageText = `[document, ...Array.from(document.querySelectorAll("iframe"), f => f.contentDocument)]
	.map(d => d && d.body ? d.body.textContent : "").join("\n")`

// close asks Chromium to quit and kills it when it has not within five seconds.
func (b *browser) close() {
	b.session = ""
	_ = b.call("Browser.close", nil, nil)
	b.send.Close()
	b.answers.Close()
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.exited
	}
}
