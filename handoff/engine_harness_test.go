package handoff_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/handofftest"
	"github.com/gowwan/wwan/mbim"
)

// fakeModem answers the engine's Modem calls from a scripted state.
type fakeModem struct {
	mu        sync.Mutex
	status    handoff.ModemStatus
	ip        handoff.IPConfiguration // what a query answers
	connErrs  []error                 // the next connects' results, in order (then success)
	connDelay time.Duration
	onConnect func(m *fakeModem) // after a successful connect, with mu held
	queryErr  error
	statusErr error
	// statusDelay makes Status answer late (the answer is what the modem
	// said when asked).
	statusDelay time.Duration

	statuses, connects, queries int
	connectTimes                []time.Time
}

func (m *fakeModem) Status(ctx context.Context, session uint32) (handoff.ModemStatus, error) {
	m.mu.Lock()
	m.statuses++
	st, err, delay := m.status, m.statusErr, m.statusDelay
	m.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return handoff.ModemStatus{}, ctx.Err()
		}
	}
	return st, err
}

func (m *fakeModem) Connect(ctx context.Context, session uint32) error {
	m.mu.Lock()
	m.connects++
	m.connectTimes = append(m.connectTimes, time.Now())
	d := m.connDelay
	var err error
	if len(m.connErrs) > 0 {
		err, m.connErrs = m.connErrs[0], m.connErrs[1:]
	}
	m.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.Session.ActivationState = mbim.ActivationStateActivated
	if m.onConnect != nil {
		m.onConnect(m)
	}
	return nil
}

func (m *fakeModem) IPConfiguration(ctx context.Context, session uint32) (handoff.IPConfiguration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queries++
	return m.ip, m.queryErr
}

func (m *fakeModem) set(f func(m *fakeModem)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

func (m *fakeModem) counts() (statuses, connects, queries int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.statuses, m.connects, m.queries
}

// harness runs an engine inside a synctest bubble.
type harness struct {
	t      *testing.T
	e      *handoff.Engine
	host   *handofftest.Host
	modem  *fakeModem
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	events []handoff.Event
}

func newHarness(t *testing.T, cfg handoff.EngineConfig, m *fakeModem, host *handofftest.Host) *harness {
	t.Helper()
	h := &harness{t: t, host: host, modem: m, done: make(chan error, 1)}
	cfg.Sinks = append(cfg.Sinks, func(ev handoff.Event) {
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
	})
	if cfg.Interface == "" {
		cfg.Interface = "wwan0"
	}
	h.e = handoff.New(cfg, m, host)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.e.Run(ctx) }()
	synctest.Wait()
	return h
}

func (h *harness) stop() {
	h.cancel()
	if err := <-h.done; !errors.Is(err, context.Canceled) {
		h.t.Errorf("Run returned %v, want context.Canceled", err)
	}
}

// settle lets d of bubble time pass, then waits for the engine to block.
func (h *harness) settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (h *harness) handle(ins ...handoff.Input) {
	h.t.Helper()
	for _, in := range ins {
		if !h.e.Handle(in) {
			h.t.Fatalf("Handle(%#v) dropped the input", in)
		}
	}
}

func (h *harness) allEvents() []handoff.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// mark returns a position in the event log.
func (h *harness) mark() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

func (h *harness) since(mark int) []handoff.Event { return h.allEvents()[mark:] }

func handoffs(evs []handoff.Event) []handoff.Event {
	var out []handoff.Event
	for _, ev := range evs {
		if ev.Type == handoff.EventHandoff {
			out = append(out, ev)
		}
	}
	return out
}

func types(evs []handoff.Event) []string {
	var out []string
	for _, ev := range evs {
		s := string(ev.Type)
		switch ev.Type {
		case handoff.EventLink:
			if ev.LinkUp {
				s += " up"
			} else {
				s += " down"
			}
		case handoff.EventSession:
			s += " " + ev.ActivationState.String()
		case handoff.EventHandoff:
			s += " " + string(ev.Outcome)
		}
		out = append(out, s)
	}
	return out
}

// oneHandoff asserts exactly one handoff event among evs and returns it.
func (h *harness) oneHandoff(evs []handoff.Event) handoff.Event {
	h.t.Helper()
	hs := handoffs(evs)
	if len(hs) != 1 {
		h.t.Fatalf("%d handoff events, want 1; events: %q", len(hs), types(evs))
	}
	return hs[0]
}

// hostSteps keeps the steps that are host operations.
func hostSteps(steps []string) []string {
	var out []string
	for _, s := range steps {
		if s != "packet-service" && s != "session" {
			out = append(out, s)
		}
	}
	return out
}

// Test data.

var (
	addr4a = netip.MustParsePrefix("198.51.100.2/30")
	gw4a   = netip.MustParseAddr("198.51.100.1")
	addr4b = netip.MustParsePrefix("198.51.100.6/30")
	gw4b   = netip.MustParseAddr("198.51.100.5")
	dns4   = netip.MustParseAddr("192.0.2.53")
	addr6a = netip.MustParsePrefix("2001:db8:1::2/64")
	addr6b = netip.MustParsePrefix("2001:db8:2::2/64")
	gw6    = netip.MustParseAddr("fe80::1")
	dns6   = netip.MustParseAddr("2001:db8::53")
)

const allFlags = mbim.IPConfigurationAvailableAddress | mbim.IPConfigurationAvailableGateway |
	mbim.IPConfigurationAvailableDns | mbim.IPConfigurationAvailableMtu

func v4(p netip.Prefix, gw netip.Addr) handoff.FamilyConfig {
	return handoff.FamilyConfig{Available: allFlags, Addresses: []netip.Prefix{p}, Gateway: gw,
		DNS: []netip.Addr{dns4}, MTU: 1500}
}

func v6(p netip.Prefix) handoff.FamilyConfig {
	return handoff.FamilyConfig{Available: allFlags, Addresses: []netip.Prefix{p}, Gateway: gw6,
		DNS: []netip.Addr{dns6}, MTU: 1500}
}

func ipv4Only(p netip.Prefix, gw netip.Addr) handoff.IPConfiguration {
	return handoff.IPConfiguration{IPv4: v4(p, gw)}
}

func dual(p4 netip.Prefix, gw netip.Addr, p6 netip.Prefix) handoff.IPConfiguration {
	return handoff.IPConfiguration{IPv4: v4(p4, gw), IPv6: v6(p6)}
}

func attached(dc mbim.DataClass) handoff.PacketService {
	return handoff.PacketService{State: mbim.PacketServiceStateAttached, DataClass: dc,
		Uplink: 50_000_000, Downlink: 150_000_000}
}

func activeModem(dc mbim.DataClass, ip handoff.IPConfiguration) *fakeModem {
	return &fakeModem{
		status: handoff.ModemStatus{
			Register:      handoff.Register{State: mbim.RegisterStateHome},
			PacketService: attached(dc),
			Session:       handoff.Session{ActivationState: mbim.ActivationStateActivated},
		},
		ip: ip,
	}
}

// consistentHost is a host already configured as ip says, link up.
func consistentHost(ip handoff.IPConfiguration) *handofftest.Host {
	return handofftest.New(handofftest.StateOf(ip.Config()))
}

func deactivated() handoff.Session {
	return handoff.Session{ActivationState: mbim.ActivationStateDeactivated, NwError: 36} // regular deactivation
}

// run wraps synctest.Test.
func run(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, f)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
