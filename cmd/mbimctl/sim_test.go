package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// stoppable makes the commands of a test stop when the returned function
// is called, as Ctrl-C stops them.
func stoppable(t *testing.T) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	old := notifyContext
	notifyContext = func(parent context.Context) (context.Context, context.CancelFunc) {
		c, stop := context.WithCancel(parent)
		go func() {
			select {
			case <-ctx.Done():
				stop()
			case <-c.Done():
			}
		}()
		return c, stop
	}
	t.Cleanup(func() {
		cancel()
		notifyContext = old
	})
	return cancel
}

// startSim runs "mbimctl sim" and returns what it printed first, and a
// channel with its exit code.
func startSim(t *testing.T, args ...string) (*simResult, <-chan int) {
	t.Helper()
	r, w := io.Pipe()
	var errOut strings.Builder
	done := make(chan int, 1)
	go func() {
		code := run(append([]string{"sim", "--json"}, args...), strings.NewReader(""), w, &errOut)
		w.Close()
		done <- code
	}()
	var res simResult
	if err := json.NewDecoder(r).Decode(&res); err != nil {
		t.Fatalf("mbimctl sim: %v (stderr %q)", err, errOut.String())
	}
	go io.Copy(io.Discard, r)
	return &res, done
}

// "mbimctl sim" serves a modem on a pty that keeps its state between
// commands, until stopped.
func TestSimCommand(t *testing.T) {
	newTestModem(t)
	stop := stoppable(t)
	link := filepath.Join(t.TempDir(), "mbim0")
	res, done := startSim(t, "--link", link, "--pin", "--mbimex", "2")
	if res.Path != link || res.MBIMEx != "2.0" {
		t.Errorf("sim printed %+v, want path %s, MBIMEx 2.0", res, link)
	}
	if target, err := os.Readlink(link); err != nil || !strings.HasPrefix(target, "/dev/pts/") {
		t.Errorf("link %s -> %q, %v", link, target, err)
	}
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"pin"}, "Waiting for    PIN1\n"},
		{[]string{"pin", "enter", "1234"}, "Waiting for    nothing\n"},
		{[]string{"pin"}, "Waiting for    nothing\n"}, // the state lasts
		{[]string{"version"}, "MBIMEx of this session  2.0\n"},
		{[]string{"connect", "--apn", "internet"}, "State         ACTIVATED\n"},
		{[]string{"ip"}, "IPv4 address  198.51.100.2/30\n"},
	} {
		out, errOut, code := runCLI(t, "", append(step.args, "-d", link)...)
		if code != exitOK || !strings.Contains(out, step.want) {
			t.Errorf("mbimctl %s -d %s: exit code %d, stderr %q, stdout:\n%s\nwant it to contain %q", strings.Join(step.args, " "), link, code, errOut, out, step.want)
		}
	}
	select {
	case code := <-done:
		t.Fatalf("sim stopped by itself, exit code %d", code)
	default:
	}
	stop()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("sim: exit code %d after Ctrl-C", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim did not stop")
	}
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link is left behind: %v", err)
	}
}

// sim --tour moves the radio technology; watch on the pty sees it.
func TestSimTour(t *testing.T) {
	newTestModem(t)
	stop := stoppable(t)
	res, done := startSim(t, "--tour", "20ms", "--duration", "20s")
	out, errOut, code := runCLI(t, "", "watch", "-d", res.Path, "--count", "4", "--json", "--timeout", "10s")
	if code != exitOK {
		t.Fatalf("watch: exit code %d, stderr %q", code, errOut)
	}
	if n := strings.Count(out, `"cid":"PACKET_SERVICE"`); n < 1 {
		t.Errorf("no PACKET_SERVICE indication in:\n%s", out)
	}
	stop()
	if code := <-done; code != exitOK {
		t.Errorf("sim --tour: exit code %d", code)
	}
}

func TestSimDuration(t *testing.T) {
	newTestModem(t)
	start := time.Now()
	out, errOut, code := runCLI(t, "", "sim", "--duration", "200ms")
	if code != exitOK || !strings.HasPrefix(out, "/dev/pts/") || !strings.Contains(errOut, "use mbimctl -d /dev/pts/") {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("sim --duration 200ms took %v", d)
	}
	if _, errOut, code := runCLI(t, "", "sim", "now"); code != exitUsage {
		t.Errorf("sim now: exit code %d, stderr %q", code, errOut)
	}
}

var proxyCount atomic.Int32

// fakeProxy is a libmbim-compatible proxy on a private abstract socket in
// front of the test modem: it answers the CONFIGURATION of the device
// path, then hands the connection to the simulated modem.
func fakeProxy(t *testing.T, m *testModem, devicePath string) {
	t.Helper()
	name := fmt.Sprintf("@mbimctl-test-%d-%d", os.Getpid(), proxyCount.Add(1))
	l, err := net.Listen("unix", name)
	if err != nil {
		t.Skipf("no abstract unix socket: %v", err)
	}
	old := proxySocket
	proxySocket = name
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		proxySocket = old
		cancel()
		l.Close()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 0, 4096)
				chunk := make([]byte, 4096)
				for {
					n, err := c.Read(chunk)
					if err != nil {
						c.Close()
						return
					}
					buf = append(buf, chunk[:n]...)
					msg, _, err := mbim.NextMessage(buf)
					if errors.Is(err, mbim.ErrIncomplete) {
						continue
					}
					var cfg mbim.ProxyControlConfigurationSet
					st := mbim.StatusSuccess
					if err != nil || msg.CID() != mbim.CIDProxyControlConfiguration || cfg.Decode(msg.InformationBuffer()) != nil ||
						cfg.DevicePath.String() != devicePath {
						st = mbim.StatusFailure
					}
					done, _ := mbim.AppendCommandDoneInfo(nil, msg.TransactionID(), mbim.ServiceProxyControl, mbim.CIDProxyControlConfiguration, st, (*mbim.Empty)(nil))
					c.Write(done)
					if st != mbim.StatusSuccess {
						c.Close() // as mbim-proxy does when it cannot open the device
						return
					}
					m.Serve(ctx, mbim.NewConnTransport(c, 4096))
					return
				}
			}()
		}
	}()
}

// --proxy talks to the modem through mbim-proxy.
func TestProxy(t *testing.T) {
	m := newTestModem(t)
	fakeProxy(t, m, "/dev/cdc-wdm-test")
	out, errOut, code := runCLI(t, "", "caps", "--proxy", "-d", "/dev/cdc-wdm-test")
	want, _ := os.ReadFile(filepath.Join(goldenDir, commandGoldenDir, "caps.txt"))
	if code != exitOK || out != string(want) {
		t.Errorf("caps --proxy: exit code %d, stderr %q, stdout:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	// The proxy cannot open another node.
	out, errOut, code = runCLI(t, "", "caps", "--proxy", "-d", "/dev/cdc-wdm9")
	wantErr := "mbimctl: caps: mbim-proxy could not open /dev/cdc-wdm9 (is it the modem's MBIM node? 'mbimctl list' shows them)\n"
	if code != exitNoDevice || out != "" || errOut != wantErr {
		t.Errorf("caps --proxy -d /dev/cdc-wdm9: exit code %d, stdout %q, stderr %q; want exit code 3 and %q", code, out, errOut, wantErr)
	}
	if reqs := m.Requests(); len(reqs) == 0 || reqs[0].Type != mbim.TypeOpen {
		t.Errorf("the modem's requests: %v", reqs)
	}
}

// A modem that never answers OPEN: exit code 4, and a hint.
func TestOpenTimeout(t *testing.T) {
	m := newTestModem(t)
	m.AddFault(mbimtest.Fault{Match: mbimtest.Match{Type: mbim.TypeOpenDone}, Drop: true})
	out, errOut, code := runCLI(t, "", "caps", "-d", "sim", "--timeout", "300ms")
	want := "mbimctl: caps: timeout: the simulated modem did not answer OPEN (is it the modem's MBIM node? a wedged modem may need a power cycle)\n"
	if code != exitTimeout || out != "" || errOut != want {
		t.Errorf("exit code %d, stdout %q, stderr:\n%q\nwant exit code 4 and:\n%q", code, out, errOut, want)
	}
}
