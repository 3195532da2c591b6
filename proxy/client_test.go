package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// fakeProxy accepts one client on a private abstract socket and answers
// the CONFIGURATION handshake the way libmbim's proxy does.
func fakeProxy(t *testing.T, status mbim.Status, version uint16, hangUp bool) (socket string, got chan string) {
	t.Helper()
	socket = fmt.Sprintf("@wwan-proxy-test-%d-%s", os.Getpid(), t.Name())
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got = make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		n, _ := c.Read(buf)
		m, err := mbim.ParseMessage(buf[:n])
		if err != nil || m.Service() != mbim.ServiceProxyControl {
			got <- "bad request"
			return
		}
		var req mbim.ProxyControlConfigurationSet
		if err := req.Decode(m.InformationBuffer()); err != nil {
			got <- "bad body"
			return
		}
		got <- fmt.Sprintf("%s %d", req.DevicePath, req.Timeout)
		if hangUp {
			return
		}
		var out []byte
		if version != 0 {
			out, _ = mbim.AppendIndicateStatusInfo(out, 0, mbim.ServiceProxyControl, mbim.CIDProxyControlVersion,
				&mbim.ProxyControlVersionInfo{MbimVersion: 0x0100, MbimExtendedVersion: version})
		}
		out = mbim.AppendCommandDone(out, m.TransactionID(), mbim.ServiceProxyControl, mbim.CIDProxyControlConfiguration, status, nil)
		// Something the device said right after: must reach the Device.
		out = mbim.AppendOpenDone(out, 2, mbim.StatusSuccess)
		c.Write(out)
		time.Sleep(100 * time.Millisecond)
	}()
	return socket, got
}

func TestDialConfigures(t *testing.T) {
	socket, got := fakeProxy(t, mbim.StatusSuccess, 0x0300, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tr, err := Dial(ctx, "/dev/cdc-wdm0", Options{Socket: socket, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if req := <-got; req != "/dev/cdc-wdm0 20" {
		t.Fatalf("proxy got %q", req)
	}
	if tr.Version != mbim.MBIMEx3 {
		t.Errorf("version %s, want 3.0", tr.Version)
	}
	buf := make([]byte, 64)
	n, err := tr.ReadControl(ctx, buf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mbim.ParseMessage(buf[:n])
	if err != nil || m.Type() != mbim.TypeOpenDone || m.TransactionID() != 2 {
		t.Fatalf("bytes after the handshake lost: %x %v", buf[:n], err)
	}
}

func TestDialRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status mbim.Status
		hangUp bool
	}{{"status", mbim.StatusInvalidParameters, false}, {"hang-up", 0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			socket, _ := fakeProxy(t, tc.status, 0, tc.hangUp)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := Dial(ctx, "/dev/cdc-wdm9", Options{Socket: socket})
			if !errors.Is(err, ErrConfigurationRefused) {
				t.Fatalf("want ErrConfigurationRefused, got %v", err)
			}
		})
	}
}

func TestDialNobodyListens(t *testing.T) {
	_, err := Dial(context.Background(), "/dev/cdc-wdm0", Options{Socket: "@wwan-proxy-test-nobody"})
	if err == nil {
		t.Fatal("dial succeeded with nobody listening")
	}
}
