package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
	"github.com/gowwan/wwan/metrics"
	"github.com/gowwan/wwan/metrics/metricstest"
)

// serve serves c on 127.0.0.1:0 as /metrics and returns the URL.
func serve(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// openSim opens a Device on a simulated modem, with the recorder as its
// observer and event handler.
func openSim(t *testing.T, sim *mbimtest.Sim, rec *metrics.Recorder) *mbim.Device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := mbim.Open(ctx, sim.ServePipe(), mbim.WithTimeout(5*time.Second),
		mbim.WithObserver(rec.ObserveTransaction), mbim.WithEventHandler(rec.ObserveDeviceEvent))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// personal are the simulated modem's IMEI, IMSI, ICCID and phone number.
var personal = []string{"359072060000003", "001010123456789", "89001012012341234014", "+15555550100", "15555550100"}

// A real HTTP scrape of a Poller over a Device on the simulated modem: the
// text has what the modem said, nothing personal, and passes
// `promtool check metrics`.
func TestScrapeSimulatedModem(t *testing.T) {
	sim := mbimtest.New()
	t.Cleanup(func() { _ = sim.Close() })
	rec := metrics.NewRecorder()
	dev := openSim(t, sim, rec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dev.Connect(ctx, mbim.ConnectRequest{AccessString: "internet"}); err != nil {
		t.Fatal(err)
	}
	p := metrics.NewPoller(metrics.PollerConfig{
		Device: func() *mbim.Device { return dev },
		Info:   metrics.Info{Manufacturer: "gowwan"},
	})
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	url := serve(t, metrics.New(p, metrics.WithRecorder(rec)))
	body := metricstest.Scrape(t, url)

	for _, want := range []string{
		`wwan_info{firmware="MBIMTEST_01.02.03",manufacturer="gowwan",mbimex="3.0",model="mbimtest-sim rev 1"} 1`,
		`wwan_modem_up 1`,
		`wwan_scrape_success 1`,
		`wwan_signal_rssi_dbm -73`,
		`wwan_signal_rsrp_dbm{data_class="LTE"} -97`,
		`wwan_signal_snr_db{data_class="LTE"} 13`,
		`wwan_registration_state{state="HOME"} 1`,
		`wwan_packet_service_state{state="ATTACHED"} 1`,
		`wwan_data_class{data_class="LTE"} 1`,
		`wwan_session_state{state="ACTIVATED"} 1`,
		`wwan_mbim_transactions_total{cid="CONNECT",result="success",service="BASIC_CONNECT",status="SUCCESS"} 2`, // the set and the poll
		`wwan_mbim_transactions_total{cid="OPEN",result="success",service="",status="SUCCESS"} 1`,
		`wwan_mbim_transaction_duration_seconds_count{cid="SIGNAL_STATE",service="BASIC_CONNECT"} 1`,
		`wwan_modem_receive_bytes_total `,
		`wwan_session_start_time_seconds `,
		`wwan_last_update_timestamp_seconds `,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
	for _, s := range personal {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("the scrape carries personal data %q", s)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
	metricstest.CheckWithPromtool(t, body)
}

// A scrape never talks to the modem: with the modem stuck, it answers from
// the cache at once.
func TestScrapeDoesNotQueryTheModem(t *testing.T) {
	sim := mbimtest.New()
	t.Cleanup(func() { _ = sim.Close() })
	rec := metrics.NewRecorder()
	dev := openSim(t, sim, rec)
	p := metrics.NewPoller(metrics.PollerConfig{Device: func() *mbim.Device { return dev }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before := len(sim.Requests())
	var stuck atomic.Int32
	sim.Handle(mbim.UUID{}, 0, func(req mbim.Message) ([][]byte, error) {
		stuck.Add(1)
		return nil, nil // swallowed: the modem never answers
	})
	url := serve(t, metrics.New(p, metrics.WithRecorder(rec), metrics.WithTimeout(time.Second)))
	start := time.Now()
	body := metricstest.Scrape(t, url)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("scrape took %v with a stuck modem", took)
	}
	if !bytes.Contains(body, []byte("wwan_scrape_success 1")) || !bytes.Contains(body, []byte("wwan_signal_rssi_dbm -73")) {
		t.Errorf("scrape without the cached values:\n%s", body)
	}
	if n := len(sim.Requests()); n != before || stuck.Load() != 0 {
		t.Errorf("the scrape sent %d requests to the modem", n-before)
	}
}

// Indications update the cache between polls.
func TestPollerTakesIndications(t *testing.T) {
	sim := mbimtest.New()
	t.Cleanup(func() { _ = sim.Close() })
	rec := metrics.NewRecorder()
	dev := openSim(t, sim, rec)
	sub := dev.Subscribe(mbim.SubscribeFilter{}, 0)
	defer sub.Close()
	p := metrics.NewPoller(metrics.PollerConfig{Device: func() *mbim.Device { return dev }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetSignal(mbimtest.Signal{RSSI: 10, ErrorRate: 3, RSRP: 40, SNR: 40}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ind := <-sub.C():
			p.Indication(ind)
			if ind.CID() != mbim.CIDSignalState {
				continue
			}
		case <-ctx.Done():
			t.Fatal("no SIGNAL_STATE indication")
		}
		break
	}
	body := metricstest.Scrape(t, serve(t, metrics.New(p)))
	for _, want := range []string{`wwan_signal_rssi_dbm -93`, `wwan_signal_error_rate 3`, `wwan_signal_rsrp_dbm{data_class="LTE"} -117`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
}

// Without a device (between a transport loss and the re-open) the modem
// is down and nothing stale is exported.
func TestPollerWithoutDevice(t *testing.T) {
	sim := mbimtest.New()
	t.Cleanup(func() { _ = sim.Close() })
	rec := metrics.NewRecorder()
	var cur atomic.Pointer[mbim.Device]
	cur.Store(openSim(t, sim, rec))
	p := metrics.NewPoller(metrics.PollerConfig{Device: cur.Load})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	cur.Store(nil)
	body := metricstest.Scrape(t, serve(t, metrics.New(p)))
	if !bytes.Contains(body, []byte("wwan_modem_up 0")) || bytes.Contains(body, []byte("wwan_signal_rssi_dbm")) ||
		bytes.Contains(body, []byte("wwan_mbim_")) {
		t.Errorf("scrape without a device:\n%s", body)
	}
	// A new device (the modem came back): polled afresh.
	cur.Store(openSim(t, sim, rec))
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	body = metricstest.Scrape(t, serve(t, metrics.New(p)))
	if !bytes.Contains(body, []byte("wwan_modem_up 1")) || !bytes.Contains(body, []byte("wwan_signal_rssi_dbm -73")) {
		t.Errorf("scrape after the device came back:\n%s", body)
	}
}

// BASE_STATIONS_INFO gives the LTE serving cell's RSRQ; a modem without it
// is asked once.
func TestPollerBaseStations(t *testing.T) {
	sim := mbimtest.New(mbimtest.WithMBIMEx(mbim.MBIMEx2))
	t.Cleanup(func() { _ = sim.Close() })
	sim.Handle(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsBaseStationsInfo, mbimtest.Respond(&mbim.MsBaseStationsInfo{
		SystemType:     mbim.DataClassLte,
		LteServingCell: &mbim.MsCellInfoServingLte{ProviderId: mbim.NewString("00101"), Rsrp: -95, Rsrq: -12},
	}))
	rec := metrics.NewRecorder()
	dev := openSim(t, sim, rec)
	p := metrics.NewPoller(metrics.PollerConfig{Device: func() *mbim.Device { return dev }, BaseStations: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	body := metricstest.Scrape(t, serve(t, metrics.New(p)))
	if !bytes.Contains(body, []byte(`wwan_signal_rsrq_db{data_class="LTE"} -12`)) {
		t.Errorf("no RSRQ in:\n%s", body)
	}

	sim.Handle(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsBaseStationsInfo, mbimtest.Status(mbim.StatusNoDeviceSupport))
	dev2 := openSim(t, sim, rec)
	p = metrics.NewPoller(metrics.PollerConfig{Device: func() *mbim.Device { return dev2 }, BaseStations: true})
	if err := p.Refresh(ctx); !errors.Is(err, mbim.StatusNoDeviceSupport) {
		t.Errorf("first poll: %v, want NO_DEVICE_SUPPORT", err)
	}
	if err := p.Refresh(ctx); err != nil {
		t.Errorf("second poll asked again: %v", err)
	}
}

// Run polls until its context ends.
func TestPollerRun(t *testing.T) {
	sim := mbimtest.New()
	t.Cleanup(func() { _ = sim.Close() })
	dev := openSim(t, sim, metrics.NewRecorder())
	p := metrics.NewPoller(metrics.PollerConfig{Device: func() *mbim.Device { return dev }, Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _ := p.MetricsSnapshot(ctx)
		if s.PacketStatistics != nil && s.Signal != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not poll")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

// The handler serves what promtool accepts even with every metric family
// present, histograms included.
func TestScrapeFakeSourcePassesPromtool(t *testing.T) {
	rec := metrics.NewRecorder()
	rec.ObserveTransaction(mbim.TransactionInfo{Type: mbim.TypeCommand, Service: mbim.ServiceBasicConnect, CID: mbim.CIDConnect, Latency: time.Second})
	src := metrics.SourceFunc(func(ctx context.Context) (metrics.Snapshot, error) {
		return metrics.Snapshot{Up: true, Info: metrics.Info{Manufacturer: `we"ird\maker`, Model: "M\nX"}}, nil
	})
	body := metricstest.Scrape(t, serve(t, metrics.New(src, metrics.WithRecorder(rec))))
	if !strings.Contains(string(body), `manufacturer="we\"ird\\maker"`) {
		t.Errorf("label not escaped:\n%s", body)
	}
	metricstest.CheckWithPromtool(t, body)
}

// Kick makes Run poll before the next tick.
func TestPollerKick(t *testing.T) {
	sim := mbimtest.New()
	t.Cleanup(func() { _ = sim.Close() })
	dev := openSim(t, sim, metrics.NewRecorder())
	p := metrics.NewPoller(metrics.PollerConfig{Device: func() *mbim.Device { return dev }, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	polls := func() int {
		n := 0
		for _, r := range sim.Requests() {
			if strings.Contains(r.String(), "PACKET_STATISTICS") {
				n++
			}
		}
		return n
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for polls() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d polls, want %d", polls(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(1)
	p.Kick()
	waitFor(2)
}
