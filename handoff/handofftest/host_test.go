package handofftest_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/handofftest"
)

var (
	p4  = netip.MustParsePrefix("198.51.100.2/30")
	gw4 = netip.MustParseAddr("198.51.100.1")
	p6  = netip.MustParsePrefix("2001:db8::2/64")
	ll  = netip.MustParsePrefix("fe80::2/64")
	dns = netip.MustParseAddr("192.0.2.53")
)

func TestHostRecordsAndSimulates(t *testing.T) {
	ctx := context.Background()
	h := handofftest.New(handoff.HostState{Addresses: []netip.Prefix{ll}})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.SetLink(ctx, true))
	must(h.AddAddress(ctx, p4))
	must(h.AddAddress(ctx, p4)) // idempotent
	must(h.AddAddress(ctx, p6))
	must(h.ReplaceDefaultRoute(ctx, handoff.Route{Gateway: gw4, Family: handoff.IPv4}))
	must(h.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv6}))
	must(h.SetMTU(ctx, 1500))
	must(h.SetDNS(ctx, []netip.Addr{dns}))
	c := handoff.Config{IPv4: []netip.Prefix{p4}, IPv6: []netip.Prefix{p6}, Gateway4: gw4, DNS: []netip.Addr{dns}, MTU: 1500}
	if err := h.Check(c); err != nil {
		t.Error(err)
	}
	must(h.DeleteDefaultRoute(ctx, handoff.IPv6))
	must(h.DeleteAddress(ctx, p6))
	must(h.SetLink(ctx, false))
	want := []string{"link-up", "addr-add 198.51.100.2/30", "addr-add 198.51.100.2/30", "addr-add 2001:db8::2/64",
		"route-replace default", "route-replace default ipv6", "mtu 1500", "dns 192.0.2.53",
		"route-del default ipv6", "addr-del 2001:db8::2/64", "link-down"}
	if ops := h.Ops(); !slices.Equal(ops, want) {
		t.Errorf("ops %q, want %q", ops, want)
	}
	if err := h.Check(c); err == nil {
		t.Error("Check passed with IPv6 gone and the link down")
	}
	c.IPv6 = nil
	st, err := h.State(ctx)
	must(err)
	st.Up = true
	h.Set(st)
	if err := h.Check(c); err != nil {
		t.Error(err)
	}
	if n := h.Calls(); n != len(want)+1 || h.Ops()[n-1] != "state" || len(h.Writes()) != len(want) {
		t.Errorf("calls %d, ops %q", n, h.Ops())
	}
	h.Reset()
	if h.Calls() != 0 {
		t.Error("Reset kept the log")
	}
}

func TestHostFails(t *testing.T) {
	ctx := context.Background()
	h := handofftest.New(handoff.HostState{})
	h.Fail("addr-add", nil)
	boom := errors.New("boom")
	h.Fail("mtu 1400", boom)
	if err := h.AddAddress(ctx, p4); !errors.Is(err, handofftest.ErrRefused) {
		t.Errorf("AddAddress: %v", err)
	}
	if err := h.SetMTU(ctx, 1400); !errors.Is(err, boom) {
		t.Errorf("SetMTU 1400: %v", err)
	}
	if err := h.SetMTU(ctx, 1500); err != nil {
		t.Errorf("SetMTU 1500: %v", err)
	}
	if s := h.Current(); len(s.Addresses) != 0 || s.MTU != 1500 {
		t.Errorf("a refused change changed the interface: %+v", s)
	}
	h.Heal("addr-add")
	if err := h.AddAddress(ctx, p4); err != nil {
		t.Errorf("after Heal: %v", err)
	}
	h.Heal()
	if err := h.SetMTU(ctx, 1400); err != nil {
		t.Errorf("after Heal(): %v", err)
	}
}

func TestHostIsSafeForConcurrentUse(t *testing.T) {
	ctx := context.Background()
	h := handofftest.New(handoff.HostState{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				_ = h.AddAddress(ctx, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32))
				_, _ = h.State(ctx)
				_ = h.Ops()
			}
		})
	}
	wg.Wait()
	if n := h.Calls(); n != 8*200 {
		t.Errorf("%d calls, want 1600", n)
	}
}
