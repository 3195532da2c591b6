package metrics

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

var update = flag.Bool("update", false, "rewrite the golden exposition files in testdata/")

// exposition gathers c through a pedantic registry (which checks
// descriptors, label consistency and duplicate series) and returns the
// text format.
func exposition(t *testing.T, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// golden compares c's exposition with testdata/name (rewritten with
// -update), with testutil.CollectAndCompare.
func golden(t *testing.T, c prometheus.Collector, name string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, exposition(t, c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, bytes.NewReader(want)); err != nil {
		t.Errorf("%s (run with -update to rewrite it after checking the difference):\n%v", path, err)
	}
}

// recorded is a Recorder that saw a few handoffs and transactions.
func recorded() *Recorder {
	r := NewRecorder()
	a, b := []netip.Prefix{pfx("198.51.100.2/30")}, []netip.Prefix{pfx("198.51.100.6/30")}
	r.HandoffSink(handoff.Event{Type: handoff.EventSession, Time: t0.Add(-2 * time.Hour), ActivationState: mbim.ActivationStateActivated})
	r.HandoffSink(handoff.Event{Type: handoff.EventHandoff, Time: t0.Add(-3 * time.Minute), From: "LTE", To: "HSDPA",
		Outcome: handoff.Transparent, Duration: 100 * time.Millisecond, Old: handoff.Config{IPv4: a}, New: handoff.Config{IPv4: a}})
	r.HandoffSink(handoff.Event{Type: handoff.EventHandoff, Time: t0.Add(-2 * time.Minute), From: "HSDPA", To: "LTE",
		Outcome: handoff.Readdressed, Duration: 300 * time.Millisecond, Old: handoff.Config{IPv4: a}, New: handoff.Config{IPv4: b}})
	r.ObserveTransaction(mbim.TransactionInfo{Type: mbim.TypeOpen, Latency: 3 * time.Millisecond})
	r.ObserveTransaction(mbim.TransactionInfo{Type: mbim.TypeCommand, Service: mbim.ServiceBasicConnect, CID: mbim.CIDConnect, Latency: 2 * time.Second})
	r.ObserveTransaction(mbim.TransactionInfo{Type: mbim.TypeCommand, Service: mbim.ServiceBasicConnect, CID: mbim.CIDSignalState, Latency: 20 * time.Millisecond})
	r.ObserveTransaction(mbim.TransactionInfo{Type: mbim.TypeCommand, Service: mbim.ServiceBasicConnect, CID: mbim.CIDSignalState, Latency: 40 * time.Millisecond})
	return r
}

// Every part of a snapshot, each conversion, the label tables.
func TestCollectFullSnapshot(t *testing.T) {
	c := fixedDuration(New(&fakeSource{snap: fullSnapshot()}, WithRecorder(recorded())))
	golden(t, c, "full.prom")
}

// An empty snapshot exports only what is always known: no zeros for what
// the source did not say.
func TestCollectEmptySnapshot(t *testing.T) {
	c := fixedDuration(New(&fakeSource{}))
	golden(t, c, "empty.prom")
}

// Without mbim values, the engine's snapshot gives registration, packet
// service, data class, speeds and session state.
func TestCollectEngineOnly(t *testing.T) {
	snap := Snapshot{Engine: &handoff.Snapshot{
		State:           handoff.Up,
		Register:        handoff.Register{State: mbim.RegisterStateRoaming},
		PacketService:   handoff.PacketService{State: mbim.PacketServiceStateAttached, DataClass: mbim.DataClass5gNsa | mbim.DataClass5gSa, Uplink: 8000, Downlink: 16000},
		ActivationState: mbim.ActivationStateActivated,
	}}
	c := fixedDuration(New(&fakeSource{snap: snap}))
	want := `
# HELP wwan_data_class Current data class (radio technology) of the packet service: 1 for the current class, 0 for the others.
# TYPE wwan_data_class gauge
wwan_data_class{data_class="1XEVDO"} 0
wwan_data_class{data_class="1XEVDO_REVA"} 0
wwan_data_class{data_class="1XEVDO_REVB"} 0
wwan_data_class{data_class="1XEVDV"} 0
wwan_data_class{data_class="1XRTT"} 0
wwan_data_class{data_class="3XRTT"} 0
wwan_data_class{data_class="5G"} 1
wwan_data_class{data_class="5G_NSA"} 0
wwan_data_class{data_class="5G_SA"} 0
wwan_data_class{data_class="CUSTOM"} 0
wwan_data_class{data_class="EDGE"} 0
wwan_data_class{data_class="GPRS"} 0
wwan_data_class{data_class="HSDPA"} 0
wwan_data_class{data_class="HSUPA"} 0
wwan_data_class{data_class="LTE"} 0
wwan_data_class{data_class="UMB"} 0
wwan_data_class{data_class="UMTS"} 0
wwan_data_class{data_class="none"} 0
wwan_data_class{data_class="other"} 0
# HELP wwan_registration_state Network registration state (REGISTER_STATE): 1 for the current state, 0 for the others.
# TYPE wwan_registration_state gauge
wwan_registration_state{state="DENIED"} 0
wwan_registration_state{state="DEREGISTERED"} 0
wwan_registration_state{state="HOME"} 0
wwan_registration_state{state="PARTNER"} 0
wwan_registration_state{state="ROAMING"} 1
wwan_registration_state{state="SEARCHING"} 0
wwan_registration_state{state="UNKNOWN"} 0
# HELP wwan_session_state Activation state of the data session (CONNECT): 1 for the current state, 0 for the others.
# TYPE wwan_session_state gauge
wwan_session_state{state="ACTIVATED"} 1
wwan_session_state{state="ACTIVATING"} 0
wwan_session_state{state="DEACTIVATED"} 0
wwan_session_state{state="DEACTIVATING"} 0
wwan_session_state{state="UNKNOWN"} 0
# HELP wwan_uplink_speed_bytes_per_second Uplink speed the modem reports for the packet service, in bytes per second.
# TYPE wwan_uplink_speed_bytes_per_second gauge
wwan_uplink_speed_bytes_per_second 1000
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"wwan_data_class", "wwan_registration_state", "wwan_session_state", "wwan_uplink_speed_bytes_per_second"); err != nil {
		t.Error(err)
	}
}

// MBIMEx 3.0's single 5G bit is named by its subclass, as the engine
// names it in handoff events.
func TestDataClassV3(t *testing.T) {
	for _, tc := range []struct {
		sub  mbim.DataSubclass
		want string
	}{
		{mbim.DataSubclass5gNr, "5G_SA"},
		{mbim.DataSubclass5gEndc, "5G_NSA"},
		{0, "5G"},
	} {
		ps := &mbim.PacketServiceStatus{State: mbim.PacketServiceStateAttached, DataClass: uint32(mbim.DataClassV35g),
			DataSubclass: tc.sub, Version: mbim.MBIMEx3}
		if got := dataClassLabel(packetServiceClass(ps)); got != tc.want {
			t.Errorf("subclass %v: data class %q, want %q", tc.sub, got, tc.want)
		}
	}
	if got := classLabel("0x100"); got != "other" {
		t.Errorf("unnamed bits: %q, want other", got)
	}
}

// promlint (the linter promtool uses) finds nothing in any metric.
func TestLint(t *testing.T) {
	r := recorded()
	r.TransportReset()
	c := New(&fakeSource{snap: fullSnapshot()}, WithRecorder(r))
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// A failing source leaves the recorder's metrics and says so.
func TestSourceError(t *testing.T) {
	src := &fakeSource{snap: fullSnapshot(), err: errors.New("no modem")}
	c := fixedDuration(New(src))
	want := `
# HELP wwan_scrape_success 1 if the last scrape got the source's snapshot in time, 0 if it failed or timed out (then only the recorder's metrics are exported).
# TYPE wwan_scrape_success gauge
wwan_scrape_success 0
# HELP wwan_transport_resets_total Losses of the control channel (modem reset, unplug).
# TYPE wwan_transport_resets_total counter
wwan_transport_resets_total 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "wwan_scrape_success", "wwan_transport_resets_total", "wwan_modem_up", "wwan_info"); err != nil {
		t.Error(err)
	}
}

// A scrape does not wait for a source that hangs longer than the timeout;
// concurrent and later scrapes join the call in flight instead of piling up
// calls.
func TestSourceTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{snap: fullSnapshot(), block: make(chan struct{}), hung: true}
		c := New(src, WithTimeout(time.Second))
		success := func() float64 {
			return testutil.ToFloat64(onlyMetric(c, "wwan_scrape_success"))
		}
		start := time.Now()
		if v := success(); v != 0 {
			t.Errorf("wwan_scrape_success %v with a hung source, want 0", v)
		}
		if took := time.Since(start); took != time.Second {
			t.Errorf("scrape took %v, want the timeout", took)
		}
		if v := success(); v != 0 {
			t.Errorf("second scrape: wwan_scrape_success %v, want 0", v)
		}
		src.mu.Lock()
		calls := src.calls
		src.mu.Unlock()
		if calls != 1 {
			t.Errorf("%d calls to the source, want 1 (the second scrape joins the first)", calls)
		}
		close(src.block)
		synctest.Wait()
		src.mu.Lock()
		src.block = nil
		src.mu.Unlock()
		if v := success(); v != 1 {
			t.Errorf("after the source answered: wwan_scrape_success %v, want 1", v)
		}
	})
}

// onlyMetric is a Collector that collects c and keeps one metric family.
func onlyMetric(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() {
		f.c.Collect(all)
		close(all)
	}()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}

// No label anywhere carries the IMEI, IMSI, ICCID or a phone number, even
// when the source's values hold them.
func TestNoIdentityInLabels(t *testing.T) {
	const imei, imsi, iccid, msisdn = "359072060000003", "001010123456789", "89001012012341234014", "+15555550100"
	caps := &mbim.DeviceCapsInfo{DeviceId: mbim.NewString(imei), FirmwareInfo: mbim.NewString("FW1"), HardwareInfo: mbim.NewString("HW1")}
	snap := fullSnapshot()
	snap.Info = InfoFromDeviceCaps(caps, mbim.MBIMEx3)
	snap.Info.Manufacturer = "gowwan"
	snap.Registration.ProviderName = imsi
	snap.Registration.RoamingText = msisdn
	snap.Connection.AccessString = iccid
	body := exposition(t, New(&fakeSource{snap: snap}))
	for _, s := range []string{imei, imsi, iccid, msisdn} {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("the exposition carries %q", s)
		}
	}
	if !bytes.Contains(body, []byte(`wwan_info{firmware="FW1",manufacturer="gowwan",mbimex="3.0",model="HW1"} 1`)) {
		t.Errorf("wwan_info is not as expected:\n%s", body)
	}
}

// Label values from the modem are cleaned and bounded.
func TestInfoLabel(t *testing.T) {
	for in, want := range map[string]string{
		" FW 1.0\x00\r\n":        "FW 1.0",
		"\xff\xfeabc":            "\uFFFDabc",
		strings.Repeat("x", 100): strings.Repeat("x", 64),
	} {
		if got := infoLabel(in); got != want {
			t.Errorf("infoLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// WithConstLabels labels every metric, the recorder's too.
func TestConstLabels(t *testing.T) {
	c := fixedDuration(New(nil, WithConstLabels(prometheus.Labels{"interface": "wwan0"})))
	want := `
# HELP wwan_scrape_success 1 if the last scrape got the source's snapshot in time, 0 if it failed or timed out (then only the recorder's metrics are exported).
# TYPE wwan_scrape_success gauge
wwan_scrape_success{interface="wwan0"} 1
# HELP wwan_transport_resets_total Losses of the control channel (modem reset, unplug).
# TYPE wwan_transport_resets_total counter
wwan_transport_resets_total{interface="wwan0"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "wwan_scrape_success", "wwan_transport_resets_total"); err != nil {
		t.Error(err)
	}
}
