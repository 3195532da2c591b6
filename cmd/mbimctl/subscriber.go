package main

import (
	"context"
	"flag"
	"io"

	"github.com/gowwan/wwan/mbim"
)

func init() { register(subscriberCommand) }

var subscriberCommand = &command{
	name:    "subscriber",
	summary: "show the SIM: ready state, IMSI, ICCID, phone numbers",
	usage:   "subscriber [-d DEVICE] [--json]",
	desc: `
Show the subscriber ready status (Basic Connect SUBSCRIBER_READY_STATUS):
whether the SIM is ready (INITIALIZED), missing, locked or failed, and the
subscriber id (IMSI), the SIM's ICCID and the phone numbers it holds.

This command prints the IMSI, ICCID and phone numbers because that is what
it is asked for; -v traces and watch mask them unless --show-personal.`,
	examples: []example{
		{"subscriber -d /dev/cdc-wdm0", "is the SIM ready, and what is its IMSI"},
		{"subscriber --json | jq -r .ready_state", "only the ready state, for a script"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		return func(e *env, args []string) (*plan, error) {
			if err := noArgs(args); err != nil {
				return nil, err
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				st, err := s.dev.SubscriberReadyStatus(ctx)
				if err != nil {
					return nil, err
				}
				return newSubscriberResult(st, true), nil
			}}, nil
		}
	}),
}

// subscriberResult is the JSON of "mbimctl subscriber".
type subscriberResult struct {
	ReadyState       string   `json:"ready_state"`
	SubscriberID     string   `json:"subscriber_id"`
	SimICCID         string   `json:"sim_iccid"`
	TelephoneNumbers []string `json:"telephone_numbers"`
	ReadyInfo        []string `json:"ready_info"`
	Flags            []string `json:"flags"`
}

// newSubscriberResult converts a status; without show the personal fields
// are masked (watch).
func newSubscriberResult(st mbim.SubscriberStatus, show bool) *subscriberResult {
	r := &subscriberResult{
		ReadyState:       st.ReadyState.String(),
		SubscriberID:     maskString(st.SubscriberID, show),
		SimICCID:         maskString(st.SimICCID, show),
		TelephoneNumbers: []string{},
		ReadyInfo:        flagList(st.ReadyInfo),
		Flags:            flagList(st.Flags),
	}
	for _, n := range st.TelephoneNumbers {
		r.TelephoneNumbers = append(r.TelephoneNumbers, maskString(n, show))
	}
	return r
}

func (r *subscriberResult) writeText(w io.Writer) error {
	t := &table{}
	r.rows(t)
	return t.write(w)
}

func (r *subscriberResult) rows(t *table) {
	t.row("Ready state", r.ReadyState)
	t.row("Subscriber ID (IMSI)", orDash(r.SubscriberID))
	t.row("SIM ICCID", orDash(r.SimICCID))
	t.row("Phone numbers", joinOr(r.TelephoneNumbers, "-"))
	if len(r.ReadyInfo) > 0 {
		t.row("Ready info", joinOr(r.ReadyInfo, "none"))
	}
	if len(r.Flags) > 0 {
		t.row("SIM flags", joinOr(r.Flags, "none"))
	}
}
