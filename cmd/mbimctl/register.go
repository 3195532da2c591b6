package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/gowwan/wwan/mbim"
)

func init() {
	register(registerCommand)
	completionWords["register"] = []string{"auto", "manual"}
}

var registerCommand = &command{
	name:    "register",
	summary: "show the network registration, or register automatically or on a chosen network",
	usage:   "register [auto | manual PLMN] [-d DEVICE] [--json]",
	desc: `
Without an argument, show the registration (Basic Connect REGISTER_STATE):
the state (HOME, ROAMING, SEARCHING, DENIED...), the mode, the network the
modem is on, the data classes it offers, and the network's reject cause.

  auto          let the modem choose the network (automatic registration)
  manual PLMN   register on one network only: PLMN is its MCC and MNC, 5 or
                6 digits (e.g. 26201); 'mbimctl providers visible' lists
                the networks in range

Registering waits for the network, up to --timeout (120 s by default).`,
	examples: []example{
		{"register", "where the modem is registered"},
		{"register manual 00102", "register on network 001 02 only"},
		{"register auto", "back to automatic network selection"},
		{"register --json | jq -r .state", "only the registration state"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		return func(e *env, args []string) (*plan, error) {
			var req *mbim.RegisterStateSet
			switch {
			case len(args) == 0:
			case args[0] == "auto":
				if len(args) > 1 {
					return nil, fmt.Errorf("register auto takes no argument, got %q", args[1])
				}
				req = &mbim.RegisterStateSet{RegisterAction: mbim.RegisterActionAutomatic}
			case args[0] == "manual":
				if len(args) != 2 {
					return nil, fmt.Errorf("register manual wants one PLMN (MCC and MNC, e.g. 26201)")
				}
				if err := checkPLMN(args[1]); err != nil {
					return nil, err
				}
				req = &mbim.RegisterStateSet{RegisterAction: mbim.RegisterActionManual, ProviderId: mbim.NewString(args[1])}
			default:
				return nil, fmt.Errorf("unknown registration %q: want auto or manual PLMN", args[0])
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				var reg mbim.Registration
				var err error
				if req == nil {
					reg, err = s.dev.RegisterState(ctx)
				} else {
					ctx, cancel := s.longCtx(ctx)
					defer cancel()
					var b mbim.Body
					if b, err = s.dev.SetBody(ctx, mbim.ServiceBasicConnect, mbim.CIDRegisterState, req); err == nil {
						reg, err = mbim.RegistrationFrom(b)
					}
				}
				if err != nil {
					return nil, err
				}
				return newRegisterResult(reg), nil
			}}, nil
		}
	}),
}

// checkPLMN checks a PLMN: a 3-digit MCC and a 2- or 3-digit MNC.
func checkPLMN(s string) error {
	if len(s) != 5 && len(s) != 6 {
		return fmt.Errorf("PLMN %q: want 5 or 6 digits (MCC and MNC, e.g. 26201)", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return fmt.Errorf("PLMN %q: want digits only (MCC and MNC, e.g. 26201)", s)
		}
	}
	return nil
}

// registerResult is the JSON of "mbimctl register".
type registerResult struct {
	State                string   `json:"state"`
	Mode                 string   `json:"mode"`
	ProviderID           string   `json:"provider_id"`
	ProviderName         string   `json:"provider_name"`
	RoamingText          string   `json:"roaming_text"`
	AvailableDataClasses []string `json:"available_data_classes"`
	CellularClass        []string `json:"cellular_class"`
	PreferredDataClasses []string `json:"preferred_data_classes"`
	Flags                []string `json:"flags"`
	NwError              string   `json:"nw_error"`
}

func newRegisterResult(r mbim.Registration) *registerResult {
	return &registerResult{
		State:                r.State.String(),
		Mode:                 r.Mode.String(),
		ProviderID:           r.ProviderID,
		ProviderName:         r.ProviderName,
		RoamingText:          r.RoamingText,
		AvailableDataClasses: flagList(r.AvailableDataClasses),
		CellularClass:        flagList(r.CurrentCellularClass),
		PreferredDataClasses: flagList(r.PreferredDataClasses),
		Flags:                flagList(r.Flags),
		NwError:              r.NwError.String(),
	}
}

func (r *registerResult) writeText(w io.Writer) error {
	t := &table{}
	r.rows(t)
	return t.write(w)
}

func (r *registerResult) rows(t *table) {
	t.row("State", r.State)
	t.row("Mode", r.Mode)
	t.row("Network", orDash(r.ProviderID))
	t.row("Network name", orDash(r.ProviderName))
	if r.RoamingText != "" {
		t.row("Roaming text", r.RoamingText)
	}
	t.row("Data classes", joinOr(r.AvailableDataClasses, "none"))
	t.row("Cellular class", joinOr(r.CellularClass, "none"))
	if len(r.PreferredDataClasses) > 0 {
		t.row("Preferred data classes", joinOr(r.PreferredDataClasses, "none"))
	}
	if len(r.Flags) > 0 {
		t.row("Flags", joinOr(r.Flags, "none"))
	}
	if r.NwError != mbim.NwErrorNone.String() {
		t.row("Network error", r.NwError)
	}
}
