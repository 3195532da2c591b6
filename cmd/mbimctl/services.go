package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/gowwan/wwan/mbim"
)

func init() {
	register(servicesCommand)
	register(versionCommand)
	register(firmwareIDCommand)
	register(resetCommand)
}

// noArgsCommand is a modem command without arguments whose run is do.
func noArgsCommand(do func(ctx context.Context, s *modemSession) (result, error), opts ...mbim.Option) func(fs *flag.FlagSet) func(*env, []string) error {
	return modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		return func(e *env, args []string) (*plan, error) {
			if err := noArgs(args); err != nil {
				return nil, err
			}
			return &plan{opts: opts, run: func(ctx context.Context, e *env, s *modemSession) (result, error) { return do(ctx, s) }}, nil
		}
	})
}

var servicesCommand = &command{
	name:    "services",
	summary: "list the services and commands (CIDs) the modem supports",
	usage:   "services [-d DEVICE] [--json]",
	desc: `
List the device services the modem implements (Basic Connect
DEVICE_SERVICES): each service by name and UUID, with the commands (CIDs)
it supports, named where this program knows them.`,
	examples: []example{
		{"services", "what the modem implements"},
		{"services --json | jq -r '.services[].name'", "the service names only"},
	},
	flags: noArgsCommand(func(ctx context.Context, s *modemSession) (result, error) {
		ds, err := s.dev.DeviceServices(ctx)
		if err != nil {
			return nil, err
		}
		r := &servicesResult{MaxDssSessions: ds.MaxDssSessions, Services: []serviceJSON{}}
		for _, el := range ds.DeviceServices {
			sj := serviceJSON{
				Name: mbim.ServiceName(el.DeviceServiceId), UUID: el.DeviceServiceId.String(),
				DssPayload: el.DssPayload, MaxDssInstances: el.MaxDssInstances, CIDs: []cidJSON{},
			}
			for _, c := range el.Cids {
				cj := cidJSON{ID: c}
				if n := mbim.CIDName(el.DeviceServiceId, c); n != "" {
					cj.Name = &n
				}
				sj.CIDs = append(sj.CIDs, cj)
			}
			r.Services = append(r.Services, sj)
		}
		return r, nil
	}),
}

// servicesResult is the JSON of "mbimctl services".
type servicesResult struct {
	MaxDssSessions uint32        `json:"max_dss_sessions"`
	Services       []serviceJSON `json:"services"`
}

type serviceJSON struct {
	Name            string    `json:"name"`
	UUID            string    `json:"uuid"`
	CIDs            []cidJSON `json:"cids"`
	DssPayload      uint32    `json:"dss_payload"`
	MaxDssInstances uint32    `json:"max_dss_instances"`
}

type cidJSON struct {
	ID   uint32  `json:"id"`
	Name *string `json:"name"`
}

func (r *servicesResult) writeText(w io.Writer) error {
	t := &table{}
	t.row("SERVICE", "UUID", "CIDS")
	for _, s := range r.Services {
		var cids []string
		for _, c := range s.CIDs {
			if c.Name != nil {
				cids = append(cids, *c.Name)
			} else {
				cids = append(cids, strconv.FormatUint(uint64(c.ID), 10))
			}
		}
		t.row(orDash(s.Name), s.UUID, joinOr(cids, "-"))
	}
	return t.write(w)
}

var versionCommand = &command{
	name:    "version",
	summary: "show the MBIM and MBIMEx versions of the modem and of the session",
	usage:   "version [--mbimex 1|2|3] [-d DEVICE] [--json]",
	desc: `
Show the MBIM extensions (MBIMEx) version: the one this session runs with
(negotiated at open: the highest both sides support, at most --mbimex),
and the modem's own answer to MS Basic Connect Extensions VERSION when
asked for --mbimex (none when the modem has no such command, an MBIMEx 1.0
modem). Some commands change their layout with the version (REGISTER_STATE,
PACKET_SERVICE, SIGNAL_STATE and CONNECT among them).`,
	examples: []example{
		{"version", "which MBIMEx version the modem speaks"},
		{"version --mbimex 2", "what the modem answers when asked for 2.0"},
	},
	flags: noArgsCommand(func(ctx context.Context, s *modemSession) (result, error) {
		r := &versionResult{MBIM: "1.0", Session: s.dev.Version().String(), Requested: s.maxEx.String()}
		if s.maxEx >= mbim.MBIMEx2 {
			v, err := s.dev.QueryVersion(ctx, s.maxEx)
			var ce *mbim.CommandError
			switch {
			case errors.As(err, &ce) && ce.Status == mbim.StatusNoDeviceSupport:
			case err != nil:
				return nil, err
			default:
				m, x := mbim.Version(v.MbimVersion).String(), mbim.Version(v.MbimExtendedVersion).String()
				r.ModemMBIM, r.ModemMBIMEx = &m, &x
			}
		}
		return r, nil
	}),
}

// versionResult is the JSON of "mbimctl version".
type versionResult struct {
	MBIM        string  `json:"mbim_version"`
	Session     string  `json:"mbimex_version"`
	Requested   string  `json:"mbimex_requested"`
	ModemMBIM   *string `json:"modem_mbim_version"`
	ModemMBIMEx *string `json:"modem_mbimex_version"`
}

func (r *versionResult) writeText(w io.Writer) error {
	t := &table{}
	t.row("MBIM", r.MBIM)
	t.row("MBIMEx of this session", r.Session)
	t.row("MBIMEx asked for", r.Requested)
	if r.ModemMBIMEx != nil {
		t.row("MBIMEx of the modem", fmt.Sprintf("%s (MBIM %s)", *r.ModemMBIMEx, *r.ModemMBIM))
	} else {
		t.row("MBIMEx of the modem", "not asked (no VERSION command, or --mbimex 1)")
	}
	return t.write(w)
}

var firmwareIDCommand = &command{
	name:    "firmware-id",
	summary: "show the firmware id (MS firmware id service)",
	usage:   "firmware-id [-d DEVICE] [--json]",
	desc: `
Show the firmware id (Microsoft firmware id service, GET): the UUID that
names the modem's firmware for Windows Update. Modems without the service
refuse with NO_DEVICE_SUPPORT (exit 5).`,
	examples: []example{
		{"firmware-id", "the firmware id"},
	},
	flags: noArgsCommand(func(ctx context.Context, s *modemSession) (result, error) {
		var fw mbim.FirmwareIdGetInfo
		if err := s.dev.Query(ctx, mbim.ServiceMsFirmwareId, mbim.CIDFirmwareIdGet, nil, &fw); err != nil {
			return nil, err
		}
		return &firmwareIDResult{FirmwareID: fw.FirmwareId.String()}, nil
	}),
}

// firmwareIDResult is the JSON of "mbimctl firmware-id".
type firmwareIDResult struct {
	FirmwareID string `json:"firmware_id"`
}

func (r *firmwareIDResult) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "Firmware ID  %s\n", r.FirmwareID)
	return err
}

var resetCommand = &command{
	name:    "reset",
	summary: "reset the modem (MS Basic Connect Extensions DEVICE_RESET)",
	usage:   "reset [-d DEVICE] [--json]",
	desc: `
Ask the modem to reset itself (MS Basic Connect Extensions DEVICE_RESET).
It answers, then restarts: its data sessions end, it leaves the USB bus and
comes back a few seconds later (often as a new /dev/cdc-wdmN), with the SIM
locked again if PIN1 is enabled. Modems without the command refuse with
NO_DEVICE_SUPPORT (exit 5).`,
	examples: []example{
		{"reset -d /dev/cdc-wdm0", "restart a wedged modem"},
	},
	// The modem resets after its answer: do not wait for a CLOSE_DONE
	// that will not come.
	flags: noArgsCommand(func(ctx context.Context, s *modemSession) (result, error) {
		if err := s.dev.Set(ctx, mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceReset, nil, nil); err != nil {
			return nil, err
		}
		return &resetResult{Reset: true}, nil
	}, mbim.WithNoClose()),
}

// resetResult is the JSON of "mbimctl reset".
type resetResult struct {
	Reset bool `json:"reset"`
}

func (r *resetResult) writeText(w io.Writer) error {
	_, err := io.WriteString(w, "The modem is resetting; it comes back in a few seconds.\n")
	return err
}
