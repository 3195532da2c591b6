// Package handofftest provides a recording fake of handoff.Host for tests
// of the engine and of the packages that wire it.
package handofftest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gowwan/wwan/handoff"
)

// Host is a fake handoff.Host: it keeps a simulated interface (addresses,
// default routes, MTU, link, DNS) and logs every call, in order, in the
// vocabulary of a handoff event's steps ("state", "addr-add 10.0.0.2/30",
// "route-replace default", "route-replace default ipv6", "route-del
// default", "mtu 1500", "dns 192.0.2.53", "link-down", "link-up"). It can
// be told to refuse operations. Safe for concurrent use.
//
// Like the kernel, adding an address or a route that is there is not an
// error, and neither is deleting one that is not; the link's state does
// not change the addresses or routes.
type Host struct {
	mu    sync.Mutex
	state handoff.HostState
	ops   []string
	fail  map[string]error
}

var _ handoff.Host = (*Host)(nil)

// New returns a fake host whose interface is as s says (copied).
func New(s handoff.HostState) *Host {
	return &Host{state: clone(s), fail: map[string]error{}}
}

// ErrRefused is the error of a refused operation when Fail is given nil.
var ErrRefused = errors.New("handofftest: operation refused")

// Fail makes every call whose operation is op fail with err (ErrRefused
// when nil), without changing the interface. op is either a full step
// ("addr-add 198.51.100.6/30") or its verb ("addr-add", "route-replace",
// "mtu", "dns", "link-down", "state"). Heal clears it.
func (h *Host) Fail(op string, err error) {
	if err == nil {
		err = ErrRefused
	}
	h.mu.Lock()
	h.fail[op] = err
	h.mu.Unlock()
}

// Heal makes op succeed again (every op when none is named).
func (h *Host) Heal(ops ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(ops) == 0 {
		clear(h.fail)
	}
	for _, op := range ops {
		delete(h.fail, op)
	}
}

// Ops returns every call so far, in order, failed ones included.
func (h *Host) Ops() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// Writes returns the calls that change something (all but "state").
func (h *Host) Writes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var w []string
	for _, op := range h.ops {
		if op != "state" {
			w = append(w, op)
		}
	}
	return w
}

// Calls counts every call, State included.
func (h *Host) Calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// Reset forgets the log; the interface stays as it is.
func (h *Host) Reset() {
	h.mu.Lock()
	h.ops = nil
	h.mu.Unlock()
}

// Current returns the simulated interface without logging a call.
func (h *Host) Current() handoff.HostState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return clone(h.state)
}

// Set replaces the simulated interface (as when a netdev disappears and
// comes back after a modem reset) without logging a call.
func (h *Host) Set(s handoff.HostState) {
	h.mu.Lock()
	h.state = clone(s)
	h.mu.Unlock()
}

// Check reports how the interface differs from what c asks for: its
// addresses (link-local ones aside), a default route per family with an
// address (via the gateway, if any) and none for a family without, the MTU
// when c has one, the DNS servers, and the link up. nil when it matches.
func (h *Host) Check(c handoff.Config) error {
	want := StateOf(c)
	got := h.Current()
	var diffs []string
	var gotAddrs []netip.Prefix
	for _, p := range got.Addresses {
		if !p.Addr().IsLinkLocalUnicast() {
			gotAddrs = append(gotAddrs, p)
		}
	}
	if !sameSet(gotAddrs, want.Addresses) {
		diffs = append(diffs, fmt.Sprintf("addresses %v, want %v", gotAddrs, want.Addresses))
	}
	if !sameSet(got.Routes, want.Routes) {
		diffs = append(diffs, fmt.Sprintf("routes %v, want %v", got.Routes, want.Routes))
	}
	if c.MTU > 0 && got.MTU != c.MTU {
		diffs = append(diffs, fmt.Sprintf("mtu %d, want %d", got.MTU, c.MTU))
	}
	if !slices.Equal(got.DNS, want.DNS) {
		diffs = append(diffs, fmt.Sprintf("dns %v, want %v", got.DNS, want.DNS))
	}
	if !got.Up {
		diffs = append(diffs, "link down")
	}
	if diffs != nil {
		return errors.New("handofftest: host " + strings.Join(diffs, "; "))
	}
	return nil
}

// StateOf is the interface state that matches c (link up).
func StateOf(c handoff.Config) handoff.HostState {
	s := handoff.HostState{Addresses: c.Addresses(), MTU: c.MTU, Up: true, DNS: slices.Clone(c.DNS)}
	if len(c.IPv4) > 0 {
		s.Routes = append(s.Routes, handoff.Route{Gateway: c.Gateway4, Family: handoff.IPv4})
	}
	if len(c.IPv6) > 0 {
		s.Routes = append(s.Routes, handoff.Route{Gateway: c.Gateway6, Family: handoff.IPv6})
	}
	return s
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

func clone(s handoff.HostState) handoff.HostState {
	s.Addresses = slices.Clone(s.Addresses)
	s.Routes = slices.Clone(s.Routes)
	s.DNS = slices.Clone(s.DNS)
	return s
}

// call logs op and returns the error it is told to fail with.
func (h *Host) call(op string) error {
	h.ops = append(h.ops, op)
	if err, ok := h.fail[op]; ok {
		return err
	}
	verb, _, _ := strings.Cut(op, " ")
	if err, ok := h.fail[verb]; ok {
		return err
	}
	return nil
}

func suffix(f handoff.Family) string {
	if f == handoff.IPv6 {
		return " ipv6"
	}
	return ""
}

func (h *Host) State(ctx context.Context) (handoff.HostState, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.call("state"); err != nil {
		return handoff.HostState{}, err
	}
	return clone(h.state), nil
}

func (h *Host) AddAddress(ctx context.Context, p netip.Prefix) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.call("addr-add " + p.String()); err != nil {
		return err
	}
	if !slices.Contains(h.state.Addresses, p) {
		h.state.Addresses = append(h.state.Addresses, p)
	}
	return nil
}

func (h *Host) DeleteAddress(ctx context.Context, p netip.Prefix) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.call("addr-del " + p.String()); err != nil {
		return err
	}
	h.state.Addresses = slices.DeleteFunc(h.state.Addresses, func(q netip.Prefix) bool { return q == p })
	return nil
}

func (h *Host) ReplaceDefaultRoute(ctx context.Context, r handoff.Route) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.call("route-replace default" + suffix(r.Family)); err != nil {
		return err
	}
	h.state.Routes = slices.DeleteFunc(h.state.Routes, func(q handoff.Route) bool { return q.Family == r.Family })
	h.state.Routes = append(h.state.Routes, r)
	return nil
}

func (h *Host) DeleteDefaultRoute(ctx context.Context, f handoff.Family) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.call("route-del default" + suffix(f)); err != nil {
		return err
	}
	h.state.Routes = slices.DeleteFunc(h.state.Routes, func(q handoff.Route) bool { return q.Family == f })
	return nil
}

func (h *Host) SetMTU(ctx context.Context, mtu int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.call("mtu " + strconv.Itoa(mtu)); err != nil {
		return err
	}
	h.state.MTU = mtu
	return nil
}

func (h *Host) SetLink(ctx context.Context, up bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	op := "link-down"
	if up {
		op = "link-up"
	}
	if err := h.call(op); err != nil {
		return err
	}
	h.state.Up = up
	return nil
}

func (h *Host) SetDNS(ctx context.Context, servers []netip.Addr) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	op := "dns"
	for _, a := range servers {
		op += " " + a.String()
	}
	if err := h.call(op); err != nil {
		return err
	}
	h.state.DNS = slices.Clone(servers)
	return nil
}
