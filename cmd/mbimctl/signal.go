package main

import (
	"context"
	"flag"
	"io"
	"strconv"
	"strings"

	"github.com/gowwan/wwan/mbim"
)

func init() { register(signalCommand) }

var signalCommand = &command{
	name:    "signal",
	summary: "show the signal: RSSI in dBm, error rate, RSRP and SNR",
	usage:   "signal [-d DEVICE] [--json]",
	desc: `
Show the signal quality (Basic Connect SIGNAL_STATE): the RSSI in dBm and
the bit error rate class (0 to 7, 3GPP TS 27.007), and from MBIMEx 2.0 the
RSRP (dBm) and SNR (dB) of each radio technology the modem measures.
"unknown" means the modem does not know (the value 99, or above the
range).`,
	examples: []example{
		{"signal", "how good the signal is"},
		{"signal --json | jq .rssi_dbm", "only the RSSI in dBm"},
		{"signal --mbimex 1", "the MBIMEx 1.0 answer: RSSI and error rate only"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		return func(e *env, args []string) (*plan, error) {
			if err := noArgs(args); err != nil {
				return nil, err
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				sig, err := s.dev.SignalState(ctx)
				if err != nil {
					return nil, err
				}
				return newSignalResult(sig), nil
			}}, nil
		}
	}),
}

// signalResult is the JSON of "mbimctl signal".
type signalResult struct {
	Rssi               uint32        `json:"rssi"`
	RssiDBm            *int          `json:"rssi_dbm"`
	ErrorRate          *uint32       `json:"error_rate"`
	Interval           uint32        `json:"signal_strength_interval"`
	RssiThreshold      uint32        `json:"rssi_threshold"`
	ErrorRateThreshold uint32        `json:"error_rate_threshold"`
	RsrpSnr            []rsrpSnrJSON `json:"rsrp_snr"`
}

type rsrpSnrJSON struct {
	SystemType []string `json:"system_type"`
	Rsrp       uint32   `json:"rsrp"`
	RsrpDBm    *int     `json:"rsrp_dbm"`
	Snr        uint32   `json:"snr"`
	SnrDB      *float64 `json:"snr_db"`
}

func newSignalResult(s mbim.Signal) *signalResult {
	r := &signalResult{
		Rssi: s.Rssi, RssiDBm: rssiDBm(s.Rssi), ErrorRate: errorRate(s.ErrorRate),
		Interval: s.SignalStrengthInterval, RssiThreshold: s.RssiThreshold, ErrorRateThreshold: s.ErrorRateThreshold,
		RsrpSnr: []rsrpSnrJSON{},
	}
	for _, x := range s.RsrpSnr {
		r.RsrpSnr = append(r.RsrpSnr, rsrpSnrJSON{
			SystemType: flagList(x.SystemType), Rsrp: x.Rsrp, RsrpDBm: rsrpDBm(x.Rsrp), Snr: x.Snr, SnrDB: snrDB(x.Snr),
		})
	}
	return r
}

func (r *signalResult) writeText(w io.Writer) error {
	t := &table{}
	r.rows(t)
	return t.write(w)
}

func (r *signalResult) rows(t *table) {
	t.row("RSSI", dBmText(r.RssiDBm))
	t.row("Error rate", errorRateText(r.ErrorRate))
	for _, x := range r.RsrpSnr {
		sys := strings.Join(x.SystemType, "/")
		t.row(sys+" RSRP", dBmText(x.RsrpDBm))
		snr := "unknown"
		if x.SnrDB != nil {
			snr = strconv.FormatFloat(*x.SnrDB, 'f', -1, 64) + " dB"
		}
		t.row(sys+" SNR", snr)
	}
	if r.Interval != 0 {
		t.row("Report interval", strconv.FormatUint(uint64(r.Interval), 10)+" s")
	}
}
