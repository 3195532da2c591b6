package metrics

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/handofftest"
	"github.com/gowwan/wwan/mbim"
)

// tourModem answers the engine's Modem calls from a scripted state.
type tourModem struct {
	mu        sync.Mutex
	status    handoff.ModemStatus
	ip        handoff.IPConfiguration
	connDelay time.Duration
	onConnect func(m *tourModem)
}

func (m *tourModem) Status(ctx context.Context, session uint32) (handoff.ModemStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status, nil
}

func (m *tourModem) Connect(ctx context.Context, session uint32) error {
	m.mu.Lock()
	d := m.connDelay
	m.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.Session.ActivationState = mbim.ActivationStateActivated
	if m.onConnect != nil {
		m.onConnect(m)
	}
	return nil
}

func (m *tourModem) IPConfiguration(ctx context.Context, session uint32) (handoff.IPConfiguration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ip, nil
}

func (m *tourModem) set(f func(m *tourModem)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

const everything = mbim.IPConfigurationAvailableAddress | mbim.IPConfigurationAvailableGateway |
	mbim.IPConfigurationAvailableDns | mbim.IPConfigurationAvailableMtu

func ipConfig(v4, v6 string) handoff.IPConfiguration {
	var c handoff.IPConfiguration
	if v4 != "" {
		p := pfx(v4)
		c.IPv4 = handoff.FamilyConfig{Available: everything, Addresses: []netip.Prefix{p}, Gateway: p.Addr().Prev(),
			DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")}, MTU: 1500}
	}
	if v6 != "" {
		c.IPv6 = handoff.FamilyConfig{Available: everything, Addresses: []netip.Prefix{pfx(v6)},
			Gateway: netip.MustParseAddr("fe80::1"), MTU: 1500}
	}
	return c
}

func attachedOn(dc mbim.DataClass) handoff.PacketService {
	return handoff.PacketService{State: mbim.PacketServiceStateAttached, DataClass: dc, Uplink: 8_000_000, Downlink: 80_000_000}
}

// gathered flattens c's metrics: "name{l=v,...}" → value, and for
// histograms name_count and name_sum.
func gathered(t *testing.T, c *Collector) map[string]float64 {
	t.Helper()
	mfs := gatherFamilies(t, c)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := "{" + strings.Join(ls, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[mf.GetName()+key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[mf.GetName()+key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[mf.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
				out[mf.GetName()+"_sum"+key] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// A handoff tour through a real engine, scraped after every stop: the
// counters move as the tour did, and only then.
func TestHandoffTourMovesTheCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const debounce = 100 * time.Millisecond
		rec := NewRecorder()
		ip := ipConfig("198.51.100.2/30", "")
		m := &tourModem{status: handoff.ModemStatus{
			Register:      handoff.Register{State: mbim.RegisterStateHome},
			PacketService: attachedOn(mbim.DataClassLte),
			Session:       handoff.Session{ActivationState: mbim.ActivationStateActivated},
		}, ip: ip}
		host := handofftest.New(handofftest.StateOf(ip.Config()))
		eng := handoff.New(handoff.EngineConfig{Interface: "wwan0", Debounce: debounce,
			Sinks: []func(handoff.Event){rec.HandoffSink}}, m, host)
		src := SourceFunc(func(ctx context.Context) (Snapshot, error) {
			s := eng.Snapshot()
			return Snapshot{Up: true, Engine: &s}, nil
		})
		c := New(src, WithRecorder(rec))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v", err)
			}
		}()
		settle := func(d time.Duration) {
			time.Sleep(d)
			synctest.Wait()
		}
		handle := func(ins ...handoff.Input) {
			for _, in := range ins {
				if !eng.Handle(in) {
					t.Fatalf("input %#v dropped", in)
				}
			}
		}
		settle(time.Second)

		type want map[string]float64
		// All the tour's counters: each stop says which moved.
		total := want{
			`wwan_handoffs_total{from=LTE,outcome=transparent,to=HSDPA}`:  0,
			`wwan_handoffs_total{from=HSDPA,outcome=readdressed,to=LTE}`:  0,
			`wwan_handoffs_total{from=LTE,outcome=reconnected,to=LTE}`:    0,
			`wwan_handoffs_total{from=LTE,outcome=readdressed,to=5G_NSA}`: 0,
			`wwan_handoff_duration_seconds_count{outcome=transparent}`:    0,
			`wwan_handoff_duration_seconds_count{outcome=readdressed}`:    0,
			`wwan_handoff_duration_seconds_count{outcome=reconnected}`:    0,
			`wwan_ip_changes_total{family=ipv4}`:                          0,
			`wwan_ip_changes_total{family=ipv6}`:                          0,
			`wwan_reconnects_total{reason=session_deactivated}`:           0,
			`wwan_reconnects_total{reason=transport_reset}`:               0,
			`wwan_transport_resets_total{}`:                               0,
			`wwan_handoff_engine_state{state=up}`:                         1,
			`wwan_link_up{}`:                                              1,
		}
		check := func(stop string, moved want) {
			t.Helper()
			for k, d := range moved {
				total[k] += d
			}
			got := gathered(t, c)
			for k, v := range total {
				if got[k] != v {
					t.Errorf("after %s: %s = %v, want %v", stop, k, got[k], v)
				}
			}
			if got[`wwan_scrape_success{}`] != 1 {
				t.Errorf("after %s: scrape failed", stop)
			}
		}
		check("start", want{})

		// LTE → HSDPA, same address: transparent.
		handle(attachedOn(mbim.DataClassHsdpa))
		settle(time.Second)
		check("LTE→HSDPA", want{
			`wwan_handoffs_total{from=LTE,outcome=transparent,to=HSDPA}`: 1,
			`wwan_handoff_duration_seconds_count{outcome=transparent}`:   1,
		})
		if got := gathered(t, c)[`wwan_handoff_duration_seconds_sum{outcome=transparent}`]; got != debounce.Seconds() {
			t.Errorf("transparent handoff took %vs, want the debounce", got)
		}

		// HSDPA → LTE with a new address: readdressed.
		m.set(func(m *tourModem) { m.ip = ipConfig("198.51.100.6/30", "") })
		handle(attachedOn(mbim.DataClassLte))
		settle(time.Second)
		check("HSDPA→LTE", want{
			`wwan_handoffs_total{from=HSDPA,outcome=readdressed,to=LTE}`: 1,
			`wwan_handoff_duration_seconds_count{outcome=readdressed}`:   1,
			`wwan_ip_changes_total{family=ipv4}`:                         1,
		})

		// The network drops the session; it comes back with another
		// address: reconnected, session_deactivated.
		m.set(func(m *tourModem) {
			m.status.Session = handoff.Session{ActivationState: mbim.ActivationStateDeactivated, NwError: 36}
			m.connDelay = 2 * time.Second
			m.onConnect = func(m *tourModem) { m.ip = ipConfig("198.51.100.2/30", "") }
		})
		handle(handoff.Session{ActivationState: mbim.ActivationStateDeactivated, NwError: 36})
		settle(time.Second)
		if got := gathered(t, c); got[`wwan_handoff_engine_state{state=reconnecting}`] != 1 || got[`wwan_session_state{state=DEACTIVATED}`] != 1 {
			t.Errorf("while reconnecting: engine state %v, session deactivated %v", got[`wwan_handoff_engine_state{state=reconnecting}`], got[`wwan_session_state{state=DEACTIVATED}`])
		}
		settle(5 * time.Second)
		check("session drop", want{
			`wwan_handoffs_total{from=LTE,outcome=reconnected,to=LTE}`: 1,
			`wwan_handoff_duration_seconds_count{outcome=reconnected}`: 1,
			`wwan_ip_changes_total{family=ipv4}`:                       1,
			`wwan_reconnects_total{reason=session_deactivated}`:        1,
		})

		// The modem resets: the transport is lost (the Device reports it
		// to the recorder) and comes back without the session.
		m.set(func(m *tourModem) { m.connDelay, m.onConnect = 0, nil })
		rec.ObserveDeviceEvent(mbim.Event{Kind: mbim.EventTransportLost})
		handle(handoff.TransportLost{Reason: "modem reset"})
		settle(time.Second)
		check("transport lost", want{`wwan_transport_resets_total{}`: 1, `wwan_handoff_engine_state{state=up}`: -1})
		m.set(func(m *tourModem) {
			m.status.Session = handoff.Session{ActivationState: mbim.ActivationStateDeactivated}
			m.onConnect = func(m *tourModem) { m.ip = ipConfig("198.51.100.6/30", "") }
		})
		handle(handoff.TransportBack{})
		settle(time.Second)
		check("transport back", want{
			`wwan_handoffs_total{from=LTE,outcome=reconnected,to=LTE}`: 1,
			`wwan_handoff_duration_seconds_count{outcome=reconnected}`: 1,
			`wwan_ip_changes_total{family=ipv4}`:                       1,
			`wwan_reconnects_total{reason=transport_reset}`:            1,
			`wwan_handoff_engine_state{state=up}`:                      1,
		})

		// LTE → 5G NSA gaining IPv6: readdressed, an IPv6 change only.
		m.set(func(m *tourModem) { m.ip = ipConfig("198.51.100.6/30", "2001:db8:1::2/64") })
		handle(attachedOn(mbim.DataClass5gNsa))
		settle(time.Second)
		check("LTE→5G_NSA", want{
			`wwan_handoffs_total{from=LTE,outcome=readdressed,to=5G_NSA}`: 1,
			`wwan_handoff_duration_seconds_count{outcome=readdressed}`:    1,
			`wwan_ip_changes_total{family=ipv6}`:                          1,
		})
		got := gathered(t, c)
		if got[`wwan_data_class{data_class=5G_NSA}`] != 1 {
			t.Errorf("data class after the tour: %v", got[`wwan_data_class{data_class=5G_NSA}`])
		}
		if got[`wwan_last_handoff_timestamp_seconds{}`] != float64(time.Now().Add(-time.Second+debounce).UnixNano())/1e9 {
			t.Errorf("last handoff at %v, now %v", got[`wwan_last_handoff_timestamp_seconds{}`], time.Now())
		}

		// The whole family of handoff counters, as exposition text.
		text := `
# HELP wwan_handoffs_total Packet-data-service handoffs by the data class before and after, and outcome (transparent, readdressed, reconnected, failed).
# TYPE wwan_handoffs_total counter
wwan_handoffs_total{from="HSDPA",outcome="readdressed",to="LTE"} 1
wwan_handoffs_total{from="LTE",outcome="readdressed",to="5G_NSA"} 1
wwan_handoffs_total{from="LTE",outcome="reconnected",to="LTE"} 2
wwan_handoffs_total{from="LTE",outcome="transparent",to="HSDPA"} 1
# HELP wwan_reconnects_total Data sessions reconnected after a drop, by reason (session_deactivated, transport_reset).
# TYPE wwan_reconnects_total counter
wwan_reconnects_total{reason="session_deactivated"} 1
wwan_reconnects_total{reason="transport_reset"} 1
# HELP wwan_ip_changes_total Handoffs that changed the session's addresses, by family (ipv4, ipv6).
# TYPE wwan_ip_changes_total counter
wwan_ip_changes_total{family="ipv4"} 3
wwan_ip_changes_total{family="ipv6"} 1
`
		if err := testutil.CollectAndCompare(c, strings.NewReader(text), "wwan_handoffs_total", "wwan_reconnects_total", "wwan_ip_changes_total"); err != nil {
			t.Error(err)
		}
	})
}

// A failed handoff counts as failed and changes no address and no
// reconnect count; the handoff that ends it counts on its own.
func TestFailedHandoffCounts(t *testing.T) {
	r := NewRecorder()
	a, b := []netip.Prefix{pfx("198.51.100.2/30")}, []netip.Prefix{pfx("198.51.100.6/30")}
	r.HandoffSink(handoff.Event{Type: handoff.EventHandoff, From: "LTE", To: "LTE", Outcome: handoff.Failed,
		Duration: 30 * time.Second, Old: handoff.Config{IPv4: a}, New: handoff.Config{IPv4: b}, Reason: "connect: timeout"})
	r.HandoffSink(handoff.Event{Type: handoff.EventHandoff, From: "LTE", To: "UMTS", Outcome: handoff.Reconnected,
		Duration: 2 * time.Second, Old: handoff.Config{IPv4: a}, New: handoff.Config{IPv4: b}})
	got := gathered(t, New(nil, WithRecorder(r)))
	for k, v := range map[string]float64{
		`wwan_handoffs_total{from=LTE,outcome=failed,to=LTE}`:       1,
		`wwan_handoffs_total{from=LTE,outcome=reconnected,to=UMTS}`: 1,
		`wwan_handoff_duration_seconds_sum{outcome=failed}`:         30,
		`wwan_ip_changes_total{family=ipv4}`:                        1,
		`wwan_reconnects_total{reason=session_deactivated}`:         1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// Session events give the start time when the source does not.
func TestSessionStartFromEvents(t *testing.T) {
	r := NewRecorder()
	src := &fakeSource{snap: Snapshot{Connection: &mbim.Connection{ActivationState: mbim.ActivationStateActivated}}}
	c := New(src, WithRecorder(r))
	r.HandoffSink(handoff.Event{Type: handoff.EventSession, Time: t0, ActivationState: mbim.ActivationStateActivated})
	r.HandoffSink(handoff.Event{Type: handoff.EventSession, Time: t0.Add(time.Hour), ActivationState: mbim.ActivationStateActivated})
	if got := gathered(t, c)[`wwan_session_start_time_seconds{}`]; got != float64(t0.Unix()) {
		t.Errorf("session start %v, want %v (the first ACTIVATED)", got, t0.Unix())
	}
	src.set(func(s *Snapshot) { s.Connection.ActivationState = mbim.ActivationStateDeactivated })
	if _, ok := gathered(t, c)[`wwan_session_start_time_seconds{}`]; ok {
		t.Error("a session start is exported while the session is deactivated")
	}
	r.HandoffSink(handoff.Event{Type: handoff.EventSession, Time: t0, ActivationState: mbim.ActivationStateDeactivated})
	src.set(func(s *Snapshot) { s.Connection = nil })
	if _, ok := gathered(t, c)[`wwan_session_start_time_seconds{}`]; ok {
		t.Error("a session start is exported after a DEACTIVATED event")
	}
}
