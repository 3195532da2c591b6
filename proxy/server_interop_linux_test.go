package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
	"github.com/gowwan/wwan/usbtransport"
)

// TestServerRealClients puts our Server on "@mbim-proxy" in a private
// network namespace, in front of the simulated modem's pty (opened as a
// cdc-wdm node would be), and runs the real mbimcli -p and qmicli -p
// through it.
func TestServerRealClients(t *testing.T) {
	mbimcli, err := exec.LookPath("mbimcli")
	if err != nil {
		skipOrFail(t, "mbimcli is not installed (Debian package libmbim-utils)")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root: a private network namespace, and libmbim clients talk to a root proxy")
	}
	qmicli, _ := exec.LookPath("qmicli")
	sim := mbimtest.New()
	t.Cleanup(func() { sim.Close() })
	path, err := sim.ServePTY()
	if err != nil {
		t.Fatal(err)
	}
	var opens atomic.Int32
	var logger = slog.New(slog.DiscardHandler)
	if os.Getenv("WWAN_PROXY_DEBUG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv := NewServer(ServerConfig{Logger: logger, OpenDevice: func(ctx context.Context, p string) (*mbim.Device, error) {
		opens.Add(1)
		w, err := usbtransport.OpenWDM(p)
		if err != nil {
			return nil, err
		}
		dev, err := mbim.Open(ctx, w, mbim.WithLogger(logger))
		if err != nil {
			w.Close()
		}
		return dev, err
	}})

	// The listener and the clients are created from one goroutine locked
	// to a thread that enters a new namespace and never leaves it.
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
		ln, err := ListenAbstract(SocketName)
		if err != nil {
			t.Errorf("listen on @mbim-proxy in the namespace: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ctx, ln) }()
		defer func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}()
		runRealClients(ctx, t, sim, path, mbimcli, qmicli)
	}()
	<-done
	if n := opens.Load(); n != 1 {
		t.Errorf("the server opened the device %d times, want 1", n)
	}
	if c := sim.Counters(); c.Opens != 1 {
		t.Errorf("the modem saw %d OPENs, want 1 (the proxy's only)", c.Opens)
	}
}

func runRealClients(ctx context.Context, t *testing.T, sim *mbimtest.Sim, path, mbimcli, qmicli string) {
	run := func(name string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	imei, imsi := sim.Device().DeviceID, sim.SIM().IMSI
	out, err := run(mbimcli, "-p", "-d", path, "--query-device-caps")
	if err != nil || !strings.Contains(out, "'"+imei+"'") {
		t.Errorf("mbimcli -p --query-device-caps: %v\n%s", err, out)
	}
	out, err = run(mbimcli, "-p", "-d", path, "--query-subscriber-ready-status")
	if err != nil || !strings.Contains(out, "'"+imsi+"'") || !strings.Contains(out, "'initialized'") {
		t.Errorf("mbimcli -p --query-subscriber-ready-status: %v\n%s", err, out)
	}
	// A client that negotiates MBIMEx 3.0 itself, through the proxy.
	out, err = run(mbimcli, "-p", "-d", path, "--device-open-ms-mbimex-v3", "--query-subscriber-ready-status")
	if err != nil || !strings.Contains(out, "'"+imsi+"'") {
		t.Errorf("mbimcli -p --device-open-ms-mbimex-v3 --query-subscriber-ready-status: %v\n%s", err, out)
	}
	// Three at once: started from this (the namespace's) thread, waited
	// for together.
	type job struct {
		q   string
		cmd *exec.Cmd
		out bytes.Buffer
	}
	var jobs []*job
	for _, q := range []string{"--query-device-caps", "--query-radio-state", "--query-signal-state"} {
		j := &job{q: q, cmd: exec.CommandContext(ctx, mbimcli, "-p", "-d", path, q)}
		j.cmd.Stdout, j.cmd.Stderr = &j.out, &j.out
		if err := j.cmd.Start(); err != nil {
			t.Errorf("start mbimcli: %v", err)
			continue
		}
		jobs = append(jobs, j)
	}
	for _, j := range jobs {
		if err := j.cmd.Wait(); err != nil || strings.Contains(j.out.String(), "error") {
			t.Errorf("concurrent mbimcli -p %s: %v\n%s", j.q, err, j.out.String())
		}
	}
	if qmicli == "" {
		t.Log("qmicli is not installed (Debian package libqmi-utils): QMI over MBIM through the proxy not tested")
		return
	}
	out, err = run(qmicli, "-p", "-d", path, "--device-open-mbim", "--dms-get-ids")
	if err != nil || !strings.Contains(out, "IMEI: '"+imei+"'") {
		t.Errorf("qmicli -p --device-open-mbim --dms-get-ids: %v\n%s", err, out)
	}
}
