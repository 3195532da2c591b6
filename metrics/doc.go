// Package metrics exports what wwan sees of a modem to Prometheus: a
// prometheus.Collector that router firmware registers in its own registry,
// and the /metrics endpoint of `mbimctl run --metrics-listen`.
//
// # Parts
//
//   - Collector (New): on every scrape it takes a Snapshot from its Source
//     and exports it, with the Recorder's counters and its own health
//     (wwan_scrape_success, wwan_scrape_duration_seconds). A scrape never
//     waits for the modem: the Source returns cached values, and a Source
//     that hangs is cut off at the collector's timeout (WithTimeout).
//   - Source: one method, MetricsSnapshot. Poller is the Source over an
//     mbim.Device and a handoff engine (or a handoff.Manager's Device and
//     Engine); SourceFunc adapts a function (tests, other embeddings).
//   - Poller: polls DEVICE_CAPS once per Device, SIGNAL_STATE and
//     PACKET_STATISTICS every interval (and REGISTER_STATE, PACKET_SERVICE
//     and CONNECT when no engine says them), takes indications in between
//     (Indication), polls at once when told a new Device opened (Kick), and
//     forgets everything when the Device goes or is replaced.
//   - Recorder: what only events tell. Feed it the engine's events
//     (HandoffSink, for handoff.EngineConfig.Sinks), the Device's
//     transactions (ObserveTransaction, for mbim.WithObserver) and events
//     (ObserveDeviceEvent, for mbim.WithEventHandler). It outlives the
//     Devices that come and go, so its counters never go back.
//
// Wiring for a daemon around a handoff.Manager:
//
//	rec := metrics.NewRecorder()
//	var p *metrics.Poller
//	cfg.Engine.Sinks = append(cfg.Engine.Sinks, rec.HandoffSink)
//	cfg.DeviceOptions = append(cfg.DeviceOptions, mbim.WithObserver(rec.ObserveTransaction))
//	cfg.DeviceEvents = rec.ObserveDeviceEvent
//	cfg.Indications = func(ind mbim.Indication) { p.Indication(ind) }
//	cfg.DeviceOpened = func(*mbim.Device) { p.Kick() }
//	mgr, _ := handoff.NewManager(cfg)
//	p = metrics.NewPoller(metrics.PollerConfig{Device: mgr.Device, Engine: mgr.Engine(),
//		Session: cfg.Connect.Session, Info: metrics.Info{Manufacturer: fn.Manufacturer, Model: fn.Product}})
//	go p.Run(ctx)
//	go mgr.Run(ctx)
//	reg.MustRegister(metrics.New(p, metrics.WithRecorder(rec)))
//
// # Conventions
//
// Every name starts with wwan_ and is in base units (seconds, bytes;
// signal in dBm and dB). Counters end in _total. A state is an enum
// gauge, as node_exporter's node_systemd_unit_state: one series per
// possible value, 1 for the current one, 0 for the others, so that
// `wwan_data_class == 1` draws the data class over time. Label values come
// from closed tables (the mbim package's service, CID, status and state
// names; the handoff package's data-class and outcome names) and whatever
// no table names is "other", so a modem cannot make the series grow
// without bound. Nothing personal is ever a label: not the IMEI (which
// DEVICE_CAPS carries: InfoFromDeviceCaps leaves it out), the IMSI, the
// ICCID or a phone number. What the source does not know is left out, not
// reported as zero.
//
// The README's "Metrics" section lists every metric with an example
// scrape; a test keeps it and the code in step.
//
// # Testing
//
// Package metricstest scrapes an endpoint over HTTP and runs
// `promtool check metrics` on the text.
package metrics
