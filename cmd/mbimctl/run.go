package main

// "mbimctl run": the WAN daemon, a thin command around handoff.Manager.
// The flags and their checks are here; the simulated modem of "-d sim" and
// the dry run are in run_sim.go, the output in run_output.go.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
	"github.com/gowwan/wwan/proxy"
	"github.com/gowwan/wwan/usbtransport"
)

func init() {
	register(daemonCommand)
	flagValueWords["dns"] = []string{"none", "file:", "hook:"}
	fileFlags["config"] = true
	fileFlags["pin-file"] = true
	fileFlags["hook"] = true
}

// Defaults of run.
const (
	defaultInterface   = "wwan0"
	defaultRouteMetric = 700  // NetworkManager's for WWAN: above wired and Wi-Fi
	simRouteTable      = 4242 // -d sim: a table of its own, so the machine's default route stays
	defaultSimStep     = 3 * time.Second
	minSimStep         = 100 * time.Millisecond
	maxSimStep         = time.Hour
)

var daemonCommand = &command{
	name:    "run",
	summary: "run the WAN daemon: connect, and keep the host's IP configuration equal to the modem's through every handoff",
	usage: "run [-d DEVICE] [--config FILE] [--apn APN] [--auth none|pap|chap|mschapv2 --user USER] [--ip-type ipv4|ipv6|ipv4v6] " +
		"[--interface IFACE] [--route-metric N] [--route-table N] [--dns none|file:PATH|hook:PATH] [--hook PATH] [--dhcp] " +
		"[--pin-file FILE] [--metrics-listen ADDR] [--disconnect-on-exit] [--dry-run] [--duration D] [--json] [-v]",
	desc: `
Run the data session of one modem and keep the host in step with it, until
interrupted (SIGINT, SIGTERM) or --duration has passed. The daemon opens
the modem (negotiating MBIMEx up to --mbimex), subscribes to the
indications it needs, switches the radio on, enters the PIN if the SIM asks
for it (from --pin-file or $` + pinEnv + `; a refused PIN is never tried
twice), waits for registration, attaches, connects with the APN,
credentials and IP type, and applies the session's IP configuration to the
interface: addresses, default routes (--route-metric, --route-table), MTU
and DNS (--dns). Then it follows the modem: a handoff between radio
technologies that keeps the address touches nothing on the host; one that
changes it is applied in the order of the Windows Mobile Broadband contract
(delete the old address, add the new, routes, MTU, DNS, then link down and
up); a dropped session is connected again with backoff; a modem that resets
or is unplugged is reopened, forever, with backoff. --dhcp leaves the
addresses to a DHCP client and only signals the link.

Every event goes to standard output, one line each: packet-service,
session, config, link, and handoff (from, to, outcome, duration, steps).
With --json each line is one JSON object; a handoff is exactly the object
of the handoff contract (README). --hook PATH runs an executable for each
event with the event in its environment (WWAN_EVENT, WWAN_OUTCOME,
WWAN_IPV4, ...). The daemon's own life (open, PIN, registration, losses) is
logged to standard error; -v also traces every MBIM message.

On exit the session stays up and the interface configured, so a restarted
daemon finds everything right and changes nothing (no link flap);
--disconnect-on-exit disconnects and removes the addresses and routes.

The password comes from --password-file, else $` + passwordEnv + `; never from a flag.
--interface defaults to the modem's own network interface as sysfs shows
it (wwan0 when sysfs does not say). Configuring it needs root
(CAP_NET_ADMIN); --dry-run applies nothing and prints what it would do.

-d sim runs the built-in simulated modem in this process, on a TUN
interface it creates (named like a modem's: wwan0, or the next free wwanN),
with its default routes in table 4242 (so the machine's own default route
is never touched; --route-table changes it). The simulator tours the radio
technologies, one step every --sim-step, with and without address changes
(indicated, found only by a query, by reconnecting), so handoffs happen
before your eyes; --sim-tour=off keeps it still. Creating the TUN needs
root: as another user, -d sim is a dry run on a recording fake host that
prints every change it would make.

--config FILE reads settings from a file of "key = value" lines, whose keys
are the long names of these flags (device, apn, user, password-file, auth,
ip-type, interface, route-metric, dns, pin-file, disconnect-on-exit, ...);
'#' starts a comment line, and yes/no set the switches. Flags on the
command line win over the file. The password and the PIN go in files of
their own (password-file, pin-file), never in the configuration file.

Bad values are refused before anything is sent, with exit code 2: an APN
longer than 100 characters, a PIN that is not 4 to 8 digits, an unknown IP
type or authentication protocol, a key of the configuration file that is
not a flag. A SIM that needs a code the daemon must not enter (no PIN
given, PIN refused, PUK) stops it with exit code 5.`,
	examples: []example{
		{"run -d sim --duration 20s", "watch handoffs on the simulated modem for 20 s (as root on a TUN, else a dry run)"},
		{"run -d /dev/cdc-wdm0 --apn internet --pin-file /etc/wwan/pin", "the WAN daemon of a router"},
		{"run --config /etc/wwan/wwan0.conf --json", "settings from a file, events as JSON lines"},
		{"run -d /dev/cdc-wdm0 --apn corp.example --auth chap --user alice --password-file /etc/wwan/password", "an APN with credentials"},
		{"run -d /dev/cdc-wdm0 --apn internet --dns file:/run/wwan/resolv.conf --hook /etc/wwan/dispatch", "write DNS to a file and run a script per event"},
		{"run -d /dev/cdc-wdm0 --proxy --apn internet", "share the modem with ModemManager and mbimcli through mbim-proxy"},
		{"run -d /dev/cdc-wdm0 --apn internet --dry-run", "connect, and print what would be applied to the host"},
	},
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		o := newRunOptions(fs)
		return o.run
	},
}

// runOptions are run's flags.
type runOptions struct {
	fs               *flag.FlagSet
	g                *modemFlags
	config           string
	conn             connectOptions
	iface            string
	routeMetric      uintFlag
	routeTable       uintFlag
	dns              string
	hook             string
	dhcp             bool
	pinFile          string
	metricsListen    string
	disconnectOnExit bool
	dryRun           bool
	waitDevice       bool
	poll             durationFlag
	duration         durationFlag
	simTour          onOffFlag
	simStep          durationFlag
}

func newRunOptions(fs *flag.FlagSet) *runOptions {
	o := &runOptions{fs: fs, conn: connectOptions{auth: "none", ipType: "ipv4v6"}, dns: "none",
		routeMetric: uintFlag{v: defaultRouteMetric, max: math.MaxInt32}, routeTable: uintFlag{max: math.MaxInt32},
		simTour: true}
	o.g = addModemFlags(fs)
	fs.StringVar(&o.g.device, "device", "", "the modem `DEVICE` (same as -d)")
	fs.BoolVar(&o.g.verbose, "verbose", false, "same as -v")
	fs.StringVar(&o.config, "config", "", "read settings from `FILE` (key = value lines; flags on the command line win)")
	fs.StringVar(&o.conn.apn, "apn", "", "the access point name, `APN` (default: empty, the network's default APN)")
	fs.StringVar(&o.conn.auth, "auth", o.conn.auth, "the `protocol` of the credentials: none, pap, chap or mschapv2")
	fs.StringVar(&o.conn.user, "user", "", "the `USER` name of the credentials")
	fs.StringVar(&o.conn.passwordFile, "password-file", "", "read the password from the first line of `FILE`; default $"+passwordEnv)
	fs.StringVar(&o.conn.ipType, "ip-type", o.conn.ipType, "the IP `family` to ask for: ipv4, ipv6 or ipv4v6")
	fs.Var(&o.conn.session, "session", "the data session `id`, 0 to 255")
	fs.StringVar(&o.iface, "interface", "", "the host's network `interface` of the modem (default: the modem's own from sysfs, else "+defaultInterface+")")
	fs.Var(&o.routeMetric, "route-metric", "the `metric` of the default routes")
	fs.Var(&o.routeTable, "route-table", "the routing `table` of the default routes (default: main; 4242 with -d sim)")
	fs.StringVar(&o.dns, "dns", o.dns, "`TARGET` of the modem's DNS servers: none, file:PATH (a resolv.conf-style file) or hook:PATH (an executable run with $WWAN_DNS)")
	fs.StringVar(&o.hook, "hook", "", "run the executable `PATH` for each event, with the event in its environment")
	fs.BoolVar(&o.dhcp, "dhcp", false, "a DHCP client owns the addresses: only signal the link down and up when they change")
	fs.StringVar(&o.pinFile, "pin-file", "", "read the SIM's PIN1 from the first line of `FILE`, entered only if the SIM asks; default $"+pinEnv)
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics on `ADDR` (host:port; default: off)")
	fs.BoolVar(&o.disconnectOnExit, "disconnect-on-exit", false, "at exit, disconnect the session and remove its addresses and routes (default: leave them)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "apply nothing to the host: print what would be applied")
	fs.BoolVar(&o.waitDevice, "wait-device", false, "wait for the modem when it cannot be opened at start (default: exit)")
	fs.Var(&o.poll, "poll-interval", "how often to ask the modem for the session's state, to find a modem that reset or dropped it silently, an `interval` (default 30s)")
	fs.Var(&o.duration, "duration", "stop after this `duration` (default: until interrupted)")
	fs.Var(&o.simTour, "sim-tour", "with -d sim: tour the radio technologies (on or off)")
	fs.Var(&o.simStep, "sim-step", "with -d sim: the `interval` between two steps of the tour (default 3s)")
	return o
}

// uintFlag is a bounded non-negative integer that remembers whether it was
// set.
type uintFlag struct {
	v   uint64
	max uint64
	set bool
}

func (f *uintFlag) String() string {
	if f == nil || (!f.set && f.v == 0) {
		return "" // no default to show: the usage says it
	}
	return strconv.FormatUint(f.v, 10)
}

func (f *uintFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > f.max {
		return fmt.Errorf("want a whole number from 0 to %d", f.max)
	}
	f.v, f.set = n, true
	return nil
}

// onOffFlag is a switch that also reads on and off.
type onOffFlag bool

func (f *onOffFlag) String() string {
	if f != nil && bool(*f) {
		return "on"
	}
	return "off"
}

func (f *onOffFlag) Set(s string) error {
	b, err := parseConfigBool(s)
	if err != nil {
		return errors.New("want on or off")
	}
	*f = onOffFlag(b)
	return nil
}

func (f *onOffFlag) IsBoolFlag() bool { return true }

// runPlan is run's flags, checked.
type runPlan struct {
	target      target
	settings    handoff.ConnectSettings
	iface       string // "" when to be found
	ifaceSet    bool
	metric      int
	table       int
	tableSet    bool
	dns         handoff.DNSTarget
	hook        string
	maxVersion  mbim.Version
	poll        time.Duration
	simStep     time.Duration
	metricsAddr string
}

// check validates every flag and reads the password and PIN files. Nothing
// is opened or sent; a bad value is a usage error.
func (o *runOptions) check(e *env) (*runPlan, error) {
	p := &runPlan{maxVersion: mbim.Version(o.g.mbimex), metric: int(o.routeMetric.v),
		table: int(o.routeTable.v), tableSet: o.routeTable.set, metricsAddr: o.metricsListen}
	tg, err := o.g.target()
	if err != nil {
		return nil, err
	}
	p.target = tg
	req, err := o.conn.request(e)
	if err != nil {
		return nil, err
	}
	p.settings = handoff.ConnectSettings{Session: req.SessionID, APN: req.AccessString, User: req.UserName,
		Password: req.Password, Auth: req.AuthProtocol, IPType: req.IPType}
	if p.settings.PIN, err = o.pin(); err != nil {
		return nil, err
	}
	if err := p.settings.Validate(); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "handoff: "))
	}
	if o.iface != "" {
		if err := checkInterfaceName(o.iface); err != nil {
			return nil, err
		}
		p.iface, p.ifaceSet = o.iface, true
	}
	if p.table == 255 {
		return nil, errors.New("--route-table 255 is the kernel's local table: choose another")
	}
	if p.dns, err = parseDNS(o.dns); err != nil {
		return nil, err
	}
	if o.hook != "" {
		if err := checkExecutable(o.hook); err != nil {
			return nil, fmt.Errorf("--hook: %v", err)
		}
		p.hook = o.hook
	}
	if o.metricsListen != "" {
		if _, _, err := net.SplitHostPort(o.metricsListen); err != nil {
			return nil, fmt.Errorf("--metrics-listen %q: want host:port, such as :9426 or 127.0.0.1:9426", o.metricsListen)
		}
		if metricsStarter == nil {
			return nil, &codedError{exitOther, errors.New("--metrics-listen: this mbimctl has no metrics endpoint yet (cmd/mbimctl/metrics.go is not built in)")}
		}
	}
	p.poll = o.poll.or(30 * time.Second)
	p.simStep = o.simStep.or(defaultSimStep)
	if p.simStep < minSimStep || p.simStep > maxSimStep {
		return nil, fmt.Errorf("--sim-step %v: want %v to %v", p.simStep, minSimStep, maxSimStep)
	}
	if tg.kind != "sim" && (o.simStep.set || !bool(o.simTour)) {
		return nil, errors.New("--sim-tour and --sim-step are for -d sim")
	}
	return p, nil
}

// given reports whether a flag was set, on the command line or in the
// configuration file.
func (o *runOptions) given(name string) bool {
	set := false
	o.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// pin reads --pin-file, else $WWAN_PIN; "" when neither is given. Errors
// never show the PIN.
func (o *runOptions) pin() (string, error) {
	if o.pinFile == "" {
		v := os.Getenv(pinEnv)
		if v == "" {
			return "", nil
		}
		if err := checkPIN(v, false); err != nil {
			return "", fmt.Errorf("$%s: %v", pinEnv, err)
		}
		return v, nil
	}
	b, err := os.ReadFile(o.pinFile)
	if err != nil {
		return "", fmt.Errorf("--pin-file: %v", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pin := strings.TrimSpace(string(line))
	if err := checkPIN(pin, false); err != nil {
		return "", fmt.Errorf("--pin-file %s: %v", o.pinFile, err)
	}
	return pin, nil
}

// checkInterfaceName checks a Linux interface name: 1 to 15 bytes, no
// '/', ':' or blank, not "." or "..".
func checkInterfaceName(s string) error {
	if len(s) == 0 || len(s) > 15 || s == "." || s == ".." {
		return fmt.Errorf("--interface %q: want a name of 1 to 15 characters", s)
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '/' || c == ':' || c == '%' {
			return fmt.Errorf("--interface %q: the character %q is not allowed in an interface name", s, c)
		}
	}
	return nil
}

// parseDNS reads --dns: none, file:PATH or hook:PATH.
func parseDNS(s string) (handoff.DNSTarget, error) {
	kind, path, _ := strings.Cut(s, ":")
	switch {
	case s == "none":
		return handoff.DNSTarget{}, nil
	case kind == "file" && path != "":
		return handoff.DNSTarget{File: path}, nil
	case kind == "hook" && path != "":
		if err := checkExecutable(path); err != nil {
			return handoff.DNSTarget{}, fmt.Errorf("--dns %s: %v", s, err)
		}
		return handoff.DNSTarget{Hook: []string{path}}, nil
	}
	return handoff.DNSTarget{}, fmt.Errorf("--dns %q: want none, file:PATH or hook:PATH", s)
}

// checkExecutable checks that path is an executable file.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// The metrics endpoint.
//
// metricsStarter serves the Prometheus metrics of a running daemon on
// addr, until stop is called. cmd/mbimctl/metrics.go (the metrics
// engineer's) sets it from an init function; while that file is not built
// in it is nil and --metrics-listen is refused.
var metricsStarter func(addr string, src snapshotSource) (stop func(), err error)

// snapshotSource is what the metrics endpoint gets of the daemon: the
// Manager's state on demand, the open device (to query on scrape), and
// hooks for what happens between scrapes. The hooks may be added at any
// time; each is called on the daemon's goroutines and must not block.
type snapshotSource interface {
	// Snapshot is the Manager's state: the engine's snapshot, the device's
	// counters and identity, registration, packet service, signal, the
	// session's start time, the Manager's counters.
	Snapshot() handoff.ManagerSnapshot
	// Device is the open device, nil between a loss and the reopen.
	Device() *mbim.Device
	// Session is the MBIM session id the daemon runs.
	Session() uint32
	OnEvent(func(handoff.Event))              // every engine event (handoffs, with outcome and duration)
	OnTransaction(func(mbim.TransactionInfo)) // every MBIM transaction, with its latency
	OnDeviceEvent(func(mbim.Event))           // transport lost, session re-opened after a reset, ...
	OnIndication(func(mbim.Indication))       // every Basic Connect indication
	OnDeviceOpened(func(*mbim.Device))        // each device opened (the first and after each loss)
}

// daemon is the snapshotSource of run: the Manager and the hooks.
type daemon struct {
	mgr     *handoff.Manager
	session uint32

	mu           sync.RWMutex
	events       []func(handoff.Event)
	transactions []func(mbim.TransactionInfo)
	devEvents    []func(mbim.Event)
	indications  []func(mbim.Indication)
	opened       []func(*mbim.Device)
}

var _ snapshotSource = (*daemon)(nil)

func (d *daemon) Snapshot() handoff.ManagerSnapshot { return d.mgr.Snapshot() }
func (d *daemon) Device() *mbim.Device              { return d.mgr.Device() }
func (d *daemon) Session() uint32                   { return d.session }

func (d *daemon) OnEvent(f func(handoff.Event)) {
	d.mu.Lock()
	d.events = append(d.events, f)
	d.mu.Unlock()
}

func (d *daemon) OnTransaction(f func(mbim.TransactionInfo)) {
	d.mu.Lock()
	d.transactions = append(d.transactions, f)
	d.mu.Unlock()
}

func (d *daemon) OnDeviceEvent(f func(mbim.Event)) {
	d.mu.Lock()
	d.devEvents = append(d.devEvents, f)
	d.mu.Unlock()
}

func (d *daemon) OnIndication(f func(mbim.Indication)) {
	d.mu.Lock()
	d.indications = append(d.indications, f)
	d.mu.Unlock()
}

func (d *daemon) OnDeviceOpened(f func(*mbim.Device)) {
	d.mu.Lock()
	d.opened = append(d.opened, f)
	d.mu.Unlock()
}

func fanOut[T any](mu *sync.RWMutex, fs *[]func(T), v T) {
	mu.RLock()
	list := *fs
	mu.RUnlock()
	for _, f := range list {
		f(v)
	}
}

func (d *daemon) event(ev handoff.Event)              { fanOut(&d.mu, &d.events, ev) }
func (d *daemon) transaction(ti mbim.TransactionInfo) { fanOut(&d.mu, &d.transactions, ti) }
func (d *daemon) deviceEvent(ev mbim.Event)           { fanOut(&d.mu, &d.devEvents, ev) }
func (d *daemon) indication(ind mbim.Indication)      { fanOut(&d.mu, &d.indications, ind) }
func (d *daemon) deviceOpened(dev *mbim.Device)       { fanOut(&d.mu, &d.opened, dev) }

// run is "mbimctl run".
func (o *runOptions) run(e *env, args []string) error {
	if err := noArgs(args); err != nil {
		return usageError{err}
	}
	if o.config != "" {
		entries, err := readConfig(o.config)
		if err != nil {
			return usageError{err}
		}
		if err := applyConfig(o.fs, entries, o.config); err != nil {
			return usageError{err}
		}
	}
	p, err := o.check(e)
	if err != nil {
		return asUsage(err)
	}
	if p.target.kind == "" {
		if p.target, err = onlyModem(); err != nil {
			return err
		}
	}

	ctx, stop := notifyContext(context.Background())
	defer stop()
	if o.duration.set {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration.d)
		defer cancel()
	}
	level := slog.LevelInfo
	if o.g.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	out := newEventPrinter(e.stdout, o.g.json)

	// The modem, the interface and the host.
	var (
		dial  handoff.Dialer
		sim   *mbimtest.Sim
		host  handoff.Host
		where string
	)
	cleanup := func() {}
	defer func() { cleanup() }()
	if p.target.kind == "sim" {
		sb, err := o.startSim(ctx, e, p, log, out)
		if err != nil {
			return err
		}
		sim, host, where, cleanup = sb.sim, sb.host, sb.where, sb.close
		dial = func(context.Context) (mbim.Transport, error) { return sim.ServePipe(), nil }
	} else {
		dial = o.dialer(p.target)
		if !p.ifaceSet {
			p.iface = modemInterface(p.target, log)
		}
		h, desc, closeHost, err := o.realHost(ctx, e, p, log, out)
		if err != nil {
			return err
		}
		host, where, cleanup = h, desc, closeHost
	}

	d := &daemon{session: p.settings.Session}
	var tr *tracer
	devOpts := []mbim.Option{mbim.WithObserver(d.transaction)}
	if o.g.timeout.set {
		devOpts = append(devOpts, mbim.WithTimeout(o.g.timeout.d))
	}
	if o.g.verbose {
		tr = newTracer(e.stderr, o.g.showPersonal, p.maxVersion)
		devOpts = append(devOpts, mbim.WithTrace(tr.trace))
		d.OnDeviceOpened(func(dev *mbim.Device) { tr.setVersion(dev.Version()) })
	}
	ecfg := handoff.EngineConfig{Interface: p.iface, DHCP: o.dhcp,
		RouteMetric: uint32(p.metric), RouteTable: uint32(p.table), Sinks: []func(handoff.Event){out.event, d.event}}
	hookCtx, stopHook := context.WithCancel(context.Background())
	defer stopHook()
	if p.hook != "" {
		hk := handoff.NewHook(handoff.HookConfig{Path: p.hook, Logger: log})
		ecfg.Sinks = append(ecfg.Sinks, hk.Sink)
		go hk.Run(hookCtx)
	}
	mgr, err := handoff.NewManager(handoff.ManagerConfig{
		Dial: dial, Connect: p.settings, Host: host, Engine: ecfg,
		MaxMBIMEx: p.maxVersion, DisconnectOnExit: o.disconnectOnExit, RetryFirstOpen: o.waitDevice,
		PollInterval: p.poll, DeviceOptions: devOpts,
		DeviceEvents: d.deviceEvent, DeviceOpened: d.deviceOpened, Indications: d.indication,
		Logger: log,
	})
	if err != nil {
		return usageError{errors.New(strings.TrimPrefix(err.Error(), "handoff: "))}
	}
	d.mgr = mgr
	if p.metricsAddr != "" {
		stopMetrics, err := metricsStarter(p.metricsAddr, d)
		if err != nil {
			return fmt.Errorf("--metrics-listen %s: %w", p.metricsAddr, err)
		}
		defer stopMetrics()
	}
	go out.run()
	log.Info("mbimctl run: starting", "modem", p.target.String(), "interface", where,
		"session", p.settings.Session, "apn", p.settings.APN, "auth", strings.ToLower(o.conn.auth),
		"ip_type", strings.ToLower(p.settings.IPType.String()), "pin_given", p.settings.PIN != "",
		"route_metric", p.metric, "route_table", tableName(p.table), "dns", o.dns)
	tourCtx, stopTour := context.WithCancel(ctx)
	tourDone := make(chan struct{})
	if sim != nil && bool(o.simTour) {
		go func() { defer close(tourDone); runSimTour(tourCtx, sim, p.simStep, log) }()
	} else {
		close(tourDone)
	}
	runErr := mgr.Run(ctx)
	stopTour()
	<-tourDone
	out.stop()
	if runErr != nil {
		return runError(p.target, o.g, runErr)
	}
	log.Info("mbimctl run: stopped", "session_left_up", !o.disconnectOnExit)
	return nil
}

func tableName(t int) string {
	if t == 0 {
		return "main"
	}
	return strconv.Itoa(t)
}

// dialer returns the function that opens a transport to the modem, each
// time the daemon (re)opens it.
func (o *runOptions) dialer(tg target) handoff.Dialer {
	return func(ctx context.Context) (mbim.Transport, error) {
		switch {
		case tg.kind == "usb":
			u, err := usbtransport.OpenUSB(ctx, tg.path)
			if err != nil {
				return nil, openError(tg, err)
			}
			return u, nil
		case o.g.proxy:
			p, err := proxy.Dial(ctx, tg.path, proxy.Options{Spawn: true, Socket: proxySocket,
				Timeout: o.g.timeout.or(mbim.DefaultOpenTimeout)})
			if err != nil {
				return nil, proxyError(tg, err)
			}
			return p, nil
		}
		w, err := usbtransport.OpenWDM(tg.path)
		if err != nil {
			return nil, openError(tg, err)
		}
		return w, nil
	}
}

// modemInterface finds the network interface of the modem in sysfs
// (default wwan0).
func modemInterface(tg target, log *slog.Logger) string {
	fns, err := usbtransport.List(sysfsRoot)
	if err == nil {
		var sel usbtransport.Selector
		if tg.kind == "usb" {
			sel, _ = usbtransport.ParseSelector(tg.path)
		}
		want, _ := filepath.EvalSymlinks(tg.path)
		for _, f := range fns {
			match := false
			switch tg.kind {
			case "usb":
				match = sel.Match(f.VendorID, f.ProductID, f.Bus, f.Device)
			default:
				match = f.Path == tg.path || f.Path == want || f.Name == filepath.Base(tg.path)
			}
			if match && f.Net != "" {
				log.Info("network interface found in sysfs", "interface", f.Net, "modem", tg.path)
				return f.Net
			}
		}
	}
	log.Warn("the modem's network interface is not in sysfs; using the default (set it with --interface)", "interface", defaultInterface)
	return defaultInterface
}

// realHost is the host of a real modem: a LinuxHost on the interface, or
// with --dry-run a recording fake that starts from the interface's state
// and prints what would change.
func (o *runOptions) realHost(ctx context.Context, e *env, p *runPlan, log *slog.Logger, out *eventPrinter) (handoff.Host, string, func(), error) {
	cfg := handoff.LinuxHostConfig{Interface: p.iface, Table: p.table, Metric: p.metric, DNS: p.dns}
	where := p.iface
	if o.dryRun {
		var st handoff.HostState
		if lh, err := handoff.NewLinuxHost(cfg); err == nil {
			if s, err := lh.State(ctx); err == nil {
				st = s
			}
			lh.Close()
		}
		log.Warn("DRY RUN: nothing is applied to the host; the changes are printed as 'would ...'", "interface", p.iface)
		return newDryHost(st, out), where + " (dry run)", func() {}, nil
	}
	if !canAdminNetwork() {
		return nil, "", nil, &codedError{exitOther, fmt.Errorf("configuring %s needs root (CAP_NET_ADMIN): run as root, or add --dry-run", p.iface)}
	}
	lh, err := handoff.NewLinuxHost(cfg)
	if err != nil {
		return nil, "", nil, fmt.Errorf("the host's network: %w", err)
	}
	return lh, where, func() { lh.Close() }, nil
}

// runError turns the daemon's failure into the exit code and the message
// a user should read.
func runError(tg target, g *modemFlags, err error) error {
	if errors.Is(err, handoff.ErrSIMLocked) {
		return &codedError{exitRefused, errors.New(strings.TrimPrefix(err.Error(), "handoff: "))}
	}
	err = (&modemSession{target: tg, flags: g}).explain(err)
	msg := errors.New(strings.TrimPrefix(err.Error(), "handoff: "))
	var c *codedError
	if errors.As(err, &c) {
		return &codedError{c.code, msg}
	}
	return msg
}

// canAdminNetwork reports whether the process may configure network
// interfaces (CAP_NET_ADMIN in its effective set).
func canAdminNetwork() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			const capNetAdmin = 12
			return err == nil && caps&(1<<capNetAdmin) != 0
		}
	}
	return false
}
