package metrics

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

// fakeSource is a Source whose snapshot a test sets.
type fakeSource struct {
	mu    sync.Mutex
	snap  Snapshot
	err   error
	calls int
	block chan struct{} // when set, MetricsSnapshot waits for it (or ctx)
	hung  bool          // block ignores ctx, as a broken source would
}

func (f *fakeSource) MetricsSnapshot(ctx context.Context) (Snapshot, error) {
	f.mu.Lock()
	f.calls++
	block, hung := f.block, f.hung
	f.mu.Unlock()
	if block != nil && hung {
		<-block
	} else if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return Snapshot{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, f.err
}

func (f *fakeSource) set(fn func(s *Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.snap)
}

// fixedDuration makes the collector report a constant scrape duration, so
// that exposition text can be compared.
func fixedDuration(c *Collector) *Collector {
	c.since = func(time.Time) time.Duration { return 1500 * time.Microsecond }
	return c
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// fullSnapshot has every part set, with values whose conversions are easy
// to check by hand.
func fullSnapshot() Snapshot {
	return Snapshot{
		Updated: t0,
		Up:      true,
		Info: Info{Manufacturer: "gowwan", Model: "mbimtest simulated modem\x00", Firmware: " MBIMTEST_01.02.03 ",
			MBIMEx: mbim.MBIMEx2},
		Device: &mbim.Stats{
			MessagesSent: 10, MessagesReceived: 14, BytesSent: 800, BytesReceived: 2400,
			FragmentsSent: 0, FragmentsReceived: 3,
			Timeouts: 1, ConsecutiveTimeouts: 0,
			ProtocolErrors: map[mbim.ProtocolError]uint64{mbim.ProtocolErrorNotOpened: 1, 77: 2},
			HostErrorsSent: 1, FragmentErrors: 1, MalformedStreams: 2, DiscardedBytes: 31,
			UnmatchedReplies: 1, IgnoredMessages: 0, DroppedIndications: 4, Recoveries: 1, RecoveryFailures: 0,
			Indications: []mbim.IndicationCount{
				{Service: mbim.ServiceBasicConnect, CID: mbim.CIDSignalState, Count: 5},
				{Service: mbim.ServiceBasicConnect, CID: mbim.CIDPacketService, Count: 2},
				{Service: mbim.ServiceBasicConnect, CID: 999, Count: 1},
				{Service: mbim.MustParseUUID("01234567-89ab-cdef-0123-456789abcdef"), CID: 1, Count: 2},
			},
			Transactions: []mbim.TransactionCount{
				{Type: mbim.TypeOpen, Result: mbim.ResultSuccess, Status: mbim.StatusSuccess, Count: 1},
				{Type: mbim.TypeCommand, Service: mbim.ServiceBasicConnect, CID: mbim.CIDDeviceCaps, Result: mbim.ResultSuccess, Status: mbim.StatusSuccess, Count: 2},
				{Type: mbim.TypeCommand, Service: mbim.ServiceBasicConnect, CID: mbim.CIDConnect, Result: mbim.ResultStatus, Status: mbim.StatusBusy, Count: 1},
				{Type: mbim.TypeCommand, Service: mbim.ServiceBasicConnect, CID: mbim.CIDSignalState, Result: mbim.ResultTimeout, Count: 1},
			},
		},
		Signal: &mbim.Signal{Rssi: 20, ErrorRate: 0, Version: mbim.MBIMEx2, RsrpSnr: []mbim.RsrpSnrInfo{
			{Rsrp: 60, Snr: 67, SystemType: mbim.DataClassLte},
			{Rsrp: 55, Snr: 200, SystemType: mbim.DataClass5gNsa},
			{Rsrp: 1, Snr: 1, SystemType: mbim.DataClassLte}, // a duplicate: the first wins
		}},
		Cells:         []Cell{{DataClass: mbim.DataClassLte, RSRPdBm: -90, RSRQdB: -11, SNRdB: nan()}},
		Registration:  &mbim.Registration{State: mbim.RegisterStateHome, ProviderID: "00101", ProviderName: "Test"},
		PacketService: &mbim.PacketServiceStatus{State: mbim.PacketServiceStateAttached, DataClass: uint32(mbim.DataClassLte), UplinkSpeed: 50_000_000, DownlinkSpeed: 150_000_000, Version: mbim.MBIMEx2},
		Connection:    &mbim.Connection{ActivationState: mbim.ActivationStateActivated},
		SessionStart:  t0.Add(-time.Hour),
		PacketStatistics: &mbim.PacketStatisticsInfo{InDiscards: 1, InErrors: 2, InOctets: 3000, InPackets: 30,
			OutOctets: 2000, OutPackets: 20, OutErrors: 3, OutDiscards: 4},
		Engine: &handoff.Snapshot{
			State: handoff.Up, LinkUp: true,
			LastHandoff: handoff.Event{Type: handoff.EventHandoff, Time: t0.Add(-time.Minute)},
			Counters:    handoff.Counters{Inputs: 40, Dropped: 1, Queries: 3, Connects: 2, HostWrites: 9, HostErrors: 1, ModemErrors: 1},
		},
	}
}

func nan() float64 { return unknownCell(0).RSRPdBm }

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func gatherFamilies(t *testing.T, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}
