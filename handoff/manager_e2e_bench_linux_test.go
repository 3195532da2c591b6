//go:build linux

package handoff_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// BenchmarkE2EHandoff times a handoff end to end: from the indication
// that starts it reaching the client (the moment the Device reads it off
// the transport) to the host being consistent (the engine's handoff event,
// emitted once the last host change returned), through the in-process
// simulated modem and the LinuxHost in a network namespace. It reports
// the median, the 99th percentile and the maximum per handoff.
//
//   - transparent: the data class moves (LTE, HSDPA, LTE, ...) with the
//     same configuration; the engine queries IP_CONFIGURATION and finds it
//     unchanged. It must cost no request to the kernel, which the
//     benchmark checks with the LinuxHost's counters.
//   - address-change: an IP_CONFIGURATION indication moves both families
//     to other addresses and gateways: two deletions, two additions, two
//     default routes, link down and up (eight netlink writes).
//
// The engine's debounce is off (a negative EngineConfig.Debounce): it is a
// deliberate wait (100 ms by default) that lets a burst of indications
// give one query, not a cost of the handoff. Needs root, like the tests.
func BenchmarkE2EHandoff(b *testing.B) {
	b.Run("transparent", func(b *testing.B) { benchE2E(b, false) })
	b.Run("address-change", func(b *testing.B) { benchE2E(b, true) })
}

func benchE2E(b *testing.B, change bool) {
	e := newE2E(b)
	h := e.host()
	r := e.rig(h)
	r.cfg.Engine.Debounce = -1
	cid := mbim.CIDPacketService
	if change {
		cid = mbim.CIDIpConfiguration
	}
	var (
		mu      sync.Mutex
		arrived time.Time
	)
	r.cfg.DeviceOptions = []mbim.Option{mbim.WithTrace(func(dir mbim.Direction, msg []byte) {
		if dir != mbim.DirectionIn {
			return
		}
		if m, err := mbim.ParseMessage(msg); err == nil && m.Type() == mbim.TypeIndicateStatus &&
			m.Service() == mbim.ServiceBasicConnect && m.CID() == cid {
			now := time.Now()
			mu.Lock()
			arrived = now
			mu.Unlock()
		}
	})}
	r.start()
	r.up()
	r.drain()
	plans := [2]mbimtest.IPConfig{mbimtest.DefaultAddressPlan(0, 0), mbimtest.DefaultAddressPlan(0, 1)}
	classes := [2]mbim.DataClass{mbim.DataClassHsdpa, mbim.DataClassLte}
	var lat []time.Duration
	before := h.Stats()
	i := 0
	for b.Loop() {
		i++
		var err error
		if change {
			err = r.sim.SetIPConfig(0, plans[i%2], true)
		} else {
			err = r.sim.SetDataClass(classes[(i+1)%2], false, mbimtest.AddressChange{})
		}
		if err != nil {
			b.Fatal(err)
		}
		ev, _ := r.nextHandoff()
		want := handoff.Transparent
		if change {
			want = handoff.Readdressed
		}
		if ev.Outcome != want {
			b.Fatalf("handoff %d: %s, want %s", i, eventString(ev), want)
		}
		mu.Lock()
		lat = append(lat, ev.Time.Sub(arrived))
		mu.Unlock()
	}
	b.StopTimer()
	d := h.Stats().Sub(before)
	if !change && d != (handoff.LinuxHostStats{}) {
		b.Fatalf("%d transparent handoffs sent requests to the kernel: %+v", i, d)
	}
	if change && d.NetlinkWrites() != uint64(8*i) {
		b.Fatalf("%d address changes made %d netlink writes, want %d: %+v", i, d.NetlinkWrites(), 8*i, d)
	}
	slices.Sort(lat)
	p50, p99, worst := percentile(lat, 50), percentile(lat, 99), lat[len(lat)-1]
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(worst.Nanoseconds()), "max-ns")
	b.ReportMetric(float64(d.NetlinkRequests())/float64(i), "netlink-req/op")
	b.Logf("%d handoffs: median %v, p99 %v, max %v; netlink requests %d (%s)", i, p50, p99, worst, d.NetlinkRequests(),
		fmt.Sprintf("writes %d", d.NetlinkWrites()))
}

// percentile returns the p-th percentile of sorted durations (nearest
// rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	return sorted[max(rank, 1)-1]
}
