package main

// The /metrics endpoint of `mbimctl run --metrics-listen`.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/metrics"
)

func init() { metricsStarter = startDaemonMetrics }

// startDaemonMetrics is run's metricsStarter: it serves the metrics of the
// daemon d on addr. A Poller over d's device and engine is the source (it
// polls SIGNAL_STATE and PACKET_STATISTICS every 15 s and takes d's
// indications in between); a Recorder takes d's engine events, MBIM
// transactions and device events; a device opened after a reset makes the
// poller poll at once. stop ends the poller and the server.
func startDaemonMetrics(addr string, d snapshotSource) (stop func(), err error) {
	rec := metrics.NewRecorder()
	p := metrics.NewPoller(metrics.PollerConfig{Device: d.Device, Engine: managerEngine{d}, Session: d.Session()})
	ctx, cancel := context.WithCancel(context.Background())
	stopHTTP, err := startMetrics(ctx, addr, p, metrics.WithRecorder(rec))
	if err != nil {
		cancel()
		return nil, err
	}
	d.OnEvent(rec.HandoffSink)
	d.OnTransaction(rec.ObserveTransaction)
	d.OnDeviceEvent(rec.ObserveDeviceEvent)
	d.OnIndication(p.Indication)
	d.OnDeviceOpened(func(*mbim.Device) { p.Kick() })
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		_ = p.Run(ctx)
	}()
	return func() {
		cancel()
		stopHTTP()
		<-polled
	}, nil
}

// managerEngine gives the Poller the engine's snapshot of the daemon's
// Manager.
type managerEngine struct{ d snapshotSource }

func (m managerEngine) Snapshot() handoff.Snapshot { return m.d.Snapshot().Engine }

// metricsShutdownTimeout bounds how long stop waits for scrapes in flight.
const metricsShutdownTimeout = 5 * time.Second

// startMetrics serves Prometheus metrics on addr (host:port, for example
// 127.0.0.1:9898) at /metrics: a metrics.Collector over src (with opts,
// such as metrics.WithRecorder for the handoff and latency metrics), the
// Go runtime's and the process's collectors, and promhttp's own. An empty
// addr serves nothing (metrics off) and returns a no-op stop.
//
// The server stops when ctx ends or stop is called; stop waits (at most
// 5 s) for scrapes in flight and may be called more than once. The error
// is net.Listen's, which names addr.
func startMetrics(ctx context.Context, addr string, src metrics.Source, opts ...metrics.Option) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err // "listen tcp ADDR: bind: address already in use"
	}
	return serveMetrics(ctx, ln, src, opts...), nil
}

// serveMetrics serves the metrics on ln until ctx ends or stop is called.
func serveMetrics(ctx context.Context, ln net.Listener, src metrics.Source, opts ...metrics.Option) (stop func()) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		metrics.New(src, opts...),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg,
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			Registry:            reg,
			ErrorHandling:       promhttp.ContinueOnError,
			MaxRequestsInFlight: 4,
			Timeout:             30 * time.Second,
		})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "mbimctl: Prometheus metrics at /metrics")
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = ln.Close()
		}
	}()
	var once sync.Once
	shutdown := func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				_ = srv.Close()
			}
			<-served
		})
	}
	unhook := context.AfterFunc(ctx, shutdown)
	return func() {
		unhook()
		shutdown()
	}
}
