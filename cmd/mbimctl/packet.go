package main

import (
	"context"
	"flag"
	"io"

	"github.com/gowwan/wwan/mbim"
)

func init() {
	register(attachCommand)
	register(detachCommand)
	register(packetServiceCommand)
}

// packetCommand is attach, detach, or the query.
func packetCommand(name, summary, desc string, examples []example, do func(*mbim.Device, context.Context) (mbim.PacketServiceStatus, error), long bool) *command {
	return &command{
		name:     name,
		summary:  summary,
		usage:    name + " [-d DEVICE] [--json]",
		desc:     desc,
		examples: examples,
		flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
			return func(e *env, args []string) (*plan, error) {
				if err := noArgs(args); err != nil {
					return nil, err
				}
				return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
					if long {
						var cancel context.CancelFunc
						ctx, cancel = s.longCtx(ctx)
						defer cancel()
					}
					p, err := do(s.dev, ctx)
					if err != nil {
						return nil, err
					}
					return newPacketResult(p), nil
				}}, nil
			}
		}),
	}
}

var attachCommand = packetCommand("attach", "attach to the packet service (needed before connect)", `
Attach to the packet (data) service (Basic Connect PACKET_SERVICE, attach)
and show the packet service state: the data class and the speeds the
network offers. Most modems attach by themselves once registered; connect
needs an attached modem. Attaching waits for the network, up to --timeout
(120 s by default).`,
	[]example{
		{"attach", "attach to the packet service"},
		{"attach --json | jq -r .state", "attach, and print only the new state"},
	},
	(*mbim.Device).Attach, true)

var detachCommand = packetCommand("detach", "detach from the packet service (ends the data sessions)", `
Detach from the packet (data) service (Basic Connect PACKET_SERVICE,
detach) and show the new packet service state. Detaching ends every data
session.`,
	[]example{
		{"detach", "leave the packet service"},
	},
	(*mbim.Device).Detach, true)

var packetServiceCommand = packetCommand("packet-service", "show the packet service: attached or not, data class, speeds", `
Show the packet service state (Basic Connect PACKET_SERVICE): whether the
modem is attached, the data class (the radio technology: LTE, 5G_NSA...;
at MBIMEx 2.0 the current class, otherwise the highest available), the
uplink and downlink speeds the network offers, the frequency range (5G,
MBIMEx 2.0 and later) and the network's reject cause.`,
	[]example{
		{"packet-service", "attached, and on which technology"},
		{"packet-service --json | jq .downlink_bps", "the downlink speed in bit/s"},
	},
	(*mbim.Device).PacketService, false)

// packetResult is the JSON of "mbimctl attach", "detach" and
// "packet-service".
type packetResult struct {
	State          string   `json:"state"`
	DataClass      []string `json:"data_class"`
	DataSubclass   []string `json:"data_subclass"`
	UplinkBps      uint64   `json:"uplink_bps"`
	DownlinkBps    uint64   `json:"downlink_bps"`
	FrequencyRange []string `json:"frequency_range"`
	NwError        string   `json:"nw_error"`
}

func newPacketResult(p mbim.PacketServiceStatus) *packetResult {
	r := &packetResult{
		State:          p.State.String(),
		DataSubclass:   flagList(p.DataSubclass),
		UplinkBps:      p.UplinkSpeed,
		DownlinkBps:    p.DownlinkSpeed,
		FrequencyRange: flagList(p.FrequencyRange),
		NwError:        p.NwError.String(),
	}
	if p.Version >= mbim.MBIMEx3 {
		r.DataClass = flagList(mbim.DataClassV3(p.DataClass))
	} else {
		r.DataClass = flagList(mbim.DataClass(p.DataClass))
	}
	return r
}

func (r *packetResult) writeText(w io.Writer) error {
	t := &table{}
	r.rows(t)
	return t.write(w)
}

func (r *packetResult) rows(t *table) {
	t.row("State", r.State)
	dc := joinOr(r.DataClass, "none")
	if len(r.DataSubclass) > 0 {
		dc += " (" + joinOr(r.DataSubclass, "") + ")"
	}
	t.row("Data class", dc)
	t.row("Uplink", bitrate(r.UplinkBps))
	t.row("Downlink", bitrate(r.DownlinkBps))
	if len(r.FrequencyRange) > 0 {
		t.row("Frequency range", joinOr(r.FrequencyRange, "none"))
	}
	if r.NwError != mbim.NwErrorNone.String() {
		t.row("Network error", r.NwError)
	}
}
