package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

// Poller defaults.
const (
	DefaultPollInterval = 15 * time.Second
	DefaultQueryTimeout = 5 * time.Second
)

// EngineSnapshotter is what the Poller asks of the handoff engine
// (*handoff.Engine has it).
type EngineSnapshotter interface {
	Snapshot() handoff.Snapshot
}

// PollerConfig configures a Poller.
type PollerConfig struct {
	// Device returns the open device, or nil while there is none (between
	// a transport loss and the re-open). Required.
	Device func() *mbim.Device
	// Engine, when set, gives the registration, packet service and
	// session state (from the indications it is fed), so the Poller does
	// not query them, and its Snapshot is exported.
	Engine EngineSnapshotter
	// Session is the data session's id (for CONNECT without an Engine).
	Session uint32
	// Interval between two polls (DefaultPollInterval when <= 0).
	Interval time.Duration
	// QueryTimeout bounds each query (DefaultQueryTimeout when <= 0).
	QueryTimeout time.Duration
	// Info is what the Poller cannot ask the modem: the manufacturer (and
	// the model) from the USB descriptors. The model, when empty, and the
	// firmware come from DEVICE_CAPS; the MBIMEx version from the Device.
	Info Info
	// BaseStations makes the Poller also query MS BASE_STATIONS_INFO, for
	// the LTE serving cell's RSRQ. Off by default: some modems are slow to
	// answer it. A modem that does not support it is not asked again.
	BaseStations bool
}

// Poller is a Source over an mbim.Device and, optionally, a handoff
// engine. Run polls the modem every Interval (DEVICE_CAPS once per Device,
// SIGNAL_STATE, PACKET_STATISTICS, and without an Engine REGISTER_STATE,
// PACKET_SERVICE and CONNECT) and Indication takes what indications say
// in between; MetricsSnapshot only reads what was cached, plus the
// Device's counters and the engine's snapshot, so a scrape never waits for
// the modem.
type Poller struct {
	cfg  PollerConfig
	kick chan struct{}

	mu             sync.Mutex
	dev            *mbim.Device // the device the cache belongs to
	caps           *Info        // from DEVICE_CAPS; nil until asked
	signal         *mbim.Signal
	cells          []Cell
	reg            *mbim.Registration
	ps             *mbim.PacketServiceStatus
	conn           *mbim.Connection
	start          time.Time
	stats          *mbim.PacketStatisticsInfo
	updated        time.Time
	noBaseStations bool
}

// NewPoller returns a Poller; call Run to start polling.
func NewPoller(cfg PollerConfig) *Poller {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultPollInterval
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	return &Poller{cfg: cfg, kick: make(chan struct{}, 1)}
}

var _ Source = (*Poller)(nil)

// Run polls at once and then every Interval (and at each Kick) until ctx
// ends; it returns ctx's error. Failed queries are retried at the next
// poll.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		_ = p.Refresh(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-p.kick:
		}
	}
}

// Kick makes Run poll now rather than at the next tick: call it when a
// new Device has been opened (after a modem reset), so that the metrics do
// not wait an Interval for what the new device says. It never blocks.
func (p *Poller) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Refresh polls the modem once and returns what failed (nil when every
// query succeeded, or when there is no device). The snapshot's Updated
// time moves when at least one query succeeded.
func (p *Poller) Refresh(ctx context.Context) error {
	if p.cfg.Device == nil {
		return errors.New("metrics: Poller without a Device function")
	}
	d := p.cfg.Device()
	if d == nil {
		p.switchTo(nil)
		return nil
	}
	p.switchTo(d)
	var errs []error
	asked := 0
	query := func(what string, f func(ctx context.Context) error) {
		asked++
		qctx, cancel := context.WithTimeout(ctx, p.cfg.QueryTimeout)
		defer cancel()
		if err := f(qctx); err != nil {
			errs = append(errs, fmt.Errorf("metrics: poll %s: %w", what, err))
		}
	}
	p.mu.Lock()
	needCaps, baseStations := p.caps == nil, p.cfg.BaseStations && !p.noBaseStations
	p.mu.Unlock()
	if needCaps {
		query("DEVICE_CAPS", func(ctx context.Context) error {
			caps, err := d.DeviceCaps(ctx)
			if err != nil {
				return err
			}
			info := InfoFromDeviceCaps(caps, d.Version())
			p.update(d, func() { p.caps = &info })
			return nil
		})
	}
	query("SIGNAL_STATE", func(ctx context.Context) error {
		s, err := d.SignalState(ctx)
		if err == nil {
			p.update(d, func() { p.signal = &s })
		}
		return err
	})
	query("PACKET_STATISTICS", func(ctx context.Context) error {
		s, err := d.PacketStatistics(ctx)
		if err == nil {
			p.update(d, func() { p.stats = &s })
		}
		return err
	})
	if p.cfg.Engine == nil {
		query("REGISTER_STATE", func(ctx context.Context) error {
			r, err := d.RegisterState(ctx)
			if err == nil {
				p.update(d, func() { p.reg = &r })
			}
			return err
		})
		query("PACKET_SERVICE", func(ctx context.Context) error {
			s, err := d.PacketService(ctx)
			if err == nil {
				p.update(d, func() { p.ps = &s })
			}
			return err
		})
		query("CONNECT", func(ctx context.Context) error {
			c, err := d.ConnectState(ctx, p.cfg.Session)
			if err == nil {
				p.update(d, func() { p.setConnection(c, time.Now()) })
			}
			return err
		})
	}
	if baseStations {
		query("BASE_STATIONS_INFO", func(ctx context.Context) error {
			cells, err := baseStationCells(ctx, d)
			switch {
			case errors.Is(err, mbim.StatusNoDeviceSupport) || errors.Is(err, mbim.ErrNoLayout):
				p.update(d, func() { p.noBaseStations = true })
			case err == nil:
				p.update(d, func() { p.cells = cells })
			}
			return err
		})
	}
	if len(errs) < asked {
		p.update(d, func() { p.updated = time.Now() })
	}
	return errors.Join(errs...)
}

func baseStationCells(ctx context.Context, d *mbim.Device) ([]Cell, error) {
	var req mbim.InfoAppender = &mbim.MsBaseStationsInfoQuery{MaxLteCount: 1}
	if d.Version() >= mbim.MBIMEx3 {
		req = &mbim.MsBaseStationsInfoQueryV3{MaxLteCount: 1}
	}
	b, err := d.QueryBody(ctx, mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsBaseStationsInfo, req)
	if err != nil {
		return nil, err
	}
	switch v := b.(type) {
	case *mbim.MsBaseStationsInfo:
		return CellsFromBaseStations(v), nil
	case *mbim.MsBaseStationsInfoV3:
		return CellsFromBaseStationsV3(v), nil
	}
	return nil, fmt.Errorf("metrics: BASE_STATIONS_INFO answered with %T: %w", b, mbim.ErrNoLayout)
}

// switchTo forgets what belonged to another device: a new Device is a
// modem that may have reset, and no Device means nothing is known.
func (p *Poller) switchTo(d *mbim.Device) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d == p.dev {
		return
	}
	p.dev = d
	p.caps, p.signal, p.cells, p.reg, p.ps, p.conn, p.stats = nil, nil, nil, nil, nil, nil, nil
	p.start, p.noBaseStations = time.Time{}, false
}

// update runs f under the lock if d is still the current device.
func (p *Poller) update(d *mbim.Device, f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d == p.dev {
		f()
	}
}

func (p *Poller) setConnection(c mbim.Connection, at time.Time) {
	was := p.conn != nil && p.conn.ActivationState == mbim.ActivationStateActivated
	p.conn = &c
	switch {
	case c.ActivationState != mbim.ActivationStateActivated:
		p.start = time.Time{}
	case !was:
		p.start = at
	}
}

// Indication takes what an indication says (SIGNAL_STATE, REGISTER_STATE,
// PACKET_SERVICE, CONNECT of the configured session) into the cache, so
// that a scrape between two polls sees it. Others are ignored. It decodes
// the indication; call it from the goroutine that reads the subscription.
func (p *Poller) Indication(ind mbim.Indication) {
	if ind.Service() != mbim.ServiceBasicConnect {
		return
	}
	switch ind.CID() {
	case mbim.CIDSignalState, mbim.CIDRegisterState, mbim.CIDPacketService, mbim.CIDConnect:
	default:
		return
	}
	b, err := ind.Decode()
	if err != nil {
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ind.CID() {
	case mbim.CIDSignalState:
		if s, err := mbim.SignalFrom(b); err == nil {
			p.signal = &s
		}
	case mbim.CIDRegisterState:
		if r, err := mbim.RegistrationFrom(b); err == nil {
			p.reg = &r
		}
	case mbim.CIDPacketService:
		if s, err := mbim.PacketServiceFrom(b); err == nil {
			p.ps = &s
		}
	case mbim.CIDConnect:
		if c, err := mbim.ConnectionFrom(b); err == nil && c.SessionID == p.cfg.Session {
			p.setConnection(c, now)
		}
	}
}

// MetricsSnapshot returns the cached values with the Device's counters and
// the engine's snapshot. It never talks to the modem.
func (p *Poller) MetricsSnapshot(ctx context.Context) (Snapshot, error) {
	var d *mbim.Device
	if p.cfg.Device != nil {
		d = p.cfg.Device()
	}
	s := Snapshot{Info: p.cfg.Info}
	if p.cfg.Engine != nil {
		g := p.cfg.Engine.Snapshot()
		s.Engine = &g
	}
	if d != nil {
		st := d.Stats()
		s.Device = &st
		s.Up = d.Err() == nil
		s.Info.MBIMEx = d.Version()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d == nil || d != p.dev {
		return s, nil // nothing cached belongs to this device yet
	}
	if c := p.caps; c != nil {
		if s.Info.Model == "" {
			s.Info.Model = c.Model
		}
		if s.Info.Firmware == "" {
			s.Info.Firmware = c.Firmware
		}
	}
	s.Updated = p.updated
	s.Signal, s.Cells = p.signal, p.cells
	s.Registration, s.PacketService, s.Connection = p.reg, p.ps, p.conn
	s.SessionStart = p.start
	s.PacketStatistics = p.stats
	return s, nil
}
