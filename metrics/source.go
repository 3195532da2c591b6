package metrics

import (
	"context"
	"math"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

// Source is what the Collector reads on every scrape.
//
// MetricsSnapshot returns what the source knows now. It is called once per
// scrape (concurrent scrapes share one call) with a context that ends at
// the collector's timeout (WithTimeout). It must not wait for the modem:
// return values cached from indications and from a poll the source runs
// on its own (Poller does both), and honour ctx if anything can block.
// When it returns an error, or does not return in time, the scrape
// reports wwan_scrape_success 0 and only the metrics the Recorder keeps.
//
// The Collector reads the returned Snapshot after the call, possibly from
// several goroutines: the source must not modify it (or anything it points
// to) afterwards.
type Source interface {
	MetricsSnapshot(ctx context.Context) (Snapshot, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (Snapshot, error)

// MetricsSnapshot calls f.
func (f SourceFunc) MetricsSnapshot(ctx context.Context) (Snapshot, error) { return f(ctx) }

// Snapshot is the state of one modem and its data session, as a Source
// last saw it. Every part is optional: a nil pointer (or a zero value,
// where so documented) means "not known", and its metrics are left out
// rather than reported as zero.
//
// Where a part can come from the mbim side or from the handoff engine
// (registration, packet service, session state), the mbim value wins and
// the engine's Snapshot fills in what is missing.
type Snapshot struct {
	// Updated is when the source last refreshed what it polls
	// (wwan_last_update_timestamp_seconds); zero when it does not say.
	Updated time.Time

	// Up reports an open MBIM session with the modem (wwan_modem_up).
	Up bool

	// Info identifies the modem (wwan_info). It never carries the IMEI,
	// IMSI, ICCID or a phone number: see Info.
	Info Info

	// Device is the control channel's counters (mbim.Device.Stats), nil
	// when no device is open. They restart at zero with a new Device
	// (after a transport reset), which rate() treats as a counter reset.
	Device *mbim.Stats

	// Signal is the last SIGNAL_STATE (mbim.SignalFrom of a response or
	// an indication).
	Signal *mbim.Signal
	// Cells are per-technology serving-cell measurements, for what
	// SIGNAL_STATE does not carry (RSRQ): see CellsFromBaseStations.
	Cells []Cell

	// Registration is the last REGISTER_STATE.
	Registration *mbim.Registration
	// PacketService is the last PACKET_SERVICE.
	PacketService *mbim.PacketServiceStatus
	// Connection is the data session's last CONNECT state.
	Connection *mbim.Connection
	// SessionStart is when the data session was last activated; zero when
	// unknown or not active (the Recorder's time of the last "session
	// ACTIVATED" event is used then).
	SessionStart time.Time
	// PacketStatistics is the last PACKET_STATISTICS: the modem's own
	// counters of the data plane.
	PacketStatistics *mbim.PacketStatisticsInfo

	// Engine is the handoff engine's snapshot (handoff.Engine.Snapshot).
	Engine *handoff.Snapshot
}

// Info identifies the modem in the wwan_info metric. Only what names a
// model and its software belongs here: never the IMEI (DEVICE_CAPS
// DeviceId), IMSI, ICCID or a phone number. The strings are cleaned for use
// as label values (control characters removed, at most 64 characters).
type Info struct {
	Manufacturer string       // the USB iManufacturer string (usbtransport.Function), or QMI DMS
	Model        string       // the USB iProduct string, or DEVICE_CAPS HardwareInfo
	Firmware     string       // DEVICE_CAPS FirmwareInfo
	MBIMEx       mbim.Version // the negotiated MBIMEx version (mbim.Device.Version); 0 if unknown
}

// IsZero reports whether nothing is known.
func (i Info) IsZero() bool { return i == Info{} }

// InfoFromDeviceCaps takes the model and firmware from a DEVICE_CAPS
// response: HardwareInfo and FirmwareInfo, never DeviceId. Manufacturer is
// left for the caller (DEVICE_CAPS has none; the USB descriptors do).
func InfoFromDeviceCaps(caps *mbim.DeviceCapsInfo, version mbim.Version) Info {
	if caps == nil {
		return Info{MBIMEx: version}
	}
	return Info{Model: caps.HardwareInfo.String(), Firmware: caps.FirmwareInfo.String(), MBIMEx: version}
}

// Cell is one technology's serving-cell measurements. A value that is NaN
// is not known (and not exported).
type Cell struct {
	DataClass mbim.DataClass // the technology (one bit, as RsrpSnrInfo.SystemType)
	RSRPdBm   float64
	RSRQdB    float64
	SNRdB     float64
}

// unknownCell is a Cell with nothing known.
func unknownCell(dc mbim.DataClass) Cell {
	return Cell{DataClass: dc, RSRPdBm: math.NaN(), RSRQdB: math.NaN(), SNRdB: math.NaN()}
}

// CellsFromBaseStations takes the LTE serving cell's RSRP and RSRQ from an
// MS Basic Connect Extensions BASE_STATIONS_INFO response (MBIMEx 1.0 and
// 2.0 layout), where the modem reports them in dBm and dB. Values out of
// the physical range (the modem's "unknown", 0xFFFFFFFF) are left NaN.
// Other technologies are not taken: their serving cells carry no RSRQ, and
// SIGNAL_STATE has their RSRP.
func CellsFromBaseStations(b *mbim.MsBaseStationsInfo) []Cell {
	if b == nil {
		return nil
	}
	return lteCell(b.LteServingCell)
}

// CellsFromBaseStationsV3 is CellsFromBaseStations for the MBIMEx 3.0
// layout.
func CellsFromBaseStationsV3(b *mbim.MsBaseStationsInfoV3) []Cell {
	if b == nil {
		return nil
	}
	return lteCell(b.LteServingCell)
}

func lteCell(c *mbim.MsCellInfoServingLte) []Cell {
	if c == nil {
		return nil
	}
	cell := unknownCell(mbim.DataClassLte)
	if c.Rsrp >= -156 && c.Rsrp <= -31 {
		cell.RSRPdBm = float64(c.Rsrp)
	}
	if c.Rsrq >= -43 && c.Rsrq <= 20 {
		cell.RSRQdB = float64(c.Rsrq)
	}
	if math.IsNaN(cell.RSRPdBm) && math.IsNaN(cell.RSRQdB) {
		return nil
	}
	return []Cell{cell}
}

// RSRP and SNR of SIGNAL_STATE v2 (mbim-reference §4.2).
func rsrpDBm(v uint32) (float64, bool) {
	if v > 126 {
		return 0, false
	}
	return -157 + float64(v), true
}

func snrDB(v uint32) (float64, bool) {
	if v > 127 {
		return 0, false
	}
	return -23.5 + 0.5*float64(v), true
}
