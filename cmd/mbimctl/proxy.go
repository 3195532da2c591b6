package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"syscall"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
	"github.com/gowwan/wwan/proxy"
	"github.com/gowwan/wwan/usbtransport"
)

func init() { register(proxyCommand) }

var proxyCommand = &command{
	name:    "proxy",
	summary: "run an mbim-proxy: share modems with mbimcli -p, qmicli -p and ModemManager",
	usage:   "proxy [-d DEVICE] [--socket NAME] [--mbimex 1|2|3] [--duration D] [-v]",
	desc: `
Serve libmbim's proxy protocol on the abstract unix socket @mbim-proxy (in
this network namespace) until interrupted, in place of libmbim's
mbim-proxy: "mbimcli -p", "qmicli -p --device-open-mbim", "mbimctl --proxy"
and ModemManager then share the modem through this process. Each device is
opened once, by the path the first client names (symbolic links resolved),
and stays open while the proxy runs; OPEN and CLOSE of the clients are
answered by the proxy, their transaction ids mapped, their subscribe lists
merged and the indications sent to the clients that asked for them. Only
root may connect, as with libmbim's proxy.

-d serves one modem to every client, whatever path it names: "-d sim" the
built-in simulated modem (a demo: "mbimctl proxy -d sim", then "mbimcli -p
-d /dev/null --query-device-caps"), "-d usb:VID:PID" a modem reached through
libusb, "-d /dev/cdc-wdmN" that node.`,
	examples: []example{
		{"proxy", "share the modems clients name (stop ModemManager's mbim-proxy first)"},
		{"proxy -d sim", "serve the simulated modem to mbimcli -p -d /dev/null"},
	},
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		o := &proxyOptions{mbimex: versionFlag(mbim.MBIMEx3)}
		fs.StringVar(&o.device, "d", "", "serve this `DEVICE` to every client (sim, usb:VID:PID or /dev/cdc-wdmN); default: the path each client names")
		fs.StringVar(&o.socket, "socket", proxy.SocketName, "the abstract unix socket `NAME` to listen on")
		fs.Var(&o.mbimex, "mbimex", "negotiate MBIMEx `version` 1, 2 or 3 at most with each modem")
		fs.Var(&o.duration, "duration", "stop after this `duration` (default: until interrupted)")
		fs.BoolVar(&o.verbose, "v", false, "log clients and devices on stderr")
		return o.run
	},
}

type proxyOptions struct {
	device   string
	socket   string
	mbimex   versionFlag
	duration durationFlag
	verbose  bool
}

func (o *proxyOptions) run(e *env, args []string) error {
	if err := noArgs(args); err != nil {
		return usageError{err}
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	var sim *mbimtest.Sim
	switch {
	case o.device == "sim":
		s, shared := simFactory()
		sim = s
		if !shared {
			defer sim.Close()
		}
	case o.device == "":
	case strings.HasPrefix(o.device, "usb:"):
		if _, err := usbtransport.ParseSelector(o.device); err != nil {
			return usageError{fmt.Errorf("-d %s: %s", o.device, strings.TrimPrefix(err.Error(), "usbtransport: "))}
		}
	case !strings.ContainsRune(o.device, '/'):
		o.device = "/dev/" + o.device
	}
	opts := []mbim.Option{mbim.WithMaxVersion(mbim.Version(o.mbimex)), mbim.WithLogger(logger)}
	open := func(ctx context.Context, path string) (*mbim.Device, error) {
		var t mbim.Transport
		switch {
		case sim != nil:
			t = sim.ServePipe()
		case strings.HasPrefix(o.device, "usb:"):
			u, err := usbtransport.OpenUSB(ctx, o.device)
			if err != nil {
				return nil, err
			}
			t = u
		default:
			if o.device != "" {
				path = o.device
			}
			w, err := usbtransport.OpenWDM(path)
			if err != nil {
				return nil, err
			}
			t = w
		}
		dev, err := mbim.Open(ctx, t, opts...)
		if err != nil {
			logger.Warn("cannot open the modem", slog.String("path", path), slog.Any("err", err))
			_ = t.Close()
		}
		return dev, err
	}
	srv := proxy.NewServer(proxy.ServerConfig{OpenDevice: open, Logger: logger})
	ln, err := proxy.ListenAbstract(o.socket)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &codedError{exitOther, fmt.Errorf("%s is taken: another mbim-proxy runs in this network namespace (ModemManager's?)", o.socket)}
		}
		return fmt.Errorf("listening on %s: %w", o.socket, err)
	}
	ctx, stop := notifyContext(context.Background())
	defer stop()
	if o.duration.set {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration.d)
		defer cancel()
	}
	what := "the modems clients name"
	switch {
	case sim != nil:
		what = "the simulated modem"
	case o.device != "":
		what = o.device
	}
	fmt.Fprintf(e.stderr, "mbimctl: mbim-proxy on %s serving %s (Ctrl-C to stop)\n", o.socket, what)
	return srv.Serve(ctx, ln)
}
