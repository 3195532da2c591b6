//go:build !linux

package handoff

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/vishvananda/netns"
)

// ErrNotSupported is returned where the host side has no implementation
// (NewLinuxHost and CreateTUN on other systems than Linux).
var ErrNotSupported = errors.New("handoff: not supported on this system")

// DefaultNetlinkTimeout bounds one netlink request when
// LinuxHostConfig.Timeout is zero.
const DefaultNetlinkTimeout = 5 * time.Second

// LinuxHostConfig configures a LinuxHost (see the Linux documentation).
type LinuxHostConfig struct {
	Interface string
	Table     int
	Metric    int
	DNS       DNSTarget
	NetNS     netns.NsHandle
	Timeout   time.Duration
}

// LinuxHost is the Host of a Linux network interface; on this system
// NewLinuxHost returns ErrNotSupported.
type LinuxHost struct{}

// LinuxHostStats counts the requests a LinuxHost sent.
type LinuxHostStats struct {
	LinkGets, AddrDumps, RouteDumps                                 uint64
	AddrAdds, AddrDels, RouteReplaces, RouteDels, MTUSets, LinkSets uint64
	DNSFileWrites, DNSHookRuns                                      uint64
}

func (s LinuxHostStats) NetlinkReads() uint64    { return 0 }
func (s LinuxHostStats) NetlinkWrites() uint64   { return 0 }
func (s LinuxHostStats) NetlinkRequests() uint64 { return 0 }
func (s LinuxHostStats) Writes() uint64          { return 0 }
func (s LinuxHostStats) Sub(LinuxHostStats) LinuxHostStats {
	return LinuxHostStats{}
}

var _ Host = (*LinuxHost)(nil)

// NewLinuxHost returns ErrNotSupported on this system.
func NewLinuxHost(cfg LinuxHostConfig) (*LinuxHost, error) { return nil, ErrNotSupported }

func (l *LinuxHost) Close() error          { return nil }
func (l *LinuxHost) Interface() string     { return "" }
func (l *LinuxHost) Stats() LinuxHostStats { return LinuxHostStats{} }
func (l *LinuxHost) State(context.Context) (HostState, error) {
	return HostState{}, ErrNotSupported
}
func (l *LinuxHost) AddAddress(context.Context, netip.Prefix) error    { return ErrNotSupported }
func (l *LinuxHost) DeleteAddress(context.Context, netip.Prefix) error { return ErrNotSupported }
func (l *LinuxHost) ReplaceDefaultRoute(context.Context, Route) error  { return ErrNotSupported }
func (l *LinuxHost) DeleteDefaultRoute(context.Context, Family) error  { return ErrNotSupported }
func (l *LinuxHost) SetMTU(context.Context, int) error                 { return ErrNotSupported }
func (l *LinuxHost) SetLink(context.Context, bool) error               { return ErrNotSupported }
func (l *LinuxHost) SetDNS(context.Context, []netip.Addr) error        { return ErrNotSupported }

// TUN is a TUN network interface; on this system CreateTUN returns
// ErrNotSupported.
type TUN struct{}

// CreateTUN returns ErrNotSupported on this system.
func CreateTUN(name string, ns ...netns.NsHandle) (*TUN, error) { return nil, ErrNotSupported }

func (t *TUN) Name() string                    { return "" }
func (t *TUN) Read([]byte) (int, error)        { return 0, ErrNotSupported }
func (t *TUN) Write([]byte) (int, error)       { return 0, ErrNotSupported }
func (t *TUN) SetReadDeadline(time.Time) error { return ErrNotSupported }
func (t *TUN) Close() error                    { return nil }
func (t *TUN) SetPersist(bool) error           { return ErrNotSupported }
