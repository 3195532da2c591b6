package handoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

// BenchmarkHandoff measures from Handle(packet-service indication) to the
// handoff event that says the host is consistent, with the fake modem and
// host and no debounce: the engine's own cost (goroutine hops, the query
// on its goroutine, comparison, host calls, events). In the field add the
// debounce (100 ms) and the modem's IP_CONFIGURATION round trip.
func BenchmarkHandoff(b *testing.B) {
	b.Run("transparent", func(b *testing.B) { benchHandoff(b, false) })
	b.Run("readdressed", func(b *testing.B) { benchHandoff(b, true) })
}

func benchHandoff(b *testing.B, readdress bool) {
	ips := [2]handoff.IPConfiguration{ipv4Only(addr4a, gw4a), ipv4Only(addr4b, gw4b)}
	m := activeModem(mbim.DataClassLte, ips[0])
	host := consistentHost(ips[0])
	done := make(chan handoff.Event, 1)
	e := handoff.New(handoff.EngineConfig{Interface: "wwan0", Debounce: -1, Sinks: []func(handoff.Event){
		func(ev handoff.Event) {
			if ev.Type == handoff.EventHandoff {
				done <- ev
			}
		}}}, m, host)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	for e.Snapshot().State != handoff.Up {
		time.Sleep(time.Millisecond)
	}
	want := handoff.Transparent
	if readdress {
		want = handoff.Readdressed
	}
	classes := [2]mbim.DataClass{mbim.DataClass5gNsa, mbim.DataClassLte}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if readdress {
			m.set(func(m *fakeModem) { m.ip = ips[(i+1)%2] })
		}
		e.Handle(attached(classes[i%2]))
		if ev := <-done; ev.Outcome != want {
			b.Fatalf("outcome %s (%s), want %s", ev.Outcome, ev.Reason, want)
		}
		i++
		if readdress && i%1024 == 0 {
			host.Reset() // keep the fake's log small
		}
	}
	b.StopTimer()
	if !readdress && host.Calls() != 1 {
		b.Fatalf("transparent handoffs called the host: %d calls", host.Calls())
	}
}
