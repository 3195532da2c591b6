package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

func init() { register(watchCommand) }

var watchCommand = &command{
	name:    "watch",
	summary: "stream what the modem reports (every indication), decoded, with timestamps",
	usage:   "watch [--duration D] [--count N] [-d DEVICE] [--json] [--show-personal]",
	desc: `
Subscribe to every indication the modem can send (for each service it
lists in DEVICE_SERVICES, the CIDs that have notifications) and print each
one as it comes, with the time it arrived, until interrupted (Ctrl-C),
--duration has passed, or --count indications have been printed.

The Basic Connect indications print like the commands that query the same
state (signal, register, packet-service, connect, ip, radio, subscriber);
the others as their decoded fields. Events of the session itself (a re-open
after the modem forgot the session, a lost transport) are printed too.
With --json each line is one JSON object:

  {"time": "...", "kind": "indication", "service": "BASIC_CONNECT",
   "cid": "SIGNAL_STATE", "data": {...}}

where data has the JSON schema of the matching command (signal --json for
SIGNAL_STATE, and so on) or, for other CIDs, {"layout": ..., "fields": ...}.
When the handoff engine runs in the same process its events are part of
the stream, as "kind": "handoff".

IMSI, ICCID, IMEI and phone numbers are masked unless --show-personal.`,
	examples: []example{
		{"watch", "print what the modem reports until Ctrl-C"},
		{"watch --json | jq -c 'select(.cid == \"PACKET_SERVICE\") | .data.data_class'", "follow the radio technology"},
		{"watch --count 1 --duration 2m --json", "wait up to two minutes for the next indication"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		var duration durationFlag
		count := 0
		fs.Var(&duration, "duration", "stop after this `duration` (default: until interrupted)")
		fs.IntVar(&count, "count", 0, "stop after `N` indications (default: no limit)")
		return func(e *env, args []string) (*plan, error) {
			if err := noArgs(args); err != nil {
				return nil, err
			}
			if count < 0 {
				return nil, errors.New("--count must not be negative")
			}
			w := &watcher{
				g:      g,
				count:  count,
				sub:    mbim.NewSubscription(mbim.SubscribeFilter{}, 256),
				extras: make(chan watchItem, 256),
			}
			if duration.set {
				w.duration = duration.d
			}
			return &plan{
				opts: []mbim.Option{mbim.WithSubscription(w.sub), mbim.WithEventHandler(w.event)},
				run:  w.run,
			}, nil
		}
	}),
}

// watchItem is one line (JSON) or block (text) of watch's output.
type watchItem struct {
	Time    time.Time
	Kind    string // "indication", "event" or "handoff"
	Service string // of an indication
	CID     string // of an indication
	Event   string // of an event or a handoff: what happened
	Data    any    // the JSON of the item
	// text prints the item's body for people: the rows of a command's
	// table, or lines of decoded fields.
	rows  func(t *table)
	lines []string
}

// watchSource adds events other than the modem's indications to the stream
// of "mbimctl watch". It runs once the modem is open, until ctx ends, and
// calls emit (from any goroutine) for each event.
//
// This is the seam for the handoff engine: when the daemon's engine runs in
// the same process as watch, its event sink turns each handoff.Event into
// an item with handoffItem and emits it, so that handoffs appear in the
// stream, in order with the indications that caused them, as
// "kind": "handoff". Register a source with addWatchSource from an init
// function of the file that owns the engine.
type watchSource func(ctx context.Context, s *modemSession, emit func(watchItem))

var watchSources []watchSource

// addWatchSource adds a source to every watch.
func addWatchSource(src watchSource) { watchSources = append(watchSources, src) }

type watcher struct {
	g        *modemFlags
	duration time.Duration
	count    int
	sub      *mbim.Subscription
	extras   chan watchItem
	dropped  atomic.Int64 // events and source items that did not fit in extras
}

// ipConfigResult is an IP_CONFIGURATION indication: the JSON of "ip"
// without activation_state.
type ipConfigResult struct {
	SessionID uint32 `json:"session_id"`
	ipConfig
}

func (r *ipConfigResult) rows(t *table) {
	t.row("Session", strconv.FormatUint(uint64(r.SessionID), 10))
	r.ipConfig.rows(t)
}

// emit queues an item from a source or the Device's event handler; it never
// blocks.
func (w *watcher) emit(it watchItem) {
	select {
	case w.extras <- it:
	default:
		w.dropped.Add(1)
	}
}

// event is the mbim.WithEventHandler hook.
func (w *watcher) event(ev mbim.Event) {
	data := map[string]any{"event": ev.Kind.String()}
	text := ev.Kind.String()
	if ev.Err != nil {
		data["error"] = trimMBIM(ev.Err.Error())
		text += ": " + trimMBIM(ev.Err.Error())
	}
	if ev.Kind == mbim.EventRecovered {
		data["mbimex_version"] = ev.Version.String()
		data["duration_seconds"] = ev.Duration.Seconds()
	}
	w.emit(watchItem{Time: ev.Time, Kind: "event", Event: ev.Kind.String(), Data: data, lines: []string{text}})
}

func (w *watcher) run(ctx context.Context, e *env, s *modemSession) (result, error) {
	defer w.sub.Close()
	if err := subscribeAll(ctx, s.dev); err != nil {
		return nil, err
	}
	if w.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.duration)
		defer cancel()
	}
	if !w.g.json {
		fmt.Fprintf(e.stderr, "mbimctl: watching %s (Ctrl-C to stop)\n", s.target)
	}
	for _, src := range watchSources {
		go src(ctx, s, w.emit)
	}
	shown := 0
	for {
		select {
		case <-ctx.Done():
			w.finish(e)
			return nil, nil
		case it := <-w.extras:
			if err := w.print(e.stdout, it); err != nil {
				return nil, err
			}
		case ind, ok := <-w.sub.C():
			if !ok {
				w.finish(e)
				if err := s.dev.Err(); err != nil {
					return nil, fmt.Errorf("the modem went away: %s", trimMBIM(err.Error()))
				}
				return nil, nil
			}
			if err := w.print(e.stdout, indicationItem(ind, now(), w.g.showPersonal)); err != nil {
				return nil, err
			}
			shown++
			if w.count > 0 && shown >= w.count {
				w.finish(e)
				return nil, nil
			}
		}
	}
}

// finish reports what was lost.
func (w *watcher) finish(e *env) {
	if n := w.sub.Dropped(); n > 0 {
		fmt.Fprintf(e.stderr, "mbimctl: watch: %d indications were dropped: the output did not keep up\n", n)
	}
	if n := w.dropped.Load(); n > 0 {
		fmt.Fprintf(e.stderr, "mbimctl: watch: %d events were dropped: the output did not keep up\n", n)
	}
}

// subscribeAll asks the modem for every indication it can send: for each
// service it lists, the CIDs that have a notification (all the CIDs of a
// service this program does not know).
func subscribeAll(ctx context.Context, d *mbim.Device) error {
	ds, err := d.DeviceServices(ctx)
	if err != nil {
		return err
	}
	var list []mbim.EventEntry
	for _, el := range ds.DeviceServices {
		known := mbim.ServiceName(el.DeviceServiceId) != ""
		var cids []uint32
		for _, c := range el.Cids {
			if !known || mbim.Allowed(el.DeviceServiceId, c, mbim.KindNotification) {
				cids = append(cids, c)
			}
		}
		if len(cids) > 0 {
			list = append(list, mbim.EventEntry{DeviceServiceId: el.DeviceServiceId, Cids: cids})
		}
	}
	if len(list) == 0 {
		return nil
	}
	return d.SetDeviceSubscriptions(ctx, list...)
}

// print writes one item: a JSON line, or a header line and its rows.
func (w *watcher) print(out io.Writer, it watchItem) error {
	if w.g.json {
		j := watchJSON{Time: it.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Kind: it.Kind,
			Service: it.Service, CID: it.CID, Event: it.Event, Data: it.Data}
		b, err := json.Marshal(j)
		if err != nil {
			return fmt.Errorf("encoding JSON: %w", err)
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	var b strings.Builder
	b.WriteString(it.Time.Format("2006-01-02 15:04:05.000"))
	switch it.Kind {
	case "indication":
		fmt.Fprintf(&b, "  %s %s\n", it.Service, it.CID)
	default:
		fmt.Fprintf(&b, "  %s %s\n", it.Kind, it.Event)
	}
	if it.rows != nil {
		t := &table{indent: "  "}
		it.rows(t)
		t.write(&b)
	}
	for _, l := range it.lines {
		b.WriteString("  " + l + "\n")
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// watchJSON is one line of "mbimctl watch --json".
type watchJSON struct {
	Time    string `json:"time"`
	Kind    string `json:"kind"`
	Service string `json:"service,omitempty"`
	CID     string `json:"cid,omitempty"`
	Event   string `json:"event,omitempty"`
	Data    any    `json:"data"`
}

// rowser is a command result that watch prints.
type rowser interface {
	rows(t *table)
}

// indicationItem decodes an indication: with the result of the command
// that queries the same state where there is one, else as decoded fields.
func indicationItem(ind mbim.Indication, at time.Time, show bool) watchItem {
	svc, cid := ind.Service(), ind.CID()
	it := watchItem{Time: at, Kind: "indication", Service: mbim.ServiceName(svc), CID: mbim.CIDName(svc, cid)}
	if it.Service == "" {
		it.Service = svc.String()
	}
	if it.CID == "" {
		it.CID = strconv.FormatUint(uint64(cid), 10)
	}
	if svc == mbim.ServiceBasicConnect {
		if r := basicConnectResult(ind, show); r != nil {
			it.Data, it.rows = r, r.rows
			return it
		}
	}
	it.Data, it.lines = decodedFields(ind, show)
	return it
}

// basicConnectResult converts the Basic Connect indications that a
// command shows; nil for the others, or when the body does not decode.
func basicConnectResult(ind mbim.Indication, show bool) rowser {
	b, err := ind.Decode()
	if err != nil {
		return nil
	}
	switch ind.CID() {
	case mbim.CIDSignalState:
		if s, err := mbim.SignalFrom(b); err == nil {
			return newSignalResult(s)
		}
	case mbim.CIDRegisterState:
		if r, err := mbim.RegistrationFrom(b); err == nil {
			return newRegisterResult(r)
		}
	case mbim.CIDPacketService:
		if p, err := mbim.PacketServiceFrom(b); err == nil {
			return newPacketResult(p)
		}
	case mbim.CIDConnect:
		if c, err := mbim.ConnectionFrom(b); err == nil {
			return newConnectResult(c)
		}
	case mbim.CIDSubscriberReadyStatus:
		if st, err := mbim.SubscriberStatusFrom(b); err == nil {
			return newSubscriberResult(st, show)
		}
	case mbim.CIDRadioState:
		if r, ok := b.(*mbim.RadioStateInfo); ok {
			return newRadioResult(*r)
		}
	case mbim.CIDIpConfiguration:
		if ip, ok := b.(*mbim.IPConfigurationInfo); ok {
			return &ipConfigResult{SessionID: ip.SessionId, ipConfig: *newIPConfig(ip)}
		}
	}
	return nil
}

// decodedFields is the JSON and the text of an indication no command
// shows: {"layout", "fields"} and the decoded tree's field lines, personal
// data masked (credentials even with show), or the information buffer in
// hex when there is no layout.
func decodedFields(ind mbim.Indication, show bool) (any, []string) {
	raw := append([]byte(nil), ind.Message().Bytes()...)
	m, err := mbim.ParseMessage(raw)
	if err != nil {
		return map[string]any{"error": trimMBIM(err.Error())}, []string{"(" + trimMBIM(err.Error()) + ")"}
	}
	d, err := mbim.DecodeMessage(m, ind.Version())
	if err != nil || d.Body == nil {
		buf := mbim.Bytes(m.InformationBuffer())
		data := map[string]any{"information_buffer": buf}
		line := "information_buffer: " + buf.String()
		if err != nil {
			data["error"] = trimMBIM(err.Error())
			line += " (" + trimMBIM(err.Error()) + ")"
			if len(mbim.PersonalFields(d.Layout)) > 0 && !show {
				data["information_buffer"] = personalMark
				line = "information_buffer: " + personalMark + " (" + trimMBIM(err.Error()) + ")"
			}
		}
		return data, []string{line}
	}
	if show && maskMessage(raw, d.Body, true) {
		if d2, err := mbim.DecodeMessage(m, ind.Version()); err == nil {
			d = d2
		}
	}
	var fields any = d.Body
	if !show {
		fields = mbim.Redacted(d.Body)
	}
	return map[string]any{"layout": d.Layout, "fields": fields}, treeFields(d, !show)
}

// treeFields returns the lines of the decoded tree below its "fields"
// line, two levels less indented.
func treeFields(d *mbim.Decoded, redact bool) []string {
	var b bytes.Buffer
	d.WriteTree(&b, redact)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  fields (") {
			out := lines[i+1:]
			for j := range out {
				out[j] = strings.TrimPrefix(out[j], "    ")
			}
			return out
		}
	}
	return lines
}

// handoffItem is a handoff engine event as a watch item: the seam for
// watchSource. Its JSON is the event's own (handoff.Event.MarshalJSON).
func handoffItem(ev handoff.Event) watchItem {
	it := watchItem{Time: ev.Time, Kind: "handoff", Event: string(ev.Type), Data: ev}
	switch ev.Type {
	case handoff.EventHandoff:
		line := fmt.Sprintf("session %d: %s -> %s, %s in %s", ev.Session, orDash(ev.From), orDash(ev.To), ev.Outcome, ev.Duration)
		if ev.Reason != "" {
			line += ": " + ev.Reason
		}
		it.lines = append(it.lines, line)
		for _, s := range ev.Steps {
			it.lines = append(it.lines, "  "+s)
		}
	default:
		b, err := json.Marshal(ev)
		if err == nil {
			it.lines = []string{string(b)}
		}
	}
	return it
}
