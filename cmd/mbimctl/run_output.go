package main

// What "mbimctl run" prints on standard output: one line per event of the
// engine (and per change of a dry run), as text or as JSON.

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gowwan/wwan/handoff"
)

// eventPrinter prints the engine's events and a dry run's changes, in the
// order they happened, one line each. The engine calls event and dry on
// its goroutine and must never wait for standard output: they queue, and
// a goroutine (run) writes; when the queue is full, lines are dropped and
// counted.
type eventPrinter struct {
	w       io.Writer
	json    bool
	q       chan printItem
	dropped atomic.Uint64
	done    chan struct{}
}

type printItem struct {
	ev   handoff.Event
	op   string // a dry run's change, when not ""
	time time.Time
}

func newEventPrinter(w io.Writer, asJSON bool) *eventPrinter {
	return &eventPrinter{w: w, json: asJSON, q: make(chan printItem, 4096), done: make(chan struct{})}
}

// run writes the queued lines until stop.
func (p *eventPrinter) run() {
	defer close(p.done)
	for it := range p.q {
		if it.op != "" {
			p.writeDry(it)
		} else {
			p.writeEvent(it.ev)
		}
	}
}

// stop writes what is queued and returns; event and dry must not be
// called after it.
func (p *eventPrinter) stop() {
	close(p.q)
	<-p.done
	if n := p.dropped.Load(); n > 0 {
		fmt.Fprintf(p.w, "# %d events not printed: standard output was too slow\n", n)
	}
}

func (p *eventPrinter) push(it printItem) {
	select {
	case p.q <- it:
	default:
		p.dropped.Add(1)
	}
}

// event queues an engine event (an engine sink).
func (p *eventPrinter) event(ev handoff.Event) { p.push(printItem{ev: ev}) }

// dry queues a change a dry run would make.
func (p *eventPrinter) dry(op string) { p.push(printItem{op: op, time: now()}) }

func (p *eventPrinter) line(s string) { io.WriteString(p.w, s+"\n") }

// writeEvent prints an engine event: its JSON (handoff.Event.MarshalJSON,
// a handoff exactly the contract's object), or a line of text.
func (p *eventPrinter) writeEvent(ev handoff.Event) {
	if p.json {
		b, err := json.Marshal(ev)
		if err != nil {
			return
		}
		p.line(string(b))
		return
	}
	p.line(formatEvent(ev))
}

// dryJSON is a change of a dry run, as JSON.
type dryJSON struct {
	Time  string `json:"time"`
	Event string `json:"event"`
	Op    string `json:"op"`
}

func (p *eventPrinter) writeDry(it printItem) {
	if p.json {
		b, _ := json.Marshal(dryJSON{Time: it.time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Event: "dry-run", Op: it.op})
		p.line(string(b))
		return
	}
	p.line(stamp(it.time) + " " + pad("dry-run") + "would " + it.op)
}

func stamp(t time.Time) string { return t.Format("15:04:05.000") }

func pad(s string) string { return fmt.Sprintf("%-15s ", s) }

// formatEvent is an event as one line of text:
//
//	10:00:00.123 packet-service  ATTACHED LTE, up 50 Mbit/s, down 150 Mbit/s
//	10:00:00.125 session         ACTIVATED
//	10:00:00.126 config          ipv4 198.51.100.2/30 via 198.51.100.1; dns 192.0.2.53; mtu 1500
//	10:00:00.127 link            up
//	10:00:03.230 handoff         LTE -> 5G_NSA readdressed in 104ms: packet-service, session, ...
func formatEvent(ev handoff.Event) string {
	var b strings.Builder
	b.WriteString(stamp(ev.Time))
	b.WriteByte(' ')
	b.WriteString(pad(string(ev.Type)))
	switch ev.Type {
	case handoff.EventPacketService:
		ps := ev.PacketService
		b.WriteString(ps.State.String())
		if c := ps.Class(); c != "" {
			b.WriteString(" " + c)
		}
		if ps.Uplink != 0 || ps.Downlink != 0 {
			fmt.Fprintf(&b, ", up %s, down %s", bitrate(ps.Uplink), bitrate(ps.Downlink))
		}
		if ps.NwError != 0 {
			fmt.Fprintf(&b, " (network error %s)", ps.NwError)
		}
	case handoff.EventSession:
		b.WriteString(ev.ActivationState.String())
		if ev.NwError != 0 {
			fmt.Fprintf(&b, " (network error %s)", ev.NwError)
		}
	case handoff.EventLink:
		if ev.LinkUp {
			b.WriteString("up")
		} else {
			b.WriteString("down")
		}
	case handoff.EventConfig:
		b.WriteString(configText(ev.New))
	case handoff.EventHandoff:
		fmt.Fprintf(&b, "%s -> %s %s in %s", orDash(ev.From), orDash(ev.To), ev.Outcome, roundDuration(ev.Duration))
		if ev.Outcome == handoff.Transparent {
			b.WriteString(" (host untouched)")
		} else if len(ev.Steps) > 0 {
			b.WriteString(": " + strings.Join(ev.Steps, ", "))
		}
		if ev.Reason != "" {
			b.WriteString("; " + ev.Reason)
		}
	}
	return b.String()
}

// configText is "ipv4 A via G; ipv6 A via G; dns S S; mtu N".
func configText(c handoff.Config) string {
	var parts []string
	if len(c.IPv4) > 0 {
		parts = append(parts, "ipv4 "+joinText(c.IPv4)+via(c.Gateway4))
	}
	if len(c.IPv6) > 0 {
		parts = append(parts, "ipv6 "+joinText(c.IPv6)+via(c.Gateway6))
	}
	if len(c.DNS) > 0 {
		parts = append(parts, "dns "+joinText(c.DNS))
	}
	if c.MTU > 0 {
		parts = append(parts, fmt.Sprintf("mtu %d", c.MTU))
	}
	if len(parts) == 0 {
		return "no address"
	}
	return strings.Join(parts, "; ")
}

func via(gw interface {
	IsValid() bool
	String() string
}) string {
	if !gw.IsValid() {
		return ""
	}
	return " via " + gw.String()
}

func joinText[T fmt.Stringer](s []T) string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = v.String()
	}
	return strings.Join(out, " ")
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
