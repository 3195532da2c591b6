package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/gowwan/wwan/mbim"
)

func init() {
	register(providersCommand)
	completionWords["providers"] = []string{"home", "visible", "preferred"}
}

var providersCommand = &command{
	name:    "providers",
	summary: "list the home, visible (scan) or preferred networks",
	usage:   "providers [home|visible|preferred] [-d DEVICE] [--json]",
	desc: `
List mobile networks (providers), each with its PLMN (MCC and MNC), name,
state and signal:

  home       the SIM's home network (Basic Connect HOME_PROVIDER); the
             default
  visible    scan for the networks in range (VISIBLE_PROVIDERS, a full
             scan: it can take a minute or two, and up to --timeout)
  preferred  the SIM's list of preferred networks (PREFERRED_PROVIDERS)

The states are the modem's flags: HOME, FORBIDDEN, PREFERRED, VISIBLE,
REGISTERED (the network the modem is on), PREFERRED_MULTICARRIER.`,
	examples: []example{
		{"providers", "the home network"},
		{"providers visible --timeout 3m", "scan for networks, waiting up to three minutes"},
		{"providers visible --json | jq -r '.providers[].id'", "the PLMNs in range"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		return func(e *env, args []string) (*plan, error) {
			kind := "home"
			if len(args) > 0 {
				kind = args[0]
			}
			if len(args) > 1 {
				return nil, fmt.Errorf("unexpected argument %q", args[1])
			}
			switch kind {
			case "home", "visible", "preferred":
			default:
				return nil, fmt.Errorf("unknown provider list %q: want home, visible or preferred", kind)
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				r := &providersResult{Kind: kind, Providers: []providerJSON{}}
				var ps []mbim.Provider
				switch kind {
				case "home":
					p, err := s.dev.HomeProvider(ctx)
					if err != nil {
						return nil, err
					}
					ps = []mbim.Provider{p}
				case "visible":
					ctx, cancel := s.longCtx(ctx)
					defer cancel()
					var info mbim.VisibleProvidersInfo
					q := &mbim.VisibleProvidersQuery{Action: mbim.VisibleProvidersActionFullScan}
					if err := s.dev.Query(ctx, mbim.ServiceBasicConnect, mbim.CIDVisibleProviders, q, &info); err != nil {
						return nil, err
					}
					ps = info.Providers
				case "preferred":
					var info mbim.PreferredProvidersInfo
					if err := s.dev.Query(ctx, mbim.ServiceBasicConnect, mbim.CIDPreferredProviders, nil, &info); err != nil {
						return nil, err
					}
					ps = info.Providers
				}
				for _, p := range ps {
					r.Providers = append(r.Providers, newProviderJSON(p))
				}
				return r, nil
			}}, nil
		}
	}),
}

// providersResult is the JSON of "mbimctl providers".
type providersResult struct {
	Kind      string         `json:"kind"`
	Providers []providerJSON `json:"providers"`
}

type providerJSON struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	State         []string `json:"state"`
	CellularClass []string `json:"cellular_class"`
	RssiDBm       *int     `json:"rssi_dbm"`
	ErrorRate     *uint32  `json:"error_rate"`
}

func newProviderJSON(p mbim.Provider) providerJSON {
	return providerJSON{
		ID:            p.ProviderId.String(),
		Name:          p.ProviderName.String(),
		State:         flagList(p.ProviderState),
		CellularClass: flagList(p.CellularClass),
		RssiDBm:       rssiDBm(p.Rssi),
		ErrorRate:     errorRate(p.ErrorRate),
	}
}

func (r *providersResult) writeText(w io.Writer) error {
	if len(r.Providers) == 0 {
		_, err := fmt.Fprintf(w, "no %s providers\n", r.Kind)
		return err
	}
	t := &table{}
	t.row("PLMN", "NAME", "STATE", "CLASS", "SIGNAL", "ERROR RATE")
	for _, p := range r.Providers {
		er := "unknown"
		if p.ErrorRate != nil {
			er = strconv.FormatUint(uint64(*p.ErrorRate), 10)
		}
		t.row(orDash(p.ID), orDash(p.Name), joinOr(p.State, "-"), joinOr(p.CellularClass, "-"), dBmText(p.RssiDBm), er)
	}
	return t.write(w)
}
