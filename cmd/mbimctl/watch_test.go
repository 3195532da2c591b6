package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// syncBuffer is a bytes.Buffer that one goroutine writes while another
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rawBody is an information buffer of a service no table knows.
type rawBody []byte

func (r rawBody) AppendBinary(b []byte) ([]byte, error) { return append(b, r...), nil }

// watchScenario is what the modem does while watch runs, and how many
// indications it sends.
const watchIndications = 7

func watchScenario(t *testing.T, m *testModem) {
	t.Helper()
	steps := []func() error{
		// SIGNAL_STATE
		func() error { return m.SetSignal(mbimtest.Signal{RSSI: 25, ErrorRate: 1, RSRP: 70, SNR: 80}) },
		// REGISTER_STATE, PACKET_SERVICE
		func() error { return m.SetDataClass(mbim.DataClass5gNsa, false, mbimtest.AddressChange{}) },
		// CONNECT
		func() error { return m.DropSession(0, mbim.NwErrorNetworkFailure) },
		// SUBSCRIBER_READY_STATUS, with personal data
		func() error {
			sim := mbimtest.DefaultSIM()
			return m.Indicate(mbim.ServiceBasicConnect, mbim.CIDSubscriberReadyStatus, &mbim.SubscriberReadyStatusInfoV3{
				ReadyState: mbim.SubscriberReadyStateInitialized, SubscriberId: mbim.NewString(sim.IMSI),
				SimIccId: mbim.NewString(sim.ICCID), TelephoneNumbers: []mbim.String{mbim.NewString(sim.Numbers[0])},
			})
		},
		// A service without a command of its own: decoded fields.
		func() error {
			return m.Indicate(mbim.ServiceUssd, mbim.CIDUssdUssd, &mbim.UssdInfo{
				Response: mbim.UssdResponseActionRequired, DataCodingScheme: 15, Payload: mbim.Bytes("*100#"),
			})
		},
		// A service no table knows: the raw buffer.
		func() error {
			return m.Indicate(mbim.MustParseUUID("01234567-89ab-cdef-0123-456789abcdef"), 3, rawBody{0xde, 0xad, 0xbe, 0xef})
		},
	}
	for i, s := range steps {
		if err := s(); err != nil {
			t.Fatalf("scenario step %d: %v", i, err)
		}
	}
}

// runWatch runs watch against the test modem while the scenario plays.
func runWatch(t *testing.T, m *testModem, args ...string) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(append([]string{"watch", "-d", "sim"}, args...), strings.NewReader(""), &out, &errOut)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.WaitRequest(ctx, func(r mbimtest.Request) bool {
		return r.Is(mbim.ServiceBasicConnect, mbim.CIDDeviceServiceSubscribeList)
	}); err != nil {
		t.Fatalf("watch did not subscribe: %v", err)
	}
	watchScenario(t, m)
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("watch: exit code %d, stderr %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("watch did not stop after %d indications; output so far:\n%s", watchIndications, out.String())
	}
	return out.String(), errOut.String()
}

func TestWatchGolden(t *testing.T) {
	m := newTestModem(t)
	cli(t, "connect", "--apn", "internet")
	count := []string{"--count", "7"}
	out, errOut := runWatch(t, m, count...)
	if errOut != "mbimctl: watching the simulated modem (Ctrl-C to stop)\n" {
		t.Errorf("stderr %q", errOut)
	}
	checkGolden(t, filepath.Join(commandGoldenDir, "watch.txt"), out)

	m = newTestModem(t)
	cli(t, "connect", "--apn", "internet")
	out, errOut = runWatch(t, m, append(count, "--json")...)
	if errOut != "" {
		t.Errorf("stderr %q", errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != watchIndications {
		t.Fatalf("%d JSON lines, want %d:\n%s", len(lines), watchIndications, out)
	}
	for _, l := range lines {
		var j struct {
			Time, Kind, Service, CID string
			Data                     map[string]any
		}
		if err := json.Unmarshal([]byte(l), &j); err != nil || j.Kind != "indication" || j.Service == "" || j.CID == "" || j.Data == nil {
			t.Errorf("bad line (%v): %s", err, l)
		}
		if j.Time != "2025-03-14T15:09:26.535Z" {
			t.Errorf("time %q", j.Time)
		}
	}
	checkGolden(t, filepath.Join(commandGoldenDir, "watch.json"), out)
	sim := mbimtest.DefaultSIM()
	for _, secret := range []string{sim.IMSI, sim.ICCID, sim.Numbers[0], "*100#", "2a31303023"} {
		if strings.Contains(out, secret) {
			t.Errorf("watch --json shows %q without --show-personal", secret)
		}
	}

	// --show-personal shows them.
	m = newTestModem(t)
	cli(t, "connect", "--apn", "internet")
	out, _ = runWatch(t, m, append(count, "--show-personal")...)
	for _, secret := range []string{sim.IMSI, sim.ICCID, sim.Numbers[0], "2a31303023"} {
		if !strings.Contains(out, secret) {
			t.Errorf("watch --show-personal lacks %q:\n%s", secret, out)
		}
	}
}

// --duration ends watch with exit code 0 when nothing happens.
func TestWatchDuration(t *testing.T) {
	newTestModem(t)
	start := time.Now()
	out, errOut, code := runCLI(t, "", "watch", "-d", "sim", "--duration", "300ms", "--json")
	if code != exitOK || out != "" || errOut != "" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("watch --duration 300ms took %v", d)
	}
}

// When the modem goes away, watch says so (exit code 1).
func TestWatchModemGone(t *testing.T) {
	m := newTestModem(t)
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"watch", "-d", "sim"}, strings.NewReader(""), &out, &errOut) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.WaitRequest(ctx, func(r mbimtest.Request) bool {
		return r.Is(mbim.ServiceBasicConnect, mbim.CIDDeviceServiceSubscribeList)
	}); err != nil {
		t.Fatal(err)
	}
	m.Reset(mbimtest.ResetOptions{CloseTransport: true})
	select {
	case code := <-done:
		if code != exitOther || !strings.Contains(errOut.String(), "mbimctl: watch: the modem went away: ") {
			t.Errorf("exit code %d, stderr %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not notice that the modem went away")
	}
}

// The seam for the handoff engine: a watch source's handoff events are
// printed in the stream, as JSON lines of their own schema.
func TestWatchHandoffSeam(t *testing.T) {
	ev := handoff.Event{
		Time: testEpoch, Type: handoff.EventHandoff, Interface: "wwan0", Session: 0,
		From: "LTE", To: "5G_NSA", Outcome: handoff.Readdressed, Duration: 42 * time.Millisecond,
		Steps: []string{"connect", "address-del 198.51.100.2/30", "address-add 198.51.100.6/30", "link-down", "link-up"},
		Old:   handoff.Config{IPv4: []netip.Prefix{netip.MustParsePrefix("198.51.100.2/30")}},
		New:   handoff.Config{IPv4: []netip.Prefix{netip.MustParsePrefix("198.51.100.6/30")}},
	}
	old := watchSources
	t.Cleanup(func() { watchSources = old })
	addWatchSource(func(ctx context.Context, s *modemSession, emit func(watchItem)) { emit(handoffItem(ev)) })

	m := newTestModem(t)
	var out syncBuffer
	var errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"watch", "-d", "sim", "--count", "1", "--json"}, strings.NewReader(""), &out, &errOut)
	}()
	// The source's event comes first; then the indication that ends the
	// watch.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), `"kind":"handoff"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no handoff event in the output:\n%s", out.String())
		}
	}
	m.SetSignal(mbimtest.Signal{RSSI: 10})
	if code := <-done; code != exitOK {
		t.Fatalf("exit code %d, stderr %q", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := `{"time":"2025-03-14T15:09:26.535Z","kind":"handoff","event":"handoff","data":{"time":"2025-03-14T15:09:26.535Z","session":0,"from":"LTE","to":"5G_NSA","outcome":"readdressed","duration_seconds":0.042,"steps":["connect","address-del 198.51.100.2/30","address-add 198.51.100.6/30","link-down","link-up"],"old":{"ipv4":["198.51.100.2/30"]},"new":{"ipv4":["198.51.100.6/30"]},"reason":""}}`
	if len(lines) != 2 || lines[0] != want || !strings.Contains(lines[1], `"cid":"SIGNAL_STATE"`) {
		t.Errorf("output:\n%s\nwant the handoff:\n%s\nthen the SIGNAL_STATE indication", out.String(), want)
	}

	// The text form.
	var text bytes.Buffer
	w := &watcher{g: &modemFlags{}}
	w.print(&text, handoffItem(ev))
	wantText := "2025-03-14 15:09:26.535  handoff handoff\n  session 0: LTE -> 5G_NSA, readdressed in 42ms\n    connect\n    address-del 198.51.100.2/30\n    address-add 198.51.100.6/30\n    link-down\n    link-up\n"
	if text.String() != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), wantText)
	}
}
