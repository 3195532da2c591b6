package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/proxy"
)

// "mbimctl proxy -d sim" serves the simulated modem; our own client (and,
// through the same code, "mbimctl --proxy") reaches it by any path.
func TestProxyCommandServesTheSim(t *testing.T) {
	m := newTestModem(t)
	socket := fmt.Sprintf("@wwan-mbimctl-proxy-test-%d", os.Getpid())
	type res struct {
		out, errOut string
		code        int
	}
	done := make(chan res, 1)
	go func() {
		out, errOut, code := runCLI(t, "", "proxy", "-d", "sim", "--socket", socket, "--duration", "3s")
		done <- res{out, errOut, code}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var tr *proxy.Transport
	var err error
	for range 100 {
		if tr, err = proxy.Dial(ctx, "/dev/null", proxy.Options{Socket: socket}); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dial mbimctl proxy: %v", err)
	}
	dev, err := mbim.Open(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	caps, err := dev.DeviceCaps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := caps.DeviceId.String(); got != m.Device().DeviceID {
		t.Errorf("device id %q through mbimctl proxy, want %q", got, m.Device().DeviceID)
	}
	dev.Close()
	r := <-done
	if r.code != 0 || !strings.Contains(r.errOut, "serving the simulated modem") {
		t.Errorf("mbimctl proxy: code %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	if c := m.Counters(); c.Opens != 1 {
		t.Errorf("the modem was opened %d times, want 1", c.Opens)
	}
}

func TestProxyCommandUsage(t *testing.T) {
	if _, errOut, code := runCLI(t, "", "proxy", "extra"); code != exitUsage {
		t.Errorf("proxy extra: code %d, stderr %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, "", "proxy", "-d", "usb:zz"); code != exitUsage {
		t.Errorf("proxy -d usb:zz: code %d, stderr %q", code, errOut)
	}
}

// The demo: "mbimctl proxy -d sim" on @mbim-proxy in a private network
// namespace, and the real "mbimcli -p -d /dev/null" through it.
func TestProxyCommandWithMbimcli(t *testing.T) {
	skip := func(why string) {
		if os.Getenv("WWAN_REQUIRE_NETNS") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if runtime.GOOS != "linux" {
		skip("abstract sockets and network namespaces are Linux only")
	}
	mbimcli, err := exec.LookPath("mbimcli")
	if err != nil {
		skip("mbimcli is not installed (Debian package libmbim-utils)")
	}
	if os.Geteuid() != 0 {
		skip("needs root: a private network namespace, and libmbim clients talk to a root proxy")
	}
	m := newTestModem(t)

	// The proxy runs on a goroutine locked to a thread in a new namespace
	// (the listener is made there); mbimcli is started from a second
	// locked thread that joins the same namespace. Neither thread leaves
	// it: they die with their goroutines.
	nsReady := make(chan netns.NsHandle, 1)
	done := make(chan string, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			nsReady <- netns.None()
			done <- "new network namespace: " + err.Error()
			return
		}
		nsReady <- ns
		out, errOut, code := runCLI(t, "", "proxy", "-d", "sim", "--duration", "4s")
		done <- fmt.Sprintf("code %d, stdout %q, stderr %q", code, out, errOut)
	}()
	ns := <-nsReady
	if !ns.IsOpen() {
		t.Fatal(<-done)
	}
	defer ns.Close()
	result := make(chan string, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			result <- "join the namespace: " + err.Error()
			return
		}
		// Wait until the proxy listens: a client finding no proxy would
		// spawn libmbim's.
		for range 200 {
			if c, err := net.Dial("unix", proxy.SocketName); err == nil {
				c.Close()
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		out, err := exec.Command(mbimcli, "-p", "-d", "/dev/null", "--query-device-caps").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "'"+m.Device().DeviceID+"'") {
			result <- fmt.Sprintf("mbimcli -p -d /dev/null --query-device-caps: %v\n%s", err, out)
			return
		}
		result <- ""
	}()
	if r := <-result; r != "" {
		t.Error(r)
	}
	if r := <-done; !strings.Contains(r, "code 0") {
		t.Errorf("mbimctl proxy: %s", r)
	}
}
