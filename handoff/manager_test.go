package handoff_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/handofftest"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// The Manager against the simulated modem (in process, over mbim.Pipe)
// and the recording fake host: every scenario of the daemon, without
// root. e2e_linux_test.go runs the same rig against the kernel.

// mgrWait bounds every wait of these tests.
const mgrWait = 5 * time.Second

// mgrRig is a Manager on a simulated modem.
type mgrRig struct {
	t    testing.TB
	sim  *mbimtest.Sim
	host handoff.Host
	m    *handoff.Manager
	cfg  handoff.ManagerConfig

	events <-chan handoff.Event
	unsub  func()
	cancel context.CancelFunc
	done   chan error

	mu  sync.Mutex
	all []handoff.Event // every event read so far
}

// testManagerConfig is quick: a small debounce and short backoffs, so a
// scenario takes milliseconds.
func testManagerConfig(host handoff.Host) handoff.ManagerConfig {
	return handoff.ManagerConfig{
		Connect: handoff.ConnectSettings{APN: "internet", IPType: mbim.ContextIpTypeIpv4v6},
		Host:    host,
		Engine: handoff.EngineConfig{
			Interface: "wwan0",
			Debounce:  5 * time.Millisecond,
			Backoff:   handoff.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		},
		Reopen:       handoff.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		PollInterval: -1,
	}
}

// newMgrRig makes a rig; call start to run the Manager.
func newMgrRig(t testing.TB, host handoff.Host, simOpts ...mbimtest.Option) *mgrRig {
	t.Helper()
	sim := mbimtest.New(simOpts...)
	t.Cleanup(func() { sim.Close() })
	r := &mgrRig{t: t, sim: sim, host: host, cfg: testManagerConfig(host)}
	r.cfg.Dial = func(ctx context.Context) (mbim.Transport, error) { return sim.ServePipe(), nil }
	return r
}

// start runs a Manager with r.cfg (edit it before).
func (r *mgrRig) start() {
	r.t.Helper()
	m, err := handoff.NewManager(r.cfg)
	if err != nil {
		r.t.Fatalf("NewManager: %v", err)
	}
	r.m = m
	r.events, r.unsub = m.Subscribe(4096)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- m.Run(ctx) }()
	r.t.Cleanup(func() { r.stop() })
}

// stop ends Run (once) and returns its error.
func (r *mgrRig) stop() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		r.unsub()
		return err
	case <-time.After(2 * mgrWait):
		r.t.Errorf("Manager.Run did not return after its context ended")
		return nil
	}
}

// runErr waits for Run to return by itself.
func (r *mgrRig) runErr() error {
	r.t.Helper()
	select {
	case err := <-r.done:
		r.cancel()
		r.cancel = nil
		r.unsub()
		return err
	case <-time.After(mgrWait):
		r.t.Fatalf("Manager.Run still runs after %v", mgrWait)
		return nil
	}
}

// next waits for the next handoff or config event matching want and
// returns the events read up to it.
func (r *mgrRig) next(what string, want func(handoff.Event) bool) (handoff.Event, []handoff.Event) {
	r.t.Helper()
	var seen []handoff.Event
	timeout := time.After(mgrWait)
	for {
		select {
		case ev, ok := <-r.events:
			if !ok {
				r.t.Fatalf("waiting for %s: event channel closed", what)
			}
			r.mu.Lock()
			r.all = append(r.all, ev)
			r.mu.Unlock()
			seen = append(seen, ev)
			if want(ev) {
				return ev, seen
			}
		case <-timeout:
			r.t.Fatalf("no %s within %v; events: %s", what, mgrWait, eventList(seen))
			return handoff.Event{}, nil
		}
	}
}

// nextHandoff waits for the next handoff event.
func (r *mgrRig) nextHandoff() (handoff.Event, []handoff.Event) {
	r.t.Helper()
	return r.next("handoff event", func(ev handoff.Event) bool { return ev.Type == handoff.EventHandoff })
}

// up waits until the session is up and the host consistent with the
// modem's configuration, and returns that configuration.
func (r *mgrRig) up() handoff.Config {
	r.t.Helper()
	deadline := time.Now().Add(mgrWait)
	for {
		want := simConfig(r.t, r.sim, 0)
		s := r.m.Snapshot().Engine
		if s.State == handoff.Up && !want.IsZero() && s.Applied.Equal(want) {
			return want
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("not up within %v: engine %v, applied %+v, modem %+v", mgrWait, s.State, s.Applied, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// eventually polls cond until it returns nil, for mgrWait at most.
func eventually(t testing.TB, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(mgrWait)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// drain reads the events queued now.
func (r *mgrRig) drain() []handoff.Event {
	var out []handoff.Event
	for {
		select {
		case ev := <-r.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func eventList(evs []handoff.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("\n  ")
		b.WriteString(eventString(ev))
	}
	return b.String()
}

func eventString(ev handoff.Event) string {
	switch ev.Type {
	case handoff.EventHandoff:
		return fmt.Sprintf("handoff %s→%s %s %q %s", ev.From, ev.To, ev.Outcome, ev.Steps, ev.Reason)
	case handoff.EventSession:
		return "session " + ev.ActivationState.String()
	case handoff.EventLink:
		if ev.LinkUp {
			return "link up"
		}
		return "link down"
	case handoff.EventPacketService:
		return "packet-service " + ev.PacketService.State.String() + " " + ev.PacketService.Class()
	}
	return string(ev.Type)
}

// simConfig is the session's configuration as the simulated modem has it,
// as the host should have it.
func simConfig(t testing.TB, sim *mbimtest.Sim, id uint32) handoff.Config {
	t.Helper()
	s, ok := sim.Session(id)
	if !ok || s.State != mbim.ActivationStateActivated {
		return handoff.Config{}
	}
	ip := s.IP
	var c handoff.Config
	if ip.IPv4.IsValid() {
		c.IPv4 = []netip.Prefix{ip.IPv4}
		c.Gateway4 = ip.IPv4Gateway
		c.DNS = append(c.DNS, ip.IPv4DNS...)
	}
	if ip.IPv6.IsValid() {
		c.IPv6 = []netip.Prefix{ip.IPv6}
		c.Gateway6 = ip.IPv6Gateway
		c.DNS = append(c.DNS, ip.IPv6DNS...)
	}
	for _, mtu := range []uint32{ip.IPv4MTU, ip.IPv6MTU} {
		if mtu > 0 && (c.MTU == 0 || int(mtu) < c.MTU) {
			c.MTU = int(mtu)
		}
	}
	return c
}

// seedOrder checks that a readdressed or reconnected handoff's steps follow
// the seed's eight steps: packet-service, session, packet-service (1–3),
// route and address deletions (4), additions, routes, MTU, DNS (5),
// link-down (6), link-up (7), packet-service (8).
func seedOrder(steps []string) error {
	if len(steps) < 4 || !slices.Equal(steps[:3], []string{"packet-service", "session", "packet-service"}) ||
		steps[len(steps)-1] != "packet-service" {
		return fmt.Errorf("steps %q: want packet-service, session, packet-service first and packet-service last", steps)
	}
	rank := func(s string) int {
		switch {
		case strings.HasPrefix(s, "addr-del "), strings.HasPrefix(s, "route-del "):
			return 4
		case strings.HasPrefix(s, "addr-add "):
			return 50
		case strings.HasPrefix(s, "route-replace "):
			return 51
		case strings.HasPrefix(s, "mtu "):
			return 52
		case strings.HasPrefix(s, "dns"):
			return 53
		case s == "link-down":
			return 60
		case s == "link-up":
			return 70
		}
		return -1
	}
	prev := 0
	for _, s := range steps[3 : len(steps)-1] {
		r := rank(s)
		if r < 0 {
			return fmt.Errorf("steps %q: %q is not a host step", steps, s)
		}
		if r < prev {
			return fmt.Errorf("steps %q: %q out of the seed's order", steps, s)
		}
		prev = r
	}
	return nil
}

// hostSteps keeps the steps that are host operations.
func hostOps(steps []string) []string {
	var out []string
	for _, s := range steps {
		if s != "packet-service" && s != "session" {
			out = append(out, s)
		}
	}
	return out
}

func fakeRig(t *testing.T, simOpts ...mbimtest.Option) (*mgrRig, *handofftest.Host) {
	t.Helper()
	host := handofftest.New(handoff.HostState{})
	return newMgrRig(t, host, simOpts...), host
}

func checkHost(t *testing.T, host *handofftest.Host, sim *mbimtest.Sim) {
	t.Helper()
	if err := host.Check(simConfig(t, sim, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestManagerBringsTheSessionUp(t *testing.T) {
	r, host := fakeRig(t)
	r.start()
	cfg := r.up()
	checkHost(t, host, r.sim)
	// First bring-up: link up (a new interface), addresses, routes, MTU,
	// DNS; no handoff event.
	want := []string{"state", "link-up"}
	for _, p := range cfg.Addresses() {
		want = append(want, "addr-add "+p.String())
	}
	want = append(want, "route-replace default", "route-replace default ipv6", "mtu 1500",
		"dns 192.0.2.53 192.0.2.54 2001:db8:53::53 2001:db8:53::54")
	if got := host.Ops(); !slices.Equal(got, want) {
		t.Errorf("host operations %q, want %q", got, want)
	}
	s := r.m.Snapshot()
	if !s.DeviceOpen || s.MBIMEx != mbim.MBIMEx3 || s.SessionStart.IsZero() || s.Counters.Opens != 1 ||
		s.Identity.Firmware != mbimtest.DefaultDevice().Firmware || s.Registration.State != mbim.RegisterStateHome ||
		s.PacketService.State != mbim.PacketServiceStateAttached || !s.SignalKnown || s.Device.MessagesSent == 0 {
		t.Errorf("snapshot %+v", s)
	}
	if strings.Contains(fmt.Sprintf("%+v", s), mbimtest.DefaultDevice().DeviceID) {
		t.Errorf("the snapshot holds the IMEI")
	}
	for _, ev := range r.drain() {
		if ev.Type == handoff.EventHandoff {
			t.Errorf("bring-up gave a handoff event: %s", eventString(ev))
		}
	}
	if !r.sim.Subscribed(mbim.ServiceBasicConnect, mbim.CIDIpConfiguration) ||
		!r.sim.Subscribed(mbim.ServiceBasicConnect, mbim.CIDPacketService) {
		t.Errorf("the modem was not told to send the indications the engine needs")
	}
	if err := r.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if s, _ := r.sim.Session(0); s.State != mbim.ActivationStateActivated {
		t.Errorf("session %v after exit, want it left up", s.State)
	}
}

// A tour of every technology with the same address: one packet-service
// step per handoff, and not one host call.
func TestManagerTourSameAddressIsTransparent(t *testing.T) {
	r, host := fakeRig(t)
	r.start()
	r.up()
	host.Reset()
	from := "LTE"
	tour := append(slices.Clone(mbimtest.Tour3GPP), mbimtest.Tour3GPP2...)
	for _, class := range tour {
		if err := r.sim.SetDataClass(class, false, mbimtest.AddressChange{}); err != nil {
			t.Fatal(err)
		}
		ev, _ := r.nextHandoff()
		to := handoff.DataClassName(class)
		if ev.Outcome != handoff.Transparent || ev.From != from || ev.To != to ||
			!slices.Equal(ev.Steps, []string{"packet-service"}) {
			t.Fatalf("handoff to %s: %s", to, eventString(ev))
		}
		from = to
	}
	if ops := host.Ops(); len(ops) != 0 {
		t.Errorf("host calls during a transparent tour: %q", ops)
	}
	for _, ev := range r.drain() {
		if ev.Type == handoff.EventLink || ev.Type == handoff.EventConfig {
			t.Errorf("%s during a transparent tour", eventString(ev))
		}
	}
	checkHost(t, host, r.sim)
	eventually(t, func() error {
		if c := r.m.Snapshot().Engine.Counters.Handoffs[handoff.Transparent]; c != uint64(len(tour)) {
			return fmt.Errorf("%d transparent handoffs counted, want %d", c, len(tour))
		}
		return nil
	})
}

// addressChanges are the ways a handoff may change the address, as the
// simulator plays them.
var addressChanges = []struct {
	name    string
	class   mbim.DataClass
	ac      mbimtest.AddressChange
	outcome handoff.Outcome
}{
	{"in place, indicated", mbim.DataClassHsdpa, mbimtest.AddressChange{Notify: true}, handoff.Readdressed},
	{"in place, by query only", mbim.DataClass5gNsa, mbimtest.AddressChange{}, handoff.Readdressed},
	{"reconnect", mbim.DataClassUmts, mbimtest.AddressChange{Reconnect: true}, handoff.Reconnected},
	{"reconnect, indicated", mbim.DataClassLte, mbimtest.AddressChange{Reconnect: true, Notify: true}, handoff.Reconnected},
	{"before the class change", mbim.DataClassEdge, mbimtest.AddressChange{First: true, Notify: true}, handoff.Readdressed},
}

// Handoffs with an address change: the host follows in the seed's order,
// touching only what differs.
func TestManagerTourWithAddressChanges(t *testing.T) {
	r, host := fakeRig(t)
	r.start()
	old := r.up()
	for _, c := range addressChanges {
		host.Reset()
		if err := r.sim.SetDataClass(c.class, true, c.ac); err != nil {
			t.Fatal(err)
		}
		// A change made before the class change may show as two
		// handoffs (the address, then a transparent class change).
		ev, _ := r.next(c.name, func(ev handoff.Event) bool {
			return ev.Type == handoff.EventHandoff && ev.Outcome != handoff.Transparent
		})
		now := r.up()
		if ev.Outcome != c.outcome {
			t.Errorf("%s: outcome %s, want %s: %s", c.name, ev.Outcome, c.outcome, eventString(ev))
		}
		if err := seedOrder(ev.Steps); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		want := []string{
			"addr-del " + old.IPv4[0].String(), "addr-del " + old.IPv6[0].String(),
			"addr-add " + now.IPv4[0].String(), "addr-add " + now.IPv6[0].String(),
			"route-replace default", "route-replace default ipv6", "link-down", "link-up",
		}
		if got := hostOps(ev.Steps); !slices.Equal(got, want) {
			t.Errorf("%s: host steps %q, want %q", c.name, got, want)
		}
		if got := host.Writes(); !slices.Equal(got, want) {
			t.Errorf("%s: host calls %q, want %q", c.name, got, want)
		}
		if !ev.Old.Equal(old) || !ev.New.Equal(now) {
			t.Errorf("%s: old %v new %v, want %v and %v", c.name, ev.Old, ev.New, old, now)
		}
		checkHost(t, host, r.sim)
		old = now
	}
}

// The operator ends the session (the daily re-addressing): the Manager
// connects again and the host takes the new address.
func TestManagerOperatorReaddressing(t *testing.T) {
	r, host := fakeRig(t)
	r.start()
	old := r.up()
	if err := r.sim.DropSession(0, 36); err != nil {
		t.Fatal(err)
	}
	ev, evs := r.nextHandoff()
	now := r.up()
	if ev.Outcome != handoff.Reconnected || now.Equal(old) {
		t.Fatalf("handoff %s; old %v, now %v", eventString(ev), old, now)
	}
	if err := seedOrder(ev.Steps); err != nil {
		t.Error(err)
	}
	var sawCause bool
	for _, e := range evs {
		sawCause = sawCause || (e.Type == handoff.EventSession && e.NwError == 36)
	}
	if !sawCause {
		t.Errorf("no session event with the network's cause: %s", eventList(evs))
	}
	checkHost(t, host, r.sim)
}

// The modem resets and falls off the bus: transport lost, reopen, connect
// again, host reconciled.
func TestManagerModemResetHangsUp(t *testing.T) {
	r, host := fakeRig(t)
	r.start()
	old := r.up()
	if err := r.sim.Reset(mbimtest.ResetOptions{CloseTransport: true}); err != nil {
		t.Fatal(err)
	}
	ev, _ := r.nextHandoff()
	now := r.up()
	if ev.Outcome != handoff.Reconnected || now.Equal(old) {
		t.Errorf("handoff %s", eventString(ev))
	}
	checkHost(t, host, r.sim)
	s := r.m.Snapshot()
	if s.Counters.TransportLosses != 1 || s.Counters.Opens != 2 || !s.DeviceOpen {
		t.Errorf("counters %+v", s.Counters)
	}
}

// The modem resets without hanging up: the next poll gets NOT_OPENED, the
// device opens the session again, and the Manager prepares the modem and
// has the engine reconcile.
func TestManagerModemResetSilently(t *testing.T) {
	r, host := fakeRig(t)
	r.cfg.PollInterval = 20 * time.Millisecond
	r.start()
	old := r.up()
	if err := r.sim.Reset(mbimtest.ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	ev, _ := r.next("reconnection", func(ev handoff.Event) bool {
		return ev.Type == handoff.EventHandoff && ev.Outcome != handoff.Transparent
	})
	now := r.up()
	if ev.Outcome != handoff.Reconnected || now.Equal(old) {
		t.Errorf("handoff %s", eventString(ev))
	}
	checkHost(t, host, r.sim)
	eventually(t, func() error {
		if s := r.m.Snapshot(); s.Counters.ModemResets != 1 || s.Counters.TransportLosses != 0 {
			return fmt.Errorf("counters %+v, want one modem reset", s.Counters)
		}
		return nil
	})
}

// Registration lost: the engine holds (no connect, no host change); back:
// the session comes back with its new address.
func TestManagerRegistrationLossAndReturn(t *testing.T) {
	r, host := fakeRig(t)
	r.start()
	old := r.up()
	host.Reset()
	if err := r.sim.Deregister(); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if s := r.m.Snapshot().Engine.State; s != handoff.Detached {
			return fmt.Errorf("engine %v after deregistration, want detached", s)
		}
		return nil
	})
	time.Sleep(50 * time.Millisecond) // several backoffs: nothing may happen
	if s := r.m.Snapshot().Engine; s.State != handoff.Detached || len(host.Ops()) != 0 {
		t.Fatalf("while deregistered: state %v, host %q", s.State, host.Ops())
	}
	if err := r.sim.Register(); err != nil {
		t.Fatal(err)
	}
	ev, _ := r.nextHandoff()
	now := r.up()
	if ev.Outcome != handoff.Reconnected || now.Equal(old) {
		t.Errorf("handoff %s", eventString(ev))
	}
	if err := seedOrder(ev.Steps); err != nil {
		t.Error(err)
	}
	checkHost(t, host, r.sim)
}

// A network that wants the host to attach: the Manager attaches, after the
// first registration and after a network-side detach.
func TestManagerAttaches(t *testing.T) {
	n := mbimtest.DefaultNetwork()
	n.ManualAttach = true
	r, host := fakeRig(t, mbimtest.WithNetwork(n))
	r.start()
	r.up()
	if err := r.sim.Detach(0); err != nil {
		t.Fatal(err)
	}
	ev, _ := r.nextHandoff()
	r.up()
	if ev.Outcome != handoff.Reconnected {
		t.Errorf("handoff %s", eventString(ev))
	}
	checkHost(t, host, r.sim)
	if c := r.m.Snapshot().Counters; c.Attaches != 2 || c.AttachFailures != 0 {
		t.Errorf("counters %+v, want 2 attaches", c)
	}
}

// A restart of the daemon with the link up and the host right: no write
// at all, no handoff.
func TestManagerRestartWritesNothing(t *testing.T) {
	r, host := fakeRig(t)
	r.start()
	cfg := r.up()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	host.Reset()
	r.start()
	if got := r.up(); !got.Equal(cfg) {
		t.Fatalf("configuration %v after the restart, want %v", got, cfg)
	}
	if w := host.Writes(); len(w) != 0 {
		t.Errorf("the restart wrote to the host: %q", w)
	}
	for _, ev := range r.drain() {
		if ev.Type == handoff.EventHandoff || ev.Type == handoff.EventLink {
			t.Errorf("the restart gave %s", eventString(ev))
		}
	}
}

// A SIM with PIN1: entered once, after power-on and after a reset.
func TestManagerEntersThePIN(t *testing.T) {
	sc := mbimtest.DefaultSIM()
	sc.PINEnabled = true
	r, host := fakeRig(t, mbimtest.WithSIM(sc))
	r.cfg.Connect.PIN = sc.PIN
	r.start()
	r.up()
	if err := r.sim.Reset(mbimtest.ResetOptions{CloseTransport: true}); err != nil {
		t.Fatal(err)
	}
	r.nextHandoff()
	r.up()
	checkHost(t, host, r.sim)
	if c := r.m.Snapshot().Counters; c.PINEntries != 2 {
		t.Errorf("PIN entered %d times, want 2", c.PINEntries)
	}
}

// A wrong PIN is tried once and never again (it would block the SIM), and
// no PIN for a locked SIM is an error: Run ends with ErrSIMLocked.
func TestManagerSIMLocked(t *testing.T) {
	for _, pin := range []string{"9999", ""} {
		sc := mbimtest.DefaultSIM()
		sc.PINEnabled = true
		r, host := fakeRig(t, mbimtest.WithSIM(sc))
		r.cfg.Connect.PIN = pin
		r.cfg.RetryFirstOpen = true // even so: a wrong PIN is not retried
		r.start()
		err := r.runErr()
		if !errors.Is(err, handoff.ErrSIMLocked) {
			t.Fatalf("PIN %q: Run returned %v, want ErrSIMLocked", pin, err)
		}
		if strings.Contains(err.Error(), "9999") {
			t.Errorf("the error shows the PIN: %v", err)
		}
		wantLeft := mbimtest.PINAttempts
		if pin != "" {
			wantLeft--
		}
		if left := r.sim.SIM().PINAttempts; left != wantLeft {
			t.Errorf("PIN %q: %d attempts left, want %d", pin, left, wantLeft)
		}
		if w := host.Writes(); len(w) != 0 {
			t.Errorf("host written: %q", w)
		}
	}
}

// --disconnect-on-exit: the session is deactivated and what the engine
// applied is removed.
func TestManagerDisconnectOnExit(t *testing.T) {
	r, host := fakeRig(t)
	r.cfg.DisconnectOnExit = true
	r.start()
	r.up()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.sim.Session(0); s.State == mbim.ActivationStateActivated {
		t.Errorf("session still activated")
	}
	if st := host.Current(); len(st.Addresses) != 0 || len(st.Routes) != 0 || st.Up {
		t.Errorf("host after exit: %+v", st)
	}
}

// In DHCP mode a readdressing only signals the link.
func TestManagerDHCPMode(t *testing.T) {
	r, host := fakeRig(t)
	r.cfg.Engine.DHCP = true
	r.start()
	r.next("configuration", func(ev handoff.Event) bool { return ev.Type == handoff.EventConfig })
	host.Reset()
	if err := r.sim.SetDataClass(mbim.DataClassHsdpa, true, mbimtest.AddressChange{Notify: true}); err != nil {
		t.Fatal(err)
	}
	ev, _ := r.nextHandoff()
	if ev.Outcome != handoff.Readdressed || !slices.Equal(host.Writes(), []string{"link-down", "link-up"}) {
		t.Errorf("handoff %s, host %q", eventString(ev), host.Writes())
	}
}

// The first open fails: Run says why, unless told to wait for the modem.
func TestManagerFirstOpen(t *testing.T) {
	host := handofftest.New(handoff.HostState{})
	cfg := testManagerConfig(host)
	gone := errors.New("no such modem")
	var dials int
	cfg.Dial = func(context.Context) (mbim.Transport, error) { dials++; return nil, gone }
	m, err := handoff.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); !errors.Is(err, gone) || dials != 1 {
		t.Errorf("Run = %v after %d dials, want the dial's error after 1", err, dials)
	}
	cfg.RetryFirstOpen = true
	m, _ = handoff.NewManager(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := m.Run(ctx); err != nil || dials < 3 {
		t.Errorf("Run = %v after %d dials, want nil after several", err, dials)
	}
	if s := m.Snapshot(); s.Counters.OpenFailures < 2 || !strings.Contains(s.LastError, "no such modem") {
		t.Errorf("snapshot %+v", s)
	}
}

func TestManagerConfigChecked(t *testing.T) {
	host := handofftest.New(handoff.HostState{})
	dial := func(context.Context) (mbim.Transport, error) { return nil, errors.New("unused") }
	for _, c := range []struct {
		name string
		cfg  handoff.ManagerConfig
	}{
		{"no dial", handoff.ManagerConfig{Host: host}},
		{"no host", handoff.ManagerConfig{Dial: dial}},
		{"long APN", handoff.ManagerConfig{Dial: dial, Host: host, Connect: handoff.ConnectSettings{APN: strings.Repeat("a", 101)}}},
		{"short PIN", handoff.ManagerConfig{Dial: dial, Host: host, Connect: handoff.ConnectSettings{PIN: "123"}}},
		{"PIN not digits", handoff.ManagerConfig{Dial: dial, Host: host, Connect: handoff.ConnectSettings{PIN: "12a4"}}},
		{"auth", handoff.ManagerConfig{Dial: dial, Host: host, Connect: handoff.ConnectSettings{Auth: 9}}},
		{"ip type", handoff.ManagerConfig{Dial: dial, Host: host, Connect: handoff.ConnectSettings{IPType: 9}}},
	} {
		if _, err := handoff.NewManager(c.cfg); err == nil {
			t.Errorf("%s: NewManager accepted it", c.name)
		}
	}
	ok := handoff.ConnectSettings{APN: strings.Repeat("a", 100), PIN: "12345678", User: "u", Password: "hunter2"}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%v) = %v", ok, err)
	}
	for _, s := range []string{ok.String(), fmt.Sprintf("%#v", ok), fmt.Sprintf("%v", ok)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "12345678") {
			t.Errorf("settings print their secrets: %s", s)
		}
	}
}

// A subscriber gets every event; a slow one loses events, the engine
// never waits.
func TestManagerSubscribe(t *testing.T) {
	r, _ := fakeRig(t)
	slow, cancelSlow := func() (<-chan handoff.Event, func()) { return nil, nil }()
	r.start()
	slow, cancelSlow = r.m.Subscribe(1)
	r.up()
	for _, class := range mbimtest.Tour3GPP {
		if err := r.sim.SetDataClass(class, false, mbimtest.AddressChange{}); err != nil {
			t.Fatal(err)
		}
		r.nextHandoff()
	}
	if n := len(slow); n != 1 {
		t.Errorf("slow subscriber holds %d events, want 1", n)
	}
	cancelSlow()
	cancelSlow()
	if _, ok := <-slow; !ok {
		t.Errorf("no event before the close")
	}
	if _, ok := <-slow; ok {
		t.Errorf("channel not closed by cancel")
	}
}
