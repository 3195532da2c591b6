package proxy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// TestMbimProxyInterop puts Debian's real mbim-proxy in front of our
// simulated modem, in a network namespace of its own (the proxy's socket
// is abstract, so the namespace keeps it from meeting any other proxy),
// and runs our client through it while mbimcli talks to the same modem
// through the same proxy. The proxy is killed by its PID at the end.
func TestMbimProxyInterop(t *testing.T) {
	const proxyBin = "/usr/libexec/mbim-proxy"
	mbimcli, err := exec.LookPath("mbimcli")
	if err != nil {
		skipOrFail(t, "mbimcli is not installed (Debian package libmbim-utils)")
	}
	if _, err := os.Stat(proxyBin); err != nil {
		skipOrFail(t, proxyBin+" is not installed (Debian package libmbim-proxy)")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root: a private network namespace, and mbim-proxy serves only root")
	}
	sim := mbimtest.New()
	t.Cleanup(func() { sim.Close() })
	path, err := sim.ServePTY()
	if err != nil {
		t.Fatal(err)
	}

	// Everything that must live in the namespace (the proxy, our socket,
	// mbimcli) is started from one goroutine locked to a thread that
	// enters the namespace and never leaves it: the thread dies with the
	// goroutine, so no other goroutine can ever run in the namespace.
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new network namespace: %v", err)
			return
		}
		defer ns.Close()
		runInterop(t, sim, path, proxyBin, mbimcli)
	}()
	<-done
}

func runInterop(t *testing.T, sim *mbimtest.Sim, path, proxyBin, mbimcli string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	proxy := exec.Command(proxyBin, "--no-exit")
	proxy.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var proxyLog bytes.Buffer
	proxy.Stdout, proxy.Stderr = &proxyLog, &proxyLog
	if err := proxy.Start(); err != nil {
		t.Errorf("start %s: %v", proxyBin, err)
		return
	}
	defer func() {
		_ = syscall.Kill(proxy.Process.Pid, syscall.SIGKILL)
		_ = proxy.Wait()
		if t.Failed() {
			t.Logf("mbim-proxy output:\n%s", proxyLog.String())
		}
	}()

	// Wait (bounded) for the proxy's socket; Dial without Spawn, so that a
	// missing proxy is an error and not a second proxy.
	var tr *Transport
	var err error
	for i := 0; i < 100; i++ {
		if tr, err = Dial(ctx, path, Options{Timeout: 10 * time.Second}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("dial the proxy: %v", err)
		return
	}
	dev, err := mbim.Open(ctx, tr)
	if err != nil {
		t.Errorf("open through the proxy: %v", err)
		return
	}
	defer dev.Close()
	if dev.Version() != mbim.MBIMEx3 {
		t.Errorf("negotiated MBIMEx %s through the proxy, want 3.0", dev.Version())
	}
	caps, err := dev.DeviceCaps(ctx)
	if err != nil {
		t.Errorf("device caps: %v", err)
		return
	}
	if got := caps.DeviceId.String(); got != sim.Device().DeviceID {
		t.Errorf("device id %q, want %q", got, sim.Device().DeviceID)
	}
	sub := dev.Subscribe(mbim.SubscribeFilter{}, 64)
	defer sub.Close()

	// mbimcli at the same time, through the same proxy (started from this
	// thread, so in the namespace).
	cli := exec.CommandContext(ctx, mbimcli, "-p", "-d", path, "--query-device-caps")
	var cliOut bytes.Buffer
	cli.Stdout, cli.Stderr = &cliOut, &cliOut
	if err := cli.Start(); err != nil {
		t.Errorf("start mbimcli: %v", err)
		return
	}
	conn, err := dev.Connect(ctx, mbim.ConnectRequest{AccessString: "internet", IPType: mbim.ContextIpTypeIpv4v6})
	if err != nil {
		t.Errorf("connect through the proxy while mbimcli runs: %v", err)
	} else if conn.ActivationState != mbim.ActivationStateActivated {
		t.Errorf("connect: %+v", conn)
	}
	if err := cli.Wait(); err != nil || !strings.Contains(cliOut.String(), sim.Device().DeviceID) {
		t.Errorf("mbimcli through the proxy beside our client: %v\n%s", err, cliOut.String())
	}
	ip, err := dev.IPConfiguration(ctx, 0)
	if err != nil {
		t.Errorf("ip configuration: %v", err)
		return
	}
	s, _ := sim.Session(0)
	if len(ip.IPv4Addresses) != 1 || ip.IPv4Addresses[0].Prefix() != s.IP.IPv4 {
		t.Errorf("ip configuration %v, the modem has %v", ip.IPv4Addresses, s.IP.IPv4)
	}

	// An indication reaches us through the proxy.
	sig := sim.Signal()
	sig.RSSI = 7
	if err := sim.SetSignal(sig); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ind, ok := <-sub.C():
			if !ok {
				t.Errorf("subscription closed")
				return
			}
			if ind.Service() == mbim.ServiceBasicConnect && ind.CID() == mbim.CIDSignalState {
				// The proxy opened the modem once for both clients and
				// kept it open: it, not a client, owns the session.
				if c := sim.Counters(); c.Opens != 1 || c.Closes != 0 {
					t.Errorf("modem opened %d times, closed %d times, want 1 and 0", c.Opens, c.Closes)
				}
				t.Logf("through mbim-proxy: MBIMEx %s, connected, mbimcli beside us, indication received", dev.Version())
				return
			}
		case <-timeout:
			t.Errorf("no SIGNAL_STATE indication through the proxy")
			return
		}
	}
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("WWAN_REQUIRE_NETNS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}
