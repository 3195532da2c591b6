//go:build gousb

package usbtransport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// The gousb transport is tested with libusb really doing the transfers,
// against a fake USB modem emulated by umockdev (testing-with-real-clients.md
// §5). TestUSBUmockdev runs testdata/umockdev_mbim.py, which builds the
// testbed from testdata/em7455.umockdev, emulates usbfs for libusb, and
// re-runs this test binary (TestUSBUmockdevChild) under LD_PRELOAD. The
// MBIM function behind SEND_ENCAPSULATED_COMMAND / GET_ENCAPSULATED_RESPONSE
// is mbimtest's simulator, served here in the parent over a unix socket;
// notifications are injected through a second socket.

const (
	umockdevChildEnv  = "WWAN_UMOCKDEV_CHILD"
	umockdevNotifyEnv = "WWAN_UMOCKDEV_NOTIFY"
	umockdevFirmware  = "UMOCKDEV-EM7455-FW"
	systemPython      = "/usr/bin/python3"
)

// umockdevMissing says what is missing to run the umockdev test, or "".
func umockdevMissing() string {
	var missing []string
	if _, err := os.Stat(systemPython); err != nil {
		missing = append(missing, "python3")
	} else if err := exec.Command(systemPython, "-c",
		"import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev").Run(); err != nil {
		missing = append(missing, "python3-gi and gir1.2-umockdev-1.0 (import gi.repository.UMockdev failed)")
	}
	found := false
	for _, dir := range []string{"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"} {
		if _, err := os.Stat(filepath.Join(dir, "libumockdev-preload.so.0")); err == nil {
			found = true
		}
	}
	if !found {
		missing = append(missing, "umockdev (libumockdev-preload.so.0)")
	}
	if len(missing) == 0 {
		return ""
	}
	return "umockdev test needs " + strings.Join(missing, ", ") +
		" (Debian: apt-get install umockdev python3-gi gir1.2-umockdev-1.0 libusb-1.0-0-dev)"
}

func TestUSBUmockdev(t *testing.T) {
	if os.Getenv(umockdevChildEnv) != "" {
		t.Skip("this is the child run")
	}
	if msg := umockdevMissing(); msg != "" {
		t.Skip(msg)
	}
	dir, err := os.MkdirTemp("", "wwan-umockdev-") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctlPath := filepath.Join(dir, "mbim.sock")
	notePath := filepath.Join(dir, "notify.sock")

	// The MBIM function: mbimtest's simulator, one Serve per connection
	// (the Python bridge connects once).
	dev := mbimtest.DefaultDevice()
	dev.Firmware = umockdevFirmware
	sim := mbimtest.New(mbimtest.WithDevice(dev))
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after the listener and the simulator are closed
	ln, err := net.Listen("unix", ctlPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); sim.Close() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := sim.Serve(t.Context(), mbim.NewConnTransport(c, 4096)); err != nil && t.Context().Err() == nil {
					t.Logf("simulator: %v", err)
				}
			}()
		}
	}()

	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := []string{"testdata/umockdev_mbim.py",
		"--device", "testdata/em7455.umockdev",
		"--control-socket", ctlPath,
		"--notify-socket", notePath,
		"--", os.Args[0], "-test.run", "^TestUSBUmockdevChild$", "-test.v", "-test.count=1"}
	cmd := exec.CommandContext(c, systemPython, args...)
	cmd.Env = append(os.Environ(), umockdevChildEnv+"=1", umockdevNotifyEnv+"="+notePath)
	out, err := cmd.CombinedOutput()
	t.Logf("child run under umockdev:\n%s", out)
	if err != nil {
		t.Fatalf("child run failed: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestUSBUmockdevChild")) {
		t.Fatal("the child test did not pass (skipped?)")
	}
	// The simulator saw the session the child ran.
	if got := sim.Counters(); got.Opens < 1 || got.Closes < 1 || got.Commands < 3 || got.NoDeviceSupport < 1 {
		t.Errorf("the simulator did not see the child's session: %+v", got)
	}
}

// TestUSBUmockdevChild runs inside the umockdev testbed (started by
// TestUSBUmockdev), where libusb sees the fake EM7455.
func TestUSBUmockdevChild(t *testing.T) {
	if os.Getenv(umockdevChildEnv) == "" {
		t.Skip("runs only under TestUSBUmockdev's umockdev testbed")
	}

	t.Run("sysfs", func(t *testing.T) {
		// umockdev's sysfs is plain files under $UMOCKDEV_DIR/sys, which
		// pure-Go code reads directly (the preload library only catches
		// libc calls).
		fs, err := List(filepath.Join(os.Getenv("UMOCKDEV_DIR"), "sys"))
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 1 {
			t.Fatalf("List found %d functions, want 1: %+v", len(fs), fs)
		}
		f := fs[0]
		if f.Path != "/dev/cdc-wdm0" || f.Driver != "cdc_mbim" || f.VendorID != 0x1199 || f.ProductID != 0x9079 ||
			f.Bus != 1 || f.Device != 2 || f.InterfaceNumber != 12 || f.Net != "wwan0" ||
			f.MaxControlMessage != 4096 || f.MTU != 1500 || f.Product != "EM7455" {
			t.Errorf("List: %+v", f)
		}
	})

	u, err := OpenUSB(ctx(t), "usb:1199:9079")
	if err != nil {
		t.Fatalf("OpenUSB: %+v", err)
	}
	defer u.Close()

	t.Run("descriptors", func(t *testing.T) {
		if got := u.Descriptors(); got != em7455Want {
			t.Errorf("descriptors read with GET_DESCRIPTOR:\n got %+v\nwant %+v", got, em7455Want)
		}
		if u.MaxControlTransfer() != 4096 {
			t.Errorf("MaxControlTransfer %d", u.MaxControlTransfer())
		}
	})

	t.Run("open and device caps", func(t *testing.T) {
		if err := u.WriteControl(ctx(t), mbim.AppendOpen(nil, 1, uint32(u.MaxControlTransfer()))); err != nil {
			t.Fatal(err)
		}
		m := readUSBMessage(t, u)
		if m.Type() != mbim.TypeOpenDone || m.TransactionID() != 1 || m.Status() != mbim.StatusSuccess {
			t.Fatalf("got %v tid %d status %v, want OPEN_DONE 1 SUCCESS", m.Type(), m.TransactionID(), m.Status())
		}

		q := mbim.AppendCommand(nil, 2, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)
		if err := u.WriteControl(ctx(t), q); err != nil {
			t.Fatal(err)
		}
		m = readUSBMessage(t, u)
		if m.Type() != mbim.TypeCommandDone || m.TransactionID() != 2 || m.Service() != mbim.ServiceBasicConnect ||
			m.CID() != mbim.CIDDeviceCaps || m.Status() != mbim.StatusSuccess {
			t.Fatalf("got %v tid %d %v/%d status %v", m.Type(), m.TransactionID(), m.Service(), m.CID(), m.Status())
		}
		var caps mbim.DeviceCapsInfo
		if err := caps.Decode(m.InformationBuffer()); err != nil {
			t.Fatal(err)
		}
		if caps.FirmwareInfo.String() != umockdevFirmware || caps.DeviceType != mbim.DeviceTypeRemovable || caps.MaxSessions != 4 {
			t.Errorf("DEVICE_CAPS: %+v", caps)
		}
	})

	t.Run("notifications", func(t *testing.T) {
		c, err := net.Dial("unix", os.Getenv(umockdevNotifyEnv))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var speed [16]byte
		copy(speed[:], []byte{0xa1, 0x2a, 0, 0, 12, 0, 8, 0})
		binary.LittleEndian.PutUint32(speed[8:], 150_000_000)
		binary.LittleEndian.PutUint32(speed[12:], 50_000_000)
		notes := append([]byte{0xa1, 0x00, 1, 0, 12, 0, 0, 0}, speed[:]...)
		if _, err := c.Write(notes); err != nil {
			t.Fatal(err)
		}
		want := []Notification{
			{Type: NetworkConnection, Value: 1, Interface: 12, Connected: true},
			{Type: ConnectionSpeedChange, Interface: 12, DownlinkBitRate: 150_000_000, UplinkBitRate: 50_000_000},
		}
		for _, w := range want {
			select {
			case n := <-u.Notifications():
				if n != w {
					t.Errorf("notification %+v, want %+v", n, w)
				}
			case <-time.After(suiteTimeout):
				t.Fatalf("no %v notification", w.Type)
			}
		}
	})

	t.Run("unsupported command", func(t *testing.T) {
		q := mbim.AppendCommand(nil, 3, mbim.MustParseUUID("00000000-1111-2222-3333-444444444444"), 1, mbim.CommandQuery, nil)
		if err := u.WriteControl(ctx(t), q); err != nil {
			t.Fatal(err)
		}
		if m := readUSBMessage(t, u); m.Type() != mbim.TypeCommandDone || m.TransactionID() != 3 || m.Status() != mbim.StatusNoDeviceSupport {
			t.Errorf("got %v tid %d status %v, want COMMAND_DONE 3 NO_DEVICE_SUPPORT", m.Type(), m.TransactionID(), m.Status())
		}
	})

	t.Run("cancel and deadline", func(t *testing.T) {
		c, cancel := context.WithCancel(context.Background())
		errc := goErr(func() error {
			_, err := u.ReadControl(c, make([]byte, 64))
			return err
		})
		time.Sleep(20 * time.Millisecond)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("read: %v, want context.Canceled", err)
		}
		c, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if _, err := u.ReadControl(c, make([]byte, 64)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("read: %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("oversize write", func(t *testing.T) {
		big := mbim.AppendCommand(nil, 4, mbim.ServiceBasicConnect, 12, mbim.CommandSet, make([]byte, 4096-48+1))
		if err := u.WriteControl(ctx(t), big); !errors.Is(err, mbim.ErrTooLarge) {
			t.Errorf("WriteControl(4097 bytes): %v, want mbim.ErrTooLarge", err)
		}
	})

	t.Run("small reads", func(t *testing.T) {
		// A read buffer smaller than the response gets it in pieces.
		if err := u.WriteControl(ctx(t), mbim.AppendCommand(nil, 5, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)); err != nil {
			t.Fatal(err)
		}
		var stream []byte
		small := make([]byte, 7)
		for {
			n, err := u.ReadControl(ctx(t), small)
			if err != nil {
				t.Fatal(err)
			}
			stream = append(stream, small[:n]...)
			if m, _, err := mbim.NextMessage(stream); err == nil {
				if m.TransactionID() != 5 || m.Status() != mbim.StatusSuccess {
					t.Errorf("got tid %d status %v", m.TransactionID(), m.Status())
				}
				break
			}
		}
	})

	t.Run("reset function", func(t *testing.T) {
		if err := u.Reset(ctx(t)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("close", func(t *testing.T) {
		errc := goErr(func() error {
			_, err := u.ReadControl(context.Background(), make([]byte, 64))
			return err
		})
		time.Sleep(20 * time.Millisecond)
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, mbim.ErrClosed) {
			t.Errorf("blocked read: %v, want mbim.ErrClosed", err)
		}
		if err := u.WriteControl(ctx(t), mbim.AppendClose(nil, 9)); !errors.Is(err, mbim.ErrClosed) {
			t.Errorf("write after Close: %v", err)
		}
		if _, ok := <-u.Notifications(); ok {
			t.Error("Notifications still open after Close")
		}
		if err := u.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("by bus and address", func(t *testing.T) {
		u2, err := OpenUSB(ctx(t), "usb:1.2")
		if err != nil {
			t.Fatalf("OpenUSB(usb:1.2): %+v", err)
		}
		defer u2.Close()
		if err := u2.WriteControl(ctx(t), mbim.AppendClose(nil, 10)); err != nil {
			t.Fatal(err)
		}
		if m := readUSBMessage(t, u2); m.Type() != mbim.TypeCloseDone || m.TransactionID() != 10 {
			t.Errorf("got %v tid %d, want CLOSE_DONE 10", m.Type(), m.TransactionID())
		}
	})

	t.Run("not found", func(t *testing.T) {
		if _, err := OpenUSB(ctx(t), "usb:1199:0001"); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenUSB of an absent device: %v, want ErrNotFound", err)
		}
	})
}

// readUSBMessage reads one whole message, skipping indications.
func readUSBMessage(t *testing.T, u *USB) mbim.Message {
	t.Helper()
	buf := make([]byte, u.MaxControlTransfer())
	for {
		n, err := u.ReadControl(ctx(t), buf)
		if err != nil {
			t.Fatalf("ReadControl: %+v", err)
		}
		m, err := mbim.ParseMessage(buf[:n])
		if err != nil {
			t.Fatalf("a read returned %d bytes that are not one message: %v", n, err)
		}
		if m.Type() == mbim.TypeIndicateStatus {
			continue
		}
		return m
	}
}
