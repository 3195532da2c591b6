package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/gowwan/wwan/mbim"
)

func init() {
	register(radioCommand)
	completionWords["radio"] = []string{"on", "off"}
}

var radioCommand = &command{
	name:    "radio",
	summary: "show the radio switches, or turn the radio on or off",
	usage:   "radio [on|off] [-d DEVICE] [--json]",
	desc: `
Without an argument, show the hardware and software radio switches (Basic
Connect RADIO_STATE). The radio transmits only when both are on; the
hardware switch (a switch or a W_DISABLE# pin) cannot be set from here.

With "on" or "off", set the software switch and show the new state. Turning
the radio off deregisters the modem and ends its data sessions.`,
	examples: []example{
		{"radio -d /dev/cdc-wdm0", "is the radio on"},
		{"radio off", "turn the radio off (airplane mode)"},
		{"radio on --json", "turn it on and print the new state as JSON"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		return func(e *env, args []string) (*plan, error) {
			var set, on bool
			switch {
			case len(args) == 0:
			case len(args) > 1:
				return nil, fmt.Errorf("unexpected argument %q", args[1])
			case args[0] == "on", args[0] == "off":
				set, on = true, args[0] == "on"
			default:
				return nil, fmt.Errorf("unknown radio state %q: want on or off", args[0])
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				var r mbim.RadioStateInfo
				var err error
				if set {
					r, err = s.dev.SetRadioState(ctx, on)
				} else {
					r, err = s.dev.RadioState(ctx)
				}
				if err != nil {
					return nil, err
				}
				return newRadioResult(r), nil
			}}, nil
		}
	}),
}

// radioResult is the JSON of "mbimctl radio".
type radioResult struct {
	Hardware string `json:"hardware_radio"`
	Software string `json:"software_radio"`
}

func newRadioResult(r mbim.RadioStateInfo) *radioResult {
	return &radioResult{Hardware: r.HwRadioState.String(), Software: r.SwRadioState.String()}
}

func (r *radioResult) writeText(w io.Writer) error {
	t := &table{}
	r.rows(t)
	return t.write(w)
}

func (r *radioResult) rows(t *table) {
	t.row("Hardware radio", r.Hardware)
	t.row("Software radio", r.Software)
}
