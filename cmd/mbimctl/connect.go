package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gowwan/wwan/mbim"
)

// passwordEnv gives the password of "connect" when --password-file does
// not.
const passwordEnv = "WWAN_PASSWORD"

// Limits of the MBIM specification (CONNECT): AccessString 100
// characters, UserName and Password 255.
const (
	maxAPN        = 100
	maxCredential = 255
	maxSessionID  = 255
)

func init() {
	register(connectCommand)
	register(disconnectCommand)
	register(ipCommand)
	register(statsCommand)
}

var connectCommand = &command{
	name:    "connect",
	summary: "start a data session (activate an APN) and show its IP configuration",
	usage: "connect [--apn APN] [--auth none|pap|chap|mschapv2 --user USER [--password-file FILE]] " +
		"[--ip-type ipv4|ipv6|ipv4v6] [--session N] [-d DEVICE] [--json]",
	desc: `
Activate a data session (Basic Connect CONNECT, activate) with the APN
and, when the network wants them, credentials; then show the session and
its IP configuration (IP_CONFIGURATION), as 'mbimctl ip' does. Connecting
waits for the network, up to --timeout (120 s by default).

The password is read from the first line of --password-file (- for
standard input), else from $` + passwordEnv + `. It is never printed, and -v
traces mask it even with --show-personal. There is no --password flag:
command lines are visible to every user of the machine.

The APN is checked before anything is sent: at most 100 characters,
letters, digits, '.', '-' and '_', not starting or ending with a dot. An
empty APN (the default) lets the network choose. --user needs --auth.
The session id (0 to 255) selects one of the modem's data sessions: the
first is 0, and on Linux session N > 0 is the VLAN N of the wwan interface.`,
	examples: []example{
		{"connect --apn internet", "connect to APN internet, dual stack"},
		{"connect --apn internet --ip-type ipv4", "IPv4 only"},
		{"connect --apn corp.example --auth chap --user alice --password-file ~/.apn-password", "an APN that wants CHAP credentials"},
		{"connect --apn ims --session 1 --json", "a second session, printed as JSON"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		o := &connectOptions{auth: "none", ipType: "ipv4v6"}
		fs.StringVar(&o.apn, "apn", "", "the access point name (default: empty, the network's default APN)")
		fs.StringVar(&o.auth, "auth", o.auth, "the `protocol` of the credentials: none, pap, chap or mschapv2")
		fs.StringVar(&o.user, "user", "", "the user name of the credentials")
		fs.StringVar(&o.passwordFile, "password-file", "", "read the password from the first line of `FILE` (- for standard input); default $"+passwordEnv)
		fs.StringVar(&o.ipType, "ip-type", o.ipType, "the IP `family` to ask for: ipv4, ipv6 or ipv4v6")
		fs.Var(&o.session, "session", "the data session `id`, 0 to 255")
		return func(e *env, args []string) (*plan, error) {
			if err := noArgs(args); err != nil {
				return nil, err
			}
			req, err := o.request(e)
			if err != nil {
				return nil, err
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				return runConnect(ctx, s, req)
			}}, nil
		}
	}),
}

type connectOptions struct {
	apn, auth, user, passwordFile, ipType string
	session                               sessionFlag
}

// sessionFlag is a data session id.
type sessionFlag uint32

func (f *sessionFlag) String() string {
	if f == nil {
		return "0"
	}
	return strconv.FormatUint(uint64(*f), 10)
}

func (f *sessionFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > maxSessionID {
		return fmt.Errorf("want a session id from 0 to %d", maxSessionID)
	}
	*f = sessionFlag(n)
	return nil
}

var authProtocols = map[string]mbim.AuthProtocol{
	"none": mbim.AuthProtocolNone, "pap": mbim.AuthProtocolPap, "chap": mbim.AuthProtocolChap, "mschapv2": mbim.AuthProtocolMschapv2,
}

var ipTypes = map[string]mbim.ContextIpType{
	"ipv4": mbim.ContextIpTypeIpv4, "ipv6": mbim.ContextIpTypeIpv6, "ipv4v6": mbim.ContextIpTypeIpv4v6,
}

// request checks the flags and reads the password. Nothing is sent.
func (o *connectOptions) request(e *env) (mbim.ConnectRequest, error) {
	req := mbim.ConnectRequest{SessionID: uint32(o.session), AccessString: o.apn, UserName: o.user}
	if err := checkAPN(o.apn); err != nil {
		return req, err
	}
	auth, ok := authProtocols[strings.ToLower(o.auth)]
	if !ok {
		return req, fmt.Errorf("unknown --auth %q: want none, pap, chap or mschapv2", o.auth)
	}
	req.AuthProtocol = auth
	ipt, ok := ipTypes[strings.ToLower(o.ipType)]
	if !ok {
		return req, fmt.Errorf("unknown --ip-type %q: want ipv4, ipv6 or ipv4v6", o.ipType)
	}
	req.IPType = ipt
	if n := utf8.RuneCountInString(o.user); n > maxCredential {
		return req, fmt.Errorf("--user is %d characters long: at most %d", n, maxCredential)
	}
	pw, err := o.password(e)
	if err != nil {
		return req, err
	}
	req.Password = pw
	switch {
	case auth == mbim.AuthProtocolNone && (o.user != "" || pw != ""):
		return req, errors.New("credentials need --auth pap, chap or mschapv2")
	case auth != mbim.AuthProtocolNone && o.user == "":
		return req, fmt.Errorf("--auth %s needs --user", strings.ToLower(o.auth))
	}
	return req, nil
}

// password reads --password-file, else $WWAN_PASSWORD. Errors never
// quote the password.
func (o *connectOptions) password(e *env) (string, error) {
	var b []byte
	switch o.passwordFile {
	case "":
		return checkPassword(os.Getenv(passwordEnv), "$"+passwordEnv)
	case "-":
		var err error
		if b, err = io.ReadAll(io.LimitReader(e.stdin, 4096)); err != nil {
			return "", fmt.Errorf("reading the password from standard input: %v", err)
		}
	default:
		var err error
		if b, err = os.ReadFile(o.passwordFile); err != nil {
			return "", fmt.Errorf("--password-file: %v", err)
		}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return checkPassword(strings.TrimSuffix(string(line), "\r"), "the password file")
}

func checkPassword(pw, from string) (string, error) {
	if !utf8.ValidString(pw) {
		return "", fmt.Errorf("%s: the password is not valid UTF-8", from)
	}
	if n := utf8.RuneCountInString(pw); n > maxCredential {
		return "", fmt.Errorf("%s: the password is %d characters long: at most %d", from, n, maxCredential)
	}
	return pw, nil
}

// checkAPN checks the form of an access point name (3GPP TS 23.003 labels,
// plus '_' which some operators use) and its MBIM length limit.
func checkAPN(apn string) error {
	if n := utf8.RuneCountInString(apn); n > maxAPN {
		return fmt.Errorf("--apn is %d characters long: at most %d", n, maxAPN)
	}
	for _, c := range apn {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("--apn %q: the character %q is not allowed (letters, digits, '.', '-' and '_')", apn, c)
		}
	}
	if strings.HasPrefix(apn, ".") || strings.HasSuffix(apn, ".") || strings.Contains(apn, "..") {
		return fmt.Errorf("--apn %q: empty label (a dot at the start, at the end or twice)", apn)
	}
	return nil
}

func runConnect(ctx context.Context, s *modemSession, req mbim.ConnectRequest) (result, error) {
	lctx, cancel := s.longCtx(ctx)
	defer cancel()
	c, err := s.dev.Connect(lctx, req)
	if err != nil {
		return nil, connectError(err, c)
	}
	r := newConnectResult(c)
	if c.ActivationState == mbim.ActivationStateActivated {
		ip, err := s.dev.IPConfiguration(ctx, req.SessionID)
		if err != nil {
			return nil, err
		}
		r.IP = newIPConfig(ip)
	}
	return r, nil
}

// connectError adds the network's reason to a refused CONNECT.
func connectError(err error, c mbim.Connection) error {
	var ce *mbim.CommandError
	if errors.As(err, &ce) {
		detail := ""
		if c.NwError != mbim.NwErrorNone {
			detail = "network error " + c.NwError.String()
		}
		return refused(ce.Service, ce.CID, ce.Status, detail)
	}
	return err
}

var disconnectCommand = &command{
	name:    "disconnect",
	summary: "end a data session",
	usage:   "disconnect [--session N] [-d DEVICE] [--json]",
	desc: `
Deactivate a data session (Basic Connect CONNECT, deactivate) and show its
new state. It waits for the network, up to --timeout (120 s by default). A
session that is not connected is left as it is, and its state shown: the
exit code is 0 either way.`,
	examples: []example{
		{"disconnect", "end session 0"},
		{"disconnect --session 1", "end session 1"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		var session sessionFlag
		fs.Var(&session, "session", "the data session `id`, 0 to 255")
		return func(e *env, args []string) (*plan, error) {
			if err := noArgs(args); err != nil {
				return nil, err
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				ctx, cancel := s.longCtx(ctx)
				defer cancel()
				c, err := s.dev.Disconnect(ctx, uint32(session))
				if errors.Is(err, mbim.StatusContextNotActivated) {
					// Not connected: the goal is reached; show the state.
					c, err = s.dev.ConnectState(ctx, uint32(session))
				}
				if err != nil {
					return nil, connectError(err, c)
				}
				return newConnectResult(c), nil
			}}, nil
		}
	}),
}

// connectResult is the JSON of "mbimctl connect" and "disconnect".
type connectResult struct {
	SessionID       uint32    `json:"session_id"`
	ActivationState string    `json:"activation_state"`
	IPType          string    `json:"ip_type"`
	ContextType     string    `json:"context_type"`
	AccessString    string    `json:"access_string"`
	VoiceCallState  string    `json:"voice_call_state"`
	NwError         string    `json:"nw_error"`
	IP              *ipConfig `json:"ip"`
}

func newConnectResult(c mbim.Connection) *connectResult {
	return &connectResult{
		SessionID:       c.SessionID,
		ActivationState: c.ActivationState.String(),
		IPType:          c.IPType.String(),
		ContextType:     c.ContextType.String(),
		AccessString:    c.AccessString,
		VoiceCallState:  c.VoiceCallState.String(),
		NwError:         c.NwError.String(),
	}
}

func (r *connectResult) writeText(w io.Writer) error {
	t := &table{}
	r.rows(t)
	if r.IP != nil {
		r.IP.rows(t)
	}
	return t.write(w)
}

func (r *connectResult) rows(t *table) {
	t.row("Session", strconv.FormatUint(uint64(r.SessionID), 10))
	t.row("State", r.ActivationState)
	t.row("IP type", r.IPType)
	t.row("Context type", r.ContextType)
	if r.AccessString != "" {
		t.row("APN", r.AccessString)
	}
	if r.NwError != mbim.NwErrorNone.String() {
		t.row("Network error", r.NwError)
	}
}

var ipCommand = &command{
	name:    "ip",
	summary: "show a data session's state and IP configuration (addresses, gateway, DNS, MTU)",
	usage:   "ip [--session N] [-d DEVICE] [--json]",
	desc: `
Show the state of a data session (Basic Connect CONNECT, query) and, when
it is connected, its IP configuration (IP_CONFIGURATION): the IPv4 and IPv6
addresses with their prefix lengths, gateways, DNS servers and MTUs that
the host's interface must be given.`,
	examples: []example{
		{"ip", "the addresses of session 0"},
		{"ip --json | jq -r '.ipv4.addresses[0]'", "the IPv4 address and prefix, for a script"},
		{"ip --session 1", "the addresses of session 1"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		var session sessionFlag
		fs.Var(&session, "session", "the data session `id`, 0 to 255")
		return func(e *env, args []string) (*plan, error) {
			if err := noArgs(args); err != nil {
				return nil, err
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				c, err := s.dev.ConnectState(ctx, uint32(session))
				if err != nil {
					return nil, err
				}
				r := &ipResult{SessionID: uint32(session), ActivationState: c.ActivationState.String(), ipConfig: emptyIPConfig()}
				if c.ActivationState == mbim.ActivationStateActivated {
					ip, err := s.dev.IPConfiguration(ctx, uint32(session))
					if err != nil {
						return nil, err
					}
					r.ipConfig = *newIPConfig(ip)
				}
				return r, nil
			}}, nil
		}
	}),
}

// ipResult is the JSON of "mbimctl ip".
type ipResult struct {
	SessionID       uint32 `json:"session_id"`
	ActivationState string `json:"activation_state"`
	ipConfig
}

// ipConfig is an IP configuration in JSON (also the "ip" of connect).
type ipConfig struct {
	IPv4 ipFamily `json:"ipv4"`
	IPv6 ipFamily `json:"ipv6"`
}

type ipFamily struct {
	Addresses []string `json:"addresses"`
	Gateway   *string  `json:"gateway"`
	DNS       []string `json:"dns"`
	MTU       *uint32  `json:"mtu"`
}

func emptyIPConfig() ipConfig {
	return ipConfig{
		IPv4: ipFamily{Addresses: []string{}, DNS: []string{}},
		IPv6: ipFamily{Addresses: []string{}, DNS: []string{}},
	}
}

func newIPConfig(ip *mbim.IPConfigurationInfo) *ipConfig {
	c := emptyIPConfig()
	for _, a := range ip.IPv4Addresses {
		c.IPv4.Addresses = append(c.IPv4.Addresses, a.String())
	}
	for _, a := range ip.IPv6Addresses {
		c.IPv6.Addresses = append(c.IPv6.Addresses, a.String())
	}
	addr := func(a netip.Addr, avail mbim.IPConfigurationAvailable) *string {
		if !a.IsValid() || avail&mbim.IPConfigurationAvailableGateway == 0 {
			return nil
		}
		s := a.String()
		return &s
	}
	c.IPv4.Gateway = addr(ip.IPv4Gateway, ip.IPv4ConfigurationAvailable)
	c.IPv6.Gateway = addr(ip.IPv6Gateway, ip.IPv6ConfigurationAvailable)
	for _, a := range ip.IPv4DnsServers {
		c.IPv4.DNS = append(c.IPv4.DNS, a.String())
	}
	for _, a := range ip.IPv6DnsServers {
		c.IPv6.DNS = append(c.IPv6.DNS, a.String())
	}
	mtu := func(v uint32, avail mbim.IPConfigurationAvailable) *uint32 {
		if v == 0 || avail&mbim.IPConfigurationAvailableMtu == 0 {
			return nil
		}
		return &v
	}
	c.IPv4.MTU = mtu(ip.IPv4Mtu, ip.IPv4ConfigurationAvailable)
	c.IPv6.MTU = mtu(ip.IPv6Mtu, ip.IPv6ConfigurationAvailable)
	return &c
}

func (r *ipResult) writeText(w io.Writer) error {
	t := &table{}
	r.rows(t)
	return t.write(w)
}

func (r *ipResult) rows(t *table) {
	t.row("Session", strconv.FormatUint(uint64(r.SessionID), 10))
	t.row("State", r.ActivationState)
	r.ipConfig.rows(t)
}

func (c *ipConfig) rows(t *table) {
	fam := func(name string, f ipFamily) {
		if len(f.Addresses) == 0 && f.Gateway == nil && len(f.DNS) == 0 && f.MTU == nil {
			return
		}
		t.row(name+" address", joinOr(f.Addresses, "-"))
		gw := "-"
		if f.Gateway != nil {
			gw = *f.Gateway
		}
		t.row(name+" gateway", gw)
		t.row(name+" DNS", joinOr(f.DNS, "-"))
		mtu := "-"
		if f.MTU != nil {
			mtu = strconv.FormatUint(uint64(*f.MTU), 10)
		}
		t.row(name+" MTU", mtu)
	}
	fam("IPv4", c.IPv4)
	fam("IPv6", c.IPv6)
}

var statsCommand = &command{
	name:    "stats",
	summary: "show the modem's packet counters",
	usage:   "stats [-d DEVICE] [--json]",
	desc: `
Show the modem's own packet statistics (Basic Connect PACKET_STATISTICS):
bytes and packets received and sent, errors and discards, since the modem
started.`,
	examples: []example{
		{"stats", "the packet counters"},
		{"stats --json | jq .in_octets", "the bytes received"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		return func(e *env, args []string) (*plan, error) {
			if err := noArgs(args); err != nil {
				return nil, err
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				st, err := s.dev.PacketStatistics(ctx)
				if err != nil {
					return nil, err
				}
				return &statsResult{st}, nil
			}}, nil
		}
	}),
}

// statsResult is the JSON of "mbimctl stats": the fields of
// PACKET_STATISTICS.
type statsResult struct {
	mbim.PacketStatisticsInfo
}

func (r *statsResult) writeText(w io.Writer) error {
	t := &table{}
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	t.row("", "RECEIVED", "SENT")
	t.row("Bytes", byteCount(r.InOctets), byteCount(r.OutOctets))
	t.row("Packets", strconv.FormatUint(r.InPackets, 10), strconv.FormatUint(r.OutPackets, 10))
	t.row("Errors", u(r.InErrors), u(r.OutErrors))
	t.row("Discards", u(r.InDiscards), u(r.OutDiscards))
	return t.write(w)
}
