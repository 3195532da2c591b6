//go:build linux

package mbimtest

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// ptyHost opens the simulator's pty as a client does.
func ptyHost(t *testing.T, path string) *host {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return newHost(t, &fileTransport{f: f})
}

func servePTY(t *testing.T, s *Sim) string {
	t.Helper()
	path, err := s.ServePTY()
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		t.Skipf("no pty here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPTY(t *testing.T) {
	s := newSim(t)
	path := servePTY(t, s)
	if s.PTYPath() != path {
		t.Fatalf("PTYPath %q, ServePTY %q", s.PTYPath(), path)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("%s: %v %v", path, fi.Mode(), err)
	}

	// Write an OPEN as raw bytes, read the OPEN_DONE as raw bytes: the
	// line discipline must pass binary data untouched.
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	open := mbim.AppendOpen(nil, 1, 4096)
	if _, err := f.Write(open); err != nil {
		t.Fatal(err)
	}
	want := mbim.AppendOpenDone(nil, 1, mbim.StatusSuccess)
	got := make([]byte, 0, 16)
	_ = f.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < len(want) {
		buf := make([]byte, 64)
		n, err := f.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (got %x)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != string(want) {
		t.Fatalf("OPEN_DONE %x, want %x", got, want)
	}
	f.Close()

	// A second client on the same node finds the session open, with
	// every byte value (0x0a, 0x0d, 0x03, 0x11, 0x7f…) intact.
	h := ptyHost(t, path)
	var caps mbim.DeviceCapsInfo
	h.query(mbim.CIDDeviceCaps, nil, &caps)
	if caps.DeviceId.String() != DefaultDevice().DeviceID {
		t.Fatalf("caps %+v", caps)
	}
	s.SetAPNs(APN{Name: "\n\r\x03\x11\x13\x7f\x1a\x04", IPTypes: mbim.ContextIpTypeIpv4})
	var ci mbim.ConnectInfo
	h.set(mbim.CIDConnect, &mbim.ConnectSet{ActivationCommand: mbim.ActivationCommandActivate,
		AccessString: mbim.NewString("\n\r\x03\x11\x13\x7f\x1a\x04")}, &ci)
	if ci.ActivationState != mbim.ActivationStateActivated {
		t.Fatalf("connect over the pty: %+v", ci)
	}
}

func TestPTYResetHangsUp(t *testing.T) {
	link := filepath.Join(t.TempDir(), "cdc-wdm-sim")
	s := newSim(t, WithPTYLink(link))
	path := servePTY(t, s)
	if path != link {
		t.Fatalf("ServePTY returned %q, want the link %q", path, link)
	}
	first := s.PTYPath()
	h := ptyHost(t, link)
	h.open(4096)
	if err := s.Reset(ResetOptions{CloseTransport: true}); err != nil {
		t.Fatal(err)
	}
	// The client is hung up.
	if _, err := h.next(2 * time.Second); err == nil || errors.Is(err, errTimeout) {
		t.Fatalf("read after hang-up: %v", err)
	}
	// The link now leads to a new pty, where the modem waits for OPEN.
	waitFor(t, "new pty", func() bool {
		target, err := os.Readlink(link)
		return err == nil && target == s.PTYPath() && s.PTYPath() != first
	})
	h2 := ptyHost(t, link)
	m := h2.call(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)
	if m.Type() != mbim.TypeFunctionError || m.ErrorCode() != mbim.ProtocolErrorNotOpened {
		t.Fatalf("after reset: %v %v", m.Type(), m.ErrorCode())
	}
	h2.open(4096)
	h2.sync()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("link left behind: %v", err)
	}
}
