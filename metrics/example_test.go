package metrics_test

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/metrics"
)

// Firmware registers the collector in its own registry; a Recorder fed by
// the engine's events counts the handoffs.
func Example() {
	rec := metrics.NewRecorder()
	src := metrics.SourceFunc(func(ctx context.Context) (metrics.Snapshot, error) {
		return metrics.Snapshot{Up: true, Signal: &mbim.Signal{Rssi: 20, ErrorRate: 99}}, nil
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(src, metrics.WithRecorder(rec)))

	// handoff.EngineConfig{Sinks: []func(handoff.Event){rec.HandoffSink}} does this:
	rec.HandoffSink(handoff.Event{Type: handoff.EventHandoff, From: "LTE", To: "HSDPA", Outcome: handoff.Transparent})

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "wwan_signal_rssi_dbm", "wwan_handoffs_total", "wwan_scrape_success":
			for _, m := range mf.GetMetric() {
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				labels := ""
				for _, l := range m.GetLabel() {
					labels += " " + l.GetName() + "=" + l.GetValue()
				}
				fmt.Printf("%s%s %v\n", mf.GetName(), labels, v)
			}
		}
	}
	// Output:
	// wwan_handoffs_total from=LTE outcome=transparent to=HSDPA 1
	// wwan_scrape_success 1
	// wwan_signal_rssi_dbm -73
}
