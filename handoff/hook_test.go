package handoff_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
)

// syncBuffer is a log destination safe for the hook's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls (real time: the hook runs real processes) until cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func runHook(t *testing.T, h *handoff.Hook) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func TestHookGetsTheEventInItsEnvironment(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	script := writeScript(t, `env | grep '^WWAN_' | sort > "$OUT.tmp"; mv "$OUT.tmp" "$OUT"
echo "to stdout: $WWAN_OUTCOME"
echo "to stderr" >&2
`)
	var log syncBuffer
	h := handoff.NewHook(handoff.HookConfig{Path: script, Env: []string{"OUT=" + out, "PATH=" + os.Getenv("PATH")},
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	runHook(t, h)
	ev := handoff.Event{Time: time.Now(), Type: handoff.EventHandoff, Interface: "wwan0", From: "HSDPA", To: "LTE",
		Outcome: handoff.Readdressed, Old: ipv4Only(addr4a, gw4a).Config(), New: dual(addr4b, gw4b, addr6a).Config()}
	h.Sink(ev)
	waitFor(t, "the hook's output file", func() bool { _, err := os.Stat(out); return err == nil })
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"WWAN_EVENT=handoff", "WWAN_OUTCOME=readdressed", "WWAN_FROM=HSDPA", "WWAN_TO=LTE",
		"WWAN_IPV4=198.51.100.6/30", "WWAN_IPV6=2001:db8:1::2/64", "WWAN_IFACE=wwan0", "WWAN_OLD_IPV4=198.51.100.2/30"} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("hook environment lacks %q:\n%s", want, b)
		}
	}
	waitFor(t, "the hook's log line", func() bool { return strings.Contains(log.String(), "hook: done") })
	if l := log.String(); !strings.Contains(l, "to stdout: readdressed") || !strings.Contains(l, "to stderr") {
		t.Errorf("log lacks the hook's output: %s", l)
	}
	if s := h.Stats(); s.Runs != 1 || s.Failures != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestHookIsKilledAtItsTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// The script leaves a child behind: the whole process group goes.
	script := writeScript(t, `sleep 60 & echo $! > "$PIDFILE"; wait`)
	var log syncBuffer
	h := handoff.NewHook(handoff.HookConfig{Path: script, Timeout: 300 * time.Millisecond,
		Env:    []string{"PIDFILE=" + pidFile, "PATH=" + os.Getenv("PATH")},
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	runHook(t, h)
	start := time.Now()
	h.Sink(handoff.Event{Type: handoff.EventLink})
	h.Sink(handoff.Event{Type: handoff.EventLink})
	waitFor(t, "two kills", func() bool { return h.Stats().Killed == 2 })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("two runs with a 300 ms timeout took %v", d)
	}
	if !strings.Contains(log.String(), "killed at its timeout") {
		t.Errorf("log: %s", log.String())
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, "the script's child to die", func() bool {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		f := strings.Fields(string(st))
		return len(f) > 2 && f[2] == "Z"
	})
}

func TestHookNeverBlocksTheEngine(t *testing.T) {
	h := handoff.NewHook(handoff.HookConfig{Path: "/nonexistent", QueueSize: 2,
		Events: []handoff.EventType{handoff.EventHandoff}, Logger: slog.New(slog.DiscardHandler)})
	// Not running: the queue fills and the rest is dropped, at once.
	for range 5 {
		h.Sink(handoff.Event{Type: handoff.EventHandoff})
	}
	h.Sink(handoff.Event{Type: handoff.EventLink}) // not selected: not even queued
	if s := h.Stats(); s.Dropped != 3 {
		t.Errorf("stats %+v, want 3 dropped", s)
	}
	runHook(t, h)
	waitFor(t, "the queued runs", func() bool { return h.Stats().Runs == 2 })
	waitFor(t, "their failures", func() bool { return h.Stats().Failures == 2 })
}
