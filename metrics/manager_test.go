package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/handofftest"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
	"github.com/gowwan/wwan/metrics"
	"github.com/gowwan/wwan/metrics/metricstest"
)

// A handoff.Manager over the simulated modem, wired to the metrics as the
// daemon wires it, through a technology tour with an address change and a
// modem reset: each scrape's counters are what the Manager's events say
// happened, and the text passes promtool.
func TestScrapeManagerTour(t *testing.T) {
	const wait = 20 * time.Second
	sim := mbimtest.New()
	t.Cleanup(func() { _ = sim.Close() })
	rec := metrics.NewRecorder()
	var p *metrics.Poller
	cfg := handoff.ManagerConfig{
		Dial:    func(ctx context.Context) (mbim.Transport, error) { return sim.ServePipe(), nil },
		Host:    handofftest.New(handoff.HostState{MTU: 1500}),
		Connect: handoff.ConnectSettings{APN: "internet", IPType: mbim.ContextIpTypeIpv4v6},
		Engine: handoff.EngineConfig{Interface: "wwan0", Debounce: 5 * time.Millisecond,
			Backoff: handoff.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
			Sinks:   []func(handoff.Event){rec.HandoffSink}},
		Reopen:        handoff.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond},
		PollInterval:  -1,
		DeviceOptions: []mbim.Option{mbim.WithObserver(rec.ObserveTransaction)},
		DeviceEvents:  rec.ObserveDeviceEvent,
		Indications:   func(ind mbim.Indication) { p.Indication(ind) },
	}
	mgr, err := handoff.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p = metrics.NewPoller(metrics.PollerConfig{Device: mgr.Device, Engine: mgr.Engine(),
		Session: cfg.Connect.Session, Info: metrics.Info{Manufacturer: "gowwan"}})
	events, unsub := mgr.Subscribe(4096)
	defer unsub()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	url := serve(t, metrics.New(p, metrics.WithRecorder(rec)))

	// What the events say happened, to compare with the scrapes.
	handoffs := map[string]int{}
	var reconnects, ipv4Changes int
	until := func(what string, stop func(handoff.Event) bool) {
		t.Helper()
		timeout := time.After(wait)
		for {
			select {
			case ev := <-events:
				if ev.Type == handoff.EventHandoff {
					handoffs[fmt.Sprintf(`wwan_handoffs_total{from=%q,outcome=%q,to=%q}`, ev.From, ev.Outcome, ev.To)]++
					if ev.Outcome == handoff.Reconnected {
						reconnects++
					}
					if ev.Outcome != handoff.Failed && fmt.Sprint(ev.Old.IPv4) != fmt.Sprint(ev.New.IPv4) {
						ipv4Changes++
					}
				}
				if stop(ev) {
					return
				}
			case <-timeout:
				t.Fatalf("no %s within %v", what, wait)
			}
		}
	}
	var bodies [][]byte // for promtool, at the end
	scrape := func(when string) []byte {
		t.Helper()
		if err := p.Refresh(context.Background()); err != nil {
			t.Errorf("%s: poll: %v", when, err)
		}
		body := metricstest.Scrape(t, url)
		for k, n := range handoffs {
			if !bytes.Contains(body, []byte(k+" "+strconv.Itoa(n)+"\n")) {
				t.Errorf("%s: the scrape lacks %s %d", when, k, n)
			}
		}
		got := regexp.MustCompile(`(?m)^wwan_handoffs_total\{.*$`).FindAll(body, -1)
		if len(got) != len(handoffs) {
			t.Errorf("%s: %d handoff series, want %d:\n%s", when, len(got), len(handoffs), bytes.Join(got, []byte("\n")))
		}
		for _, want := range []string{
			`wwan_ip_changes_total{family="ipv4"} ` + strconv.Itoa(ipv4Changes) + "\n",
			`wwan_scrape_success 1` + "\n",
		} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("%s: the scrape lacks %q", when, want)
			}
		}
		bodies = append(bodies, body)
		return body
	}

	until("session up", func(ev handoff.Event) bool { return ev.Type == handoff.EventConfig })
	body := scrape("start")
	for _, want := range []string{
		`wwan_info{firmware="MBIMTEST_01.02.03",manufacturer="gowwan",mbimex="3.0",model="mbimtest-sim rev 1"} 1`,
		`wwan_session_state{state="ACTIVATED"} 1`,
		`wwan_data_class{data_class="LTE"} 1`,
		`wwan_transport_resets_total 0`,
		`wwan_modem_up 1`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("start: the scrape lacks %q", want)
		}
	}

	// The tour: GPRS … 5G SA, the address changing at UMTS.
	tourCtx, tourCancel := context.WithTimeout(context.Background(), wait)
	defer tourCancel()
	if err := sim.TourTechnologies(tourCtx, mbimtest.Tour3GPP, mbimtest.TourOptions{
		Interval: 50 * time.Millisecond, ChangeAddressAt: []int{2}, Address: mbimtest.AddressChange{Notify: true},
	}); err != nil {
		t.Fatal(err)
	}
	until("the tour's last handoff", func(ev handoff.Event) bool {
		return ev.Type == handoff.EventHandoff && ev.To == "5G_SA"
	})
	if len(handoffs) < 2 || ipv4Changes < 1 {
		t.Errorf("the tour gave handoffs %v and %d IPv4 changes", handoffs, ipv4Changes)
	}
	body = scrape("tour")
	if !bytes.Contains(body, []byte(`wwan_data_class{data_class="5G_SA"} 1`)) {
		t.Error("tour: the data class is not 5G_SA")
	}

	// The modem resets and drops off the bus.
	if err := sim.Reset(mbimtest.ResetOptions{CloseTransport: true}); err != nil {
		t.Fatal(err)
	}
	until("the reconnect after the reset", func(ev handoff.Event) bool {
		return ev.Type == handoff.EventHandoff && ev.Outcome == handoff.Reconnected
	})
	body = scrape("reset")
	for _, want := range []string{
		`wwan_transport_resets_total 1`,
		`wwan_reconnects_total{reason="transport_reset"} 1`,
		`wwan_reconnects_total{reason="session_deactivated"} ` + strconv.Itoa(reconnects-1),
		`wwan_modem_up 1`,
	} {
		if !bytes.Contains(body, []byte(want+"\n")) {
			t.Errorf("reset: the scrape lacks %q", want)
		}
	}
	for _, s := range personal {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("the scrape carries personal data %q", s)
		}
	}
	t.Logf("handoffs: %v; IPv4 changes %d; reconnects %d", handoffs, ipv4Changes, reconnects)
	if t.Failed() {
		t.Logf("last scrape:\n%s", body)
	}
	for _, b := range bodies {
		metricstest.CheckWithPromtool(t, b)
	}
}
