package main

// Opening a modem, for every command that talks to one: the flags they
// share (-d, --proxy, --timeout, --mbimex, -v, --show-personal, --json), the
// transport -d selects, and the one place where a failure becomes an exit
// code and a message that says what to do.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
	"github.com/gowwan/wwan/proxy"
	"github.com/gowwan/wwan/usbtransport"
)

// deviceEnv names the environment variable that gives the default -d.
const deviceEnv = "MBIMCTL_DEVICE"

// Seams for the tests, which run every command in process.
var (
	// simFactory makes the simulated modem behind "-d sim". A shared Sim
	// is not closed by the command, so that a test can prepare it, run
	// several commands against it and inspect its request log.
	simFactory = func() (sim *mbimtest.Sim, shared bool) { return mbimtest.New(), false }
	// notifyContext is the context of a command: cancelled by SIGINT or
	// SIGTERM, so that an interrupted command still sends CLOSE.
	notifyContext = func(parent context.Context) (context.Context, context.CancelFunc) {
		return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	}
	// sysfsRoot is where -d's default and "mbimctl list" look for modems
	// ("" means /sys).
	sysfsRoot = ""
	// proxySocket overrides the mbim-proxy socket ("" means @mbim-proxy).
	proxySocket = ""
	// now is the clock of timestamps in -v traces and in watch.
	now = time.Now
)

// modemFlags are the flags of every command that talks to a modem.
type modemFlags struct {
	device       string
	proxy        bool
	timeout      durationFlag
	mbimex       versionFlag
	verbose      bool
	showPersonal bool
	json         bool
}

// addModemFlags registers the shared flags on fs.
func addModemFlags(fs *flag.FlagSet) *modemFlags {
	g := &modemFlags{mbimex: versionFlag(mbim.MBIMEx3)}
	fs.StringVar(&g.device, "d", "", "the modem `DEVICE`: /dev/cdc-wdmN, usb:VID:PID, usb:BUS.ADDR, or sim (the built-in simulated modem); "+
		"default $"+deviceEnv+", else the only MBIM modem found")
	fs.BoolVar(&g.proxy, "proxy", false, "talk to the modem through mbim-proxy (started if it is not running), sharing it with ModemManager and mbimcli")
	fs.Var(&g.timeout, "timeout", "how long to wait for each answer of the modem, a `duration` such as 5s or 2m "+
		"(default 10s; 120s for connect, disconnect, attach, detach, register and a provider scan; 30s for the open)")
	fs.Var(&g.mbimex, "mbimex", "negotiate MBIMEx `version` 1, 2 or 3 at most (1 skips the negotiation)")
	fs.BoolVar(&g.verbose, "v", false, "trace every message to and from the modem on stderr: hex dump and decoded fields, personal data masked")
	fs.BoolVar(&g.showPersonal, "show-personal", false, "show IMSI, ICCID, IMEI and phone numbers in -v traces and watch (passwords and PINs stay masked)")
	fs.BoolVar(&g.json, "json", false, "print JSON (the schema of each command is in the README)")
	return g
}

// durationFlag is a positive duration that remembers whether it was set.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 500ms, 10s or 2m")
	}
	if d <= 0 {
		return errors.New("want a duration above zero")
	}
	f.d, f.set = d, true
	return nil
}

// or returns the duration, or dflt when it was not set.
func (f *durationFlag) or(dflt time.Duration) time.Duration {
	if f.set {
		return f.d
	}
	return dflt
}

// target is the transport -d names.
type target struct {
	kind string // "sim", "usb", "node", or "" to look for the only modem
	path string // the node, or the usb: selector as given
}

func (t target) String() string {
	if t.kind == "sim" {
		return "the simulated modem"
	}
	return t.path
}

// target checks -d and --proxy; it touches nothing.
func (g *modemFlags) target() (target, error) {
	d := g.device
	if d == "" {
		d = os.Getenv(deviceEnv)
	}
	switch {
	case d == "":
		return target{}, nil
	case d == "sim":
		if g.proxy {
			return target{}, errors.New("--proxy needs a device node (-d /dev/cdc-wdmN): -d sim runs the simulated modem in this process")
		}
		return target{kind: "sim", path: "sim"}, nil
	case strings.HasPrefix(d, "usb:"):
		if _, err := usbtransport.ParseSelector(d); err != nil {
			return target{}, fmt.Errorf("-d %s: %s", d, strings.TrimPrefix(err.Error(), "usbtransport: "))
		}
		if g.proxy {
			return target{}, errors.New("--proxy needs a device node (-d /dev/cdc-wdmN), not a usb: selector")
		}
		return target{kind: "usb", path: d}, nil
	case !strings.ContainsRune(d, '/'):
		// "cdc-wdm0" means the node in /dev.
		return target{kind: "node", path: "/dev/" + d}, nil
	}
	return target{kind: "node", path: d}, nil
}

// modemSession is an open modem.
type modemSession struct {
	dev      *mbim.Device
	sim      *mbimtest.Sim // -d sim
	ownSim   bool          // close sim with the session
	target   target
	flags    *modemFlags
	tracer   *tracer
	maxEx    mbim.Version // the highest MBIMEx version asked for
	closeErr error
}

// open opens the modem -d names and starts an MBIM session with it.
func (g *modemFlags) open(ctx context.Context, e *env, extra ...mbim.Option) (*modemSession, error) {
	tg, err := g.target()
	if err != nil {
		return nil, usageError{err}
	}
	if tg.kind == "" {
		if tg, err = onlyModem(); err != nil {
			return nil, err
		}
	}
	s := &modemSession{target: tg, flags: g, maxEx: mbim.Version(g.mbimex)}
	opts := []mbim.Option{mbim.WithMaxVersion(mbim.Version(g.mbimex))}
	if g.timeout.set {
		opts = append(opts, mbim.WithTimeout(g.timeout.d), mbim.WithConnectTimeout(g.timeout.d), mbim.WithOpenTimeout(g.timeout.d))
	}
	if g.verbose {
		s.tracer = newTracer(e.stderr, g.showPersonal, mbim.Version(g.mbimex))
		opts = append(opts, mbim.WithTrace(s.tracer.trace))
	}
	opts = append(opts, extra...)

	var t mbim.Transport
	switch tg.kind {
	case "sim":
		sim, shared := simFactory()
		s.sim, s.ownSim = sim, !shared
		t = s.sim.ServePipe()
	case "usb":
		u, err := usbtransport.OpenUSB(ctx, tg.path)
		if err != nil {
			return nil, openError(tg, err)
		}
		t = u
	case "node":
		if g.proxy {
			ctx, cancel := context.WithTimeout(ctx, g.timeout.or(mbim.DefaultOpenTimeout))
			// Like libmbim clients, start the proxy when none runs (not for a
			// test's private socket: the real proxy would not listen there).
			p, err := proxy.Dial(ctx, tg.path, proxy.Options{Spawn: proxySocket == "", Socket: proxySocket, Timeout: g.timeout.or(mbim.DefaultOpenTimeout)})
			cancel()
			if err != nil {
				return nil, proxyError(tg, err)
			}
			t = p
		} else {
			w, err := usbtransport.OpenWDM(tg.path)
			if err != nil {
				return nil, openError(tg, err)
			}
			t = w
		}
	}
	dev, err := mbim.Open(ctx, t, opts...)
	if err != nil {
		s.closeSim()
		return nil, s.explain(fmt.Errorf("opening the MBIM session: %w", err))
	}
	s.dev = dev
	if s.tracer != nil {
		s.tracer.setVersion(dev.Version())
	}
	return s, nil
}

// Close ends the MBIM session and stops the simulated modem of -d sim.
func (s *modemSession) Close() error {
	if s.dev != nil {
		s.closeErr = s.dev.Close()
	}
	s.closeSim()
	return s.closeErr
}

func (s *modemSession) closeSim() {
	if s.sim != nil && s.ownSim {
		s.sim.Close()
	}
}

// longCtx bounds an operation that the network may take long to answer
// (connect, attach, register, a provider scan): --timeout, else 120 s.
func (s *modemSession) longCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.flags.timeout.or(mbim.DefaultConnectTimeout))
}

// onlyModem is the default of -d: the one MBIM function the host has.
func onlyModem() (target, error) {
	fns, err := usbtransport.List(sysfsRoot)
	if err != nil {
		return target{}, fmt.Errorf("looking for modems: %w", err)
	}
	switch len(fns) {
	case 0:
		return target{}, &codedError{exitNoDevice, errors.New("no MBIM modem found: give one with -d /dev/cdc-wdmN (or -d sim for the simulated modem)")}
	case 1:
		return target{kind: "node", path: fns[0].Path}, nil
	}
	var paths []string
	for _, f := range fns {
		paths = append(paths, f.Path)
	}
	return target{}, usageError{fmt.Errorf("%d MBIM modems found (%s): choose one with -d", len(fns), strings.Join(paths, ", "))}
}

// openError explains why a device could not be opened.
func openError(tg target, err error) error {
	switch {
	case errors.Is(err, usbtransport.ErrNotFound):
		return &codedError{exitNoDevice, fmt.Errorf("device not found: %s (is the modem plugged in and its driver bound? 'mbimctl list' shows the modems found)", tg.path)}
	case errors.Is(err, usbtransport.ErrBusy):
		return &codedError{exitOther, busyError(tg.path)}
	case errors.Is(err, usbtransport.ErrNotSupported):
		if tg.kind == "usb" {
			return &codedError{exitOther, fmt.Errorf("%s: this mbimctl was built without libusb (rebuild with -tags gousb), or use the modem's cdc-wdm node ('mbimctl list')", tg.path)}
		}
		return &codedError{exitOther, fmt.Errorf("%s: cdc-wdm nodes exist only on Linux: use -d usb:VID:PID with a build made with -tags gousb", tg.path)}
	}
	return fmt.Errorf("opening %s: %s", tg.path, strings.TrimPrefix(err.Error(), "usbtransport: "))
}

// busyError names who holds a node, when /proc tells.
func busyError(path string) error {
	who := holders(path)
	if len(who) == 0 {
		return fmt.Errorf("device busy: %s is held by another process (mbim-proxy or ModemManager?); use --proxy", path)
	}
	return fmt.Errorf("device busy: %s is held by %s; use --proxy", path, strings.Join(who, ", "))
}

// holders lists the processes that have path open, as "name (pid N)", from
// /proc (only the processes we may look into).
func holders(path string) []string {
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		want = path
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && l == want {
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				name := strings.TrimSpace(string(comm))
				if name == "" {
					name = "a process"
				}
				out = append(out, fmt.Sprintf("%s (pid %d)", name, pid))
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// proxyError explains a failure to reach the modem through mbim-proxy.
func proxyError(tg target, err error) error {
	if errors.Is(err, proxy.ErrConfigurationRefused) {
		return &codedError{exitNoDevice, fmt.Errorf("mbim-proxy could not open %s (is it the modem's MBIM node? 'mbimctl list' shows them)", tg.path)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &codedError{exitTimeout, fmt.Errorf("timeout: mbim-proxy did not answer for %s", tg.path)}
	}
	return fmt.Errorf("through mbim-proxy: %s", strings.TrimPrefix(err.Error(), "proxy: "))
}

// explain turns a failure of the modem into the exit code and the message
// a user should read. Errors that already carry an exit code pass.
func (s *modemSession) explain(err error) error {
	var u usageError
	var c *codedError
	var te *mbim.TimeoutError
	var ce *mbim.CommandError
	var fe *mbim.FunctionError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &u), errors.As(err, &c):
		return err
	case errors.As(err, &te):
		what := requestText(te.Type, te.Service, te.CID)
		if te.Type == mbim.TypeOpen {
			return &codedError{exitTimeout, fmt.Errorf("timeout: %s did not answer OPEN (is it the modem's MBIM node? a wedged modem may need a power cycle)", s.target)}
		}
		return &codedError{exitTimeout, fmt.Errorf("timeout: the modem did not answer %s in time (--timeout sets how long to wait)", what)}
	case errors.As(err, &ce):
		return refused(ce.Service, ce.CID, ce.Status, "")
	case errors.As(err, &fe):
		return &codedError{exitRefused, fmt.Errorf("the modem answered %s with FUNCTION_ERROR %s", requestText(fe.Type, fe.Service, fe.CID), fe.Code.String())}
	case errors.Is(err, context.Canceled):
		return &codedError{exitOther, errors.New("interrupted")}
	case errors.Is(err, context.DeadlineExceeded):
		return &codedError{exitTimeout, errors.New("timeout: the modem did not answer in time (--timeout sets how long to wait)")}
	case errors.Is(err, mbim.ErrClosed):
		return &codedError{exitOther, fmt.Errorf("the modem went away: %s", strings.TrimPrefix(err.Error(), "mbim: "))}
	}
	return err
}

// refused is the error of a failure status: exit 5, the status by name,
// and a hint for the statuses that have an obvious next step.
func refused(service mbim.UUID, cid uint32, st mbim.Status, detail string) error {
	msg := fmt.Sprintf("the modem refused %s: %s", requestText(mbim.TypeCommand, service, cid), st.String())
	if detail != "" {
		msg += " (" + detail + ")"
	}
	if h := statusHints[st]; h != "" {
		msg += "; " + h
	}
	return &codedError{exitRefused, errors.New(msg)}
}

var statusHints = map[mbim.Status]string{
	mbim.StatusSimNotInserted:        "no SIM card in the modem",
	mbim.StatusPinRequired:           "enter the PIN with 'mbimctl pin enter'",
	mbim.StatusRadioPowerOff:         "turn the radio on with 'mbimctl radio on'",
	mbim.StatusNotRegistered:         "the modem is not registered to a network ('mbimctl register')",
	mbim.StatusPacketServiceDetached: "attach first with 'mbimctl attach'",
	mbim.StatusNoDeviceSupport:       "the modem does not implement it",
	mbim.StatusBusy:                  "the modem is busy; try again",
	mbim.StatusInvalidAccessString:   "check the APN",
	mbim.StatusInvalidUserNamePwd:    "check the user name and password",
	mbim.StatusContextNotActivated:   "the session is not connected ('mbimctl connect')",
	mbim.StatusMaxActivatedContexts:  "every session of the modem is in use ('mbimctl disconnect --session N')",
}

// requestText names a request: "DEVICE_CAPS", "MS_FIRMWARE_ID GET".
func requestText(t mbim.MessageType, service mbim.UUID, cid uint32) string {
	if t != mbim.TypeCommand && t != 0 {
		return t.String()
	}
	svc := mbim.ServiceName(service)
	if svc == "" {
		svc = service.String()
	}
	name := mbim.CIDName(service, cid)
	if name == "" {
		name = "CID " + strconv.FormatUint(uint64(cid), 10)
	}
	if service == mbim.ServiceBasicConnect {
		return name
	}
	return svc + " " + name
}
