package handoff

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HookConfig configures a Hook.
type HookConfig struct {
	// Path is the executable to run for each event, with Args.
	Path string
	Args []string
	// Timeout is how long one run may take before it is killed, with its
	// process group. Default 10 s.
	Timeout time.Duration
	// QueueSize bounds the events waiting for the hook; Sink drops (and
	// counts) what does not fit. Default 64.
	QueueSize int
	// Events selects the event types to run for; nil runs for all.
	Events []EventType
	// Env is the environment the event's variables are added to; nil
	// means os.Environ().
	Env []string
	// Logger receives what the executable printed (stdout and stderr,
	// up to 16 KiB a run) and how it ended. Default slog.Default().
	Logger *slog.Logger
}

// HookStats counts what a Hook did.
type HookStats struct {
	Runs     uint64 // executions started
	Failures uint64 // ended with an error or a non-zero status (kills included)
	Killed   uint64 // killed at the timeout
	Dropped  uint64 // events dropped because the queue was full
}

// Hook runs an executable for each event, like a NetworkManager
// dispatcher script: the event is in its environment (Event.Env), one run
// at a time and in order. Add its Sink to EngineConfig.Sinks and run it
// with Run. The engine is never blocked: Sink only queues.
type Hook struct {
	cfg HookConfig
	q   chan Event

	runs, failures, killed, dropped atomic.Uint64
	running                         atomic.Bool
}

// NewHook returns a hook; call Run to start it.
func NewHook(cfg HookConfig) *Hook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 64
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Hook{cfg: cfg, q: make(chan Event, cfg.QueueSize)}
}

// Sink queues ev for the hook without blocking (a sink for
// EngineConfig.Sinks). Events of a type the hook does not run for are
// ignored; when the queue is full the event is dropped and counted.
func (h *Hook) Sink(ev Event) {
	if h.cfg.Events != nil && !slices.Contains(h.cfg.Events, ev.Type) {
		return
	}
	select {
	case h.q <- ev:
	default:
		h.dropped.Add(1)
		h.cfg.Logger.Warn("hook: queue full, event dropped", "path", h.cfg.Path, "event", string(ev.Type))
	}
}

// Stats returns the hook's counters. Safe for concurrent use.
func (h *Hook) Stats() HookStats {
	return HookStats{Runs: h.runs.Load(), Failures: h.failures.Load(),
		Killed: h.killed.Load(), Dropped: h.dropped.Load()}
}

// Run runs the executable for each queued event until ctx is done (a run
// in progress is then killed) and returns ctx's error.
func (h *Hook) Run(ctx context.Context) error {
	if !h.running.CompareAndSwap(false, true) {
		return errors.New("handoff: hook already running")
	}
	defer h.running.Store(false)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-h.q:
			h.run(ctx, ev)
		}
	}
}

func (h *Hook) run(parent context.Context, ev Event) {
	ctx, cancel := context.WithTimeout(parent, h.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.cfg.Path, h.cfg.Args...)
	cmd.Env = append(slices.Clip(h.cfg.Env), ev.Env()...)
	var out hookOutput
	cmd.Stdout, cmd.Stderr = &out, &out
	// After a kill, do not wait for grandchildren that keep the pipes.
	cmd.WaitDelay = time.Second
	hookKillGroup(cmd)
	h.runs.Add(1)
	start := time.Now()
	err := cmd.Run()
	attrs := []any{"path", h.cfg.Path, "event", string(ev.Type), "took", time.Since(start)}
	if ev.Type == EventHandoff {
		attrs = append(attrs, "outcome", string(ev.Outcome))
	}
	if s := strings.TrimRight(out.String(), "\n"); s != "" {
		attrs = append(attrs, "output", s)
	}
	switch {
	case err == nil:
		h.cfg.Logger.Info("hook: done", attrs...)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil:
		h.failures.Add(1)
		h.killed.Add(1)
		h.cfg.Logger.Warn("hook: killed at its timeout", append(attrs, "timeout", h.cfg.Timeout)...)
	default:
		h.failures.Add(1)
		h.cfg.Logger.Warn("hook: failed", append(attrs, "err", err)...)
	}
}

// hookOutput keeps the first 16 KiB written to it.
type hookOutput struct {
	mu sync.Mutex
	b  []byte
}

const hookOutputLimit = 16 << 10

func (c *hookOutput) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := hookOutputLimit - len(c.b); n > 0 {
		c.b = append(c.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (c *hookOutput) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}
