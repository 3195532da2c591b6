package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

func init() { register(simCommand) }

var simCommand = &command{
	name:    "sim",
	summary: "run the simulated modem on a pseudo-terminal, for any MBIM tool to use",
	usage:   "sim [--link PATH] [--mbimex 1|2|3] [--pin] [--no-sim-card] [--tour INTERVAL] [--duration D] [--json]",
	desc: `
Run the simulated MBIM modem (package mbimtest) on a pseudo-terminal in raw
mode, print the path of its node on the first line of standard output, and
serve until interrupted (Ctrl-C) or --duration has passed. Any MBIM tool
can open the path as it would open /dev/cdc-wdmN: mbimctl -d PATH, mbimcli
-d PATH, mbim-proxy. Its state (SIM, registration, data sessions) lasts as
long as it runs, unlike "-d sim", which starts a fresh simulated modem for
each command.

The modem: a multi-mode LTE/5G modem with a test SIM (IMSI 001010123456789,
PIN1 1234, PUK1 12345678), registered at home on network 00101, attached,
accepting APNs "internet" (IPv4 and IPv6) and "ims" (IPv6). --pin starts it
with PIN1 enabled, so the SIM waits for 'mbimctl pin enter 1234'.
--tour walks the packet service through GPRS, EDGE, UMTS, HSDPA, LTE,
5G NSA and 5G SA, one step per interval, over and over: 'mbimctl watch'
then shows the indications of every handoff.`,
	examples: []example{
		{"sim", "run a simulated modem and print its path"},
		{"sim --link /tmp/mbim0", "also keep a stable symbolic link to it"},
		{"sim --tour 5s", "a modem that changes radio technology every 5 seconds"},
		{"sim --pin --mbimex 1", "a locked SIM, on an MBIMEx 1.0 modem"},
	},
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		o := &simOptions{mbimex: versionFlag(mbim.MBIMEx3)}
		fs.StringVar(&o.link, "link", "", "keep a symbolic link at `PATH` to the pty (a stable name across simulated resets)")
		fs.Var(&o.mbimex, "mbimex", "the highest MBIMEx `version` the modem supports: 1, 2 or 3")
		fs.BoolVar(&o.pin, "pin", false, "enable PIN1 (1234): the SIM starts locked")
		fs.BoolVar(&o.noCard, "no-sim-card", false, "no SIM card in the modem")
		fs.Var(&o.tour, "tour", "move the packet service to the next radio technology every `INTERVAL`")
		fs.Var(&o.duration, "duration", "stop after this `duration` (default: until interrupted)")
		fs.BoolVar(&o.json, "json", false, `print {"path": ..., "mbimex_version": ...} instead of the path alone`)
		return o.run
	},
}

type simOptions struct {
	link     string
	mbimex   versionFlag
	pin      bool
	noCard   bool
	tour     durationFlag
	duration durationFlag
	json     bool
}

// simResult is the JSON of "mbimctl sim".
type simResult struct {
	Path   string `json:"path"`
	MBIMEx string `json:"mbimex_version"`
}

func (r *simResult) writeText(w io.Writer) error {
	_, err := fmt.Fprintln(w, r.Path)
	return err
}

func (o *simOptions) run(e *env, args []string) error {
	if err := noArgs(args); err != nil {
		return usageError{err}
	}
	card := mbimtest.DefaultSIM()
	card.PINEnabled = o.pin
	card.Absent = o.noCard
	opts := []mbimtest.Option{mbimtest.WithMBIMEx(mbim.Version(o.mbimex)), mbimtest.WithSIM(card)}
	if o.link != "" {
		opts = append(opts, mbimtest.WithPTYLink(o.link))
	}
	sim := mbimtest.New(opts...)
	defer sim.Close()
	path, err := sim.ServePTY()
	if errors.Is(err, errors.ErrUnsupported) {
		return errors.New("the simulated modem needs a pseudo-terminal, which this program supports only on Linux; use -d sim")
	}
	if err != nil {
		return fmt.Errorf("starting the simulated modem: %w", err)
	}
	ctx, stop := notifyContext(context.Background())
	defer stop()
	if o.duration.set {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration.d)
		defer cancel()
	}
	if err := printResult(e.stdout, o.json, &simResult{Path: path, MBIMEx: mbim.Version(o.mbimex).String()}); err != nil {
		return err
	}
	if !o.json {
		fmt.Fprintf(e.stderr, "mbimctl: simulated modem on %s: use mbimctl -d %s (Ctrl-C to stop)\n", path, path)
	}
	done := make(chan struct{})
	if o.tour.set {
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				err := sim.TourTechnologies(ctx, mbimtest.Tour3GPP, mbimtest.TourOptions{Interval: o.tour.d})
				if err != nil {
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(o.tour.d):
				}
			}
		}()
	} else {
		close(done)
	}
	<-ctx.Done()
	<-done
	return nil
}
