package main

import (
	"context"
	"flag"
	"io"
	"strconv"

	"github.com/gowwan/wwan/mbim"
)

func init() { register(capsCommand) }

var capsCommand = &command{
	name:    "caps",
	summary: "show what the modem can do: classes, sessions, firmware, IMEI",
	usage:   "caps [-d DEVICE] [--json]",
	desc: `
Show the device capabilities (Basic Connect DEVICE_CAPS): the device type,
the cellular classes (GSM, CDMA), the data classes the radio supports, SMS
and control capabilities, how many data sessions it can hold, its device id
(the IMEI, ESN or MEID), firmware and hardware versions, and the MBIMEx
version negotiated at open.`,
	examples: []example{
		{"caps -d /dev/cdc-wdm0", "the capabilities of the modem on cdc-wdm0"},
		{"caps -d sim", "the capabilities of the built-in simulated modem"},
		{"caps --json | jq -r .firmware", "only the firmware version"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		return func(e *env, args []string) (*plan, error) {
			if err := noArgs(args); err != nil {
				return nil, err
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				c, err := s.dev.DeviceCaps(ctx)
				if err != nil {
					return nil, err
				}
				return newCapsResult(c, s.dev.Version()), nil
			}}, nil
		}
	}),
}

// capsResult is the JSON of "mbimctl caps".
type capsResult struct {
	DeviceType      string   `json:"device_type"`
	CellularClass   []string `json:"cellular_class"`
	VoiceClass      string   `json:"voice_class"`
	SimClass        []string `json:"sim_class"`
	DataClass       []string `json:"data_class"`
	CustomDataClass string   `json:"custom_data_class"`
	SmsCaps         []string `json:"sms_caps"`
	ControlCaps     []string `json:"control_caps"`
	MaxSessions     uint32   `json:"max_sessions"`
	DeviceID        string   `json:"device_id"`
	Firmware        string   `json:"firmware"`
	Hardware        string   `json:"hardware"`
	MBIMEx          string   `json:"mbimex_version"`
}

func newCapsResult(c *mbim.DeviceCapsInfo, v mbim.Version) *capsResult {
	return &capsResult{
		DeviceType:      c.DeviceType.String(),
		CellularClass:   flagList(c.CellularClass),
		VoiceClass:      c.VoiceClass.String(),
		SimClass:        flagList(c.SimClass),
		DataClass:       flagList(c.DataClass),
		CustomDataClass: c.CustomDataClass.String(),
		SmsCaps:         flagList(c.SmsCaps),
		ControlCaps:     flagList(c.ControlCaps),
		MaxSessions:     c.MaxSessions,
		DeviceID:        c.DeviceId.String(),
		Firmware:        c.FirmwareInfo.String(),
		Hardware:        c.HardwareInfo.String(),
		MBIMEx:          v.String(),
	}
}

func (r *capsResult) writeText(w io.Writer) error {
	t := &table{}
	t.row("Device type", r.DeviceType)
	t.row("Cellular classes", joinOr(r.CellularClass, "none"))
	t.row("Voice", r.VoiceClass)
	t.row("SIM", joinOr(r.SimClass, "none"))
	t.row("Data classes", joinOr(r.DataClass, "none"))
	if r.CustomDataClass != "" {
		t.row("Custom data class", r.CustomDataClass)
	}
	t.row("SMS", joinOr(r.SmsCaps, "none"))
	t.row("Control", joinOr(r.ControlCaps, "none"))
	t.row("Max sessions", strconv.FormatUint(uint64(r.MaxSessions), 10))
	t.row("Device ID", orDash(r.DeviceID))
	t.row("Firmware", orDash(r.Firmware))
	t.row("Hardware", orDash(r.Hardware))
	t.row("MBIMEx", r.MBIMEx)
	return t.write(w)
}
