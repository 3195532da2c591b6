package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
	"github.com/gowwan/wwan/metrics"
	"github.com/gowwan/wwan/metrics/metricstest"
)

// metricsListener listens on a free loopback port.
func metricsListener(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

// The endpoint over a Poller on the simulated modem: a real HTTP scrape
// that promtool accepts, with the wwan metrics, Go's and the process's.
func TestMetricsEndpointScrape(t *testing.T) {
	sim := mbimtest.New()
	t.Cleanup(func() { _ = sim.Close() })
	rec := metrics.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dev, err := mbim.Open(ctx, sim.ServePipe(), mbim.WithObserver(rec.ObserveTransaction),
		mbim.WithEventHandler(rec.ObserveDeviceEvent))
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	p := metrics.NewPoller(metrics.PollerConfig{Device: func() *mbim.Device { return dev },
		Info: metrics.Info{Manufacturer: "gowwan"}})
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}

	ln, base := metricsListener(t)
	stop := serveMetrics(ctx, ln, p, metrics.WithRecorder(rec))
	defer stop()
	body := metricstest.Scrape(t, base+"/metrics")
	for _, want := range []string{
		`wwan_info{firmware="MBIMTEST_01.02.03",manufacturer="gowwan",mbimex="3.0",model="mbimtest-sim rev 1"} 1`,
		"wwan_scrape_success 1",
		`wwan_registration_state{state="HOME"} 1`,
		"wwan_signal_rssi_dbm -73",
		"go_goroutines ",
		"promhttp_metric_handler_requests_total",
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
	for _, s := range []string{"359072060000003", "001010123456789", "89001012012341234014"} {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("the scrape carries personal data %q", s)
		}
	}
	if root, err := metricstest.ScrapeErr(base + "/"); err != nil || !strings.Contains(string(root), "/metrics") {
		t.Errorf("GET /: %q, %v", root, err)
	}

	stop()
	stop() // idempotent
	if _, err := metricstest.ScrapeErr(base + "/metrics"); err == nil {
		t.Error("the endpoint still answers after stop")
	}
	metricstest.CheckWithPromtool(t, body)
}

// The server ends with its context.
func TestMetricsEndpointStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ln, base := metricsListener(t)
	stop := serveMetrics(ctx, ln, nil)
	defer stop()
	if body := metricstest.Scrape(t, base+"/metrics"); !bytes.Contains(body, []byte("wwan_scrape_success 1")) {
		t.Errorf("scrape:\n%s", body)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := metricstest.ScrapeErr(base + "/metrics"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the endpoint still answers after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An empty address turns metrics off; a bad one is an error naming it.
func TestStartMetricsAddress(t *testing.T) {
	ctx := context.Background()
	stop, err := startMetrics(ctx, "", nil)
	if err != nil || stop == nil {
		t.Fatalf("empty address: %v", err)
	}
	stop()

	ln, _ := metricsListener(t)
	defer ln.Close()
	busy := ln.Addr().String()
	if _, err := startMetrics(ctx, busy, nil); err == nil || !strings.Contains(err.Error(), busy) {
		t.Errorf("address in use: %v, want an error naming %s", err, busy)
	}

	stop, err = startMetrics(ctx, "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	stop()
}

// fakeDaemon is a snapshotSource over a device on the simulated modem.
type fakeDaemon struct {
	dev  *mbim.Device
	snap handoff.ManagerSnapshot

	mu           sync.Mutex
	events       []func(handoff.Event)
	transactions []func(mbim.TransactionInfo)
	devEvents    []func(mbim.Event)
	indications  []func(mbim.Indication)
	opened       []func(*mbim.Device)
}

func (f *fakeDaemon) Snapshot() handoff.ManagerSnapshot { return f.snap }
func (f *fakeDaemon) Device() *mbim.Device              { return f.dev }
func (f *fakeDaemon) Session() uint32                   { return 0 }
func (f *fakeDaemon) OnEvent(fn func(handoff.Event)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fn)
}
func (f *fakeDaemon) OnTransaction(fn func(mbim.TransactionInfo)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.transactions = append(f.transactions, fn)
}
func (f *fakeDaemon) OnDeviceEvent(fn func(mbim.Event)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.devEvents = append(f.devEvents, fn)
}
func (f *fakeDaemon) OnIndication(fn func(mbim.Indication)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.indications = append(f.indications, fn)
}
func (f *fakeDaemon) OnDeviceOpened(fn func(*mbim.Device)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, fn)
}

// run's metricsStarter hooks the recorder and the poller into the daemon
// and serves what promtool accepts.
func TestDaemonMetrics(t *testing.T) {
	if metricsStarter == nil {
		t.Fatal("metrics.go did not set metricsStarter")
	}
	sim := mbimtest.New()
	t.Cleanup(func() { _ = sim.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dev, err := mbim.Open(ctx, sim.ServePipe())
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	d := &fakeDaemon{dev: dev, snap: handoff.ManagerSnapshot{Engine: handoff.Snapshot{State: handoff.Up, LinkUp: true,
		Register:        handoff.Register{State: mbim.RegisterStateHome},
		PacketService:   handoff.PacketService{State: mbim.PacketServiceStateAttached, DataClass: mbim.DataClassLte},
		ActivationState: mbim.ActivationStateActivated}}}

	ln, _ := metricsListener(t)
	addr := ln.Addr().String()
	ln.Close()
	stop, err := metricsStarter(addr, d)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if len(d.events) != 1 || len(d.transactions) != 1 || len(d.devEvents) != 1 || len(d.indications) != 1 || len(d.opened) != 1 {
		t.Fatalf("hooks: %d events, %d transactions, %d device events, %d indications, %d device opened; want one each",
			len(d.events), len(d.transactions), len(d.devEvents), len(d.indications), len(d.opened))
	}
	d.opened[0](dev) // a kick: the poller polls now
	d.events[0](handoff.Event{Type: handoff.EventHandoff, From: "LTE", To: "HSDPA", Outcome: handoff.Transparent, Duration: 100 * time.Millisecond})
	d.transactions[0](mbim.TransactionInfo{Type: mbim.TypeCommand, Service: mbim.ServiceBasicConnect, CID: mbim.CIDConnect, Latency: time.Second})
	d.devEvents[0](mbim.Event{Kind: mbim.EventTransportLost})

	url := "http://" + addr + "/metrics"
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for { // the poller's first round runs in the background
		body = metricstest.Scrape(t, url)
		if bytes.Contains(body, []byte("wwan_signal_rssi_dbm")) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{
		`wwan_handoffs_total{from="LTE",outcome="transparent",to="HSDPA"} 1`,
		`wwan_mbim_transaction_duration_seconds_count{cid="CONNECT",service="BASIC_CONNECT"} 1`,
		`wwan_transport_resets_total 1`,
		`wwan_handoff_engine_state{state="up"} 1`,
		`wwan_registration_state{state="HOME"} 1`,
		`wwan_signal_rssi_dbm -73`,
		`model="mbimtest-sim rev 1"`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
	stop()
	if _, err := metricstest.ScrapeErr(url); err == nil {
		t.Error("the endpoint still answers after stop")
	}
	metricstest.CheckWithPromtool(t, body)
}
