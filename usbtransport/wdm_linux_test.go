//go:build linux

package usbtransport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gowwan/wwan/mbim"
)

// openPTY opens a pty pair in raw mode, as the simulator does for real
// clients (testing-with-real-clients.md §1a). It returns the master, which
// plays the modem, and the path of the slave, which a WDM opens like
// /dev/cdc-wdmN. The test keeps a slave fd open so the master never sees a
// hangup between clients.
func openPTY(t *testing.T) (master *os.File, slave string) {
	t.Helper()
	fd, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	ioctl := func(req uintptr, arg unsafe.Pointer) {
		t.Helper()
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); e != 0 {
			syscall.Close(fd)
			t.Fatalf("ioctl %#x: %v", req, e)
		}
	}
	var unlock int32
	ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	var n uint32
	ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	var tio syscall.Termios // cfmakeraw
	ioctl(syscall.TCGETS, unsafe.Pointer(&tio))
	tio.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON
	tio.Oflag &^= syscall.OPOST
	tio.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	tio.Cflag &^= syscall.CSIZE | syscall.PARENB
	tio.Cflag |= syscall.CS8
	tio.Cc[syscall.VMIN], tio.Cc[syscall.VTIME] = 1, 0
	ioctl(syscall.TCSETS, unsafe.Pointer(&tio))

	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	slave = fmt.Sprintf("/dev/pts/%d", n)
	hold, err := os.OpenFile(slave, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { hold.Close(); master.Close() })
	return master, slave
}

// ptyPeer is the modem end of a pty.
type ptyPeer struct{ f *os.File }

func (p ptyPeer) Send(b []byte) error {
	p.f.SetWriteDeadline(time.Now().Add(suiteTimeout))
	_, err := p.f.Write(b)
	return err
}

func (p ptyPeer) Recv(n int) ([]byte, error) {
	p.f.SetReadDeadline(time.Now().Add(suiteTimeout))
	b := make([]byte, n)
	_, err := io.ReadFull(p.f, b)
	return b, err
}

func TestConformanceWDMOnPTY(t *testing.T) {
	runTransportConformance(t, func(t *testing.T) (mbim.Transport, peer) {
		master, slave := openPTY(t)
		w, err := openWDM(slave, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w, ptyPeer{master}
	})
}

func TestWDMMaxControlOnPTY(t *testing.T) {
	_, slave := openPTY(t)
	t.Run("default", func(t *testing.T) {
		w, err := openWDM(slave, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if w.MaxControlTransfer() != 4096 || w.MaxControlSource() != "default" || !w.stream {
			t.Errorf("max %d from %q, stream %v; want 4096 from default on a tty", w.MaxControlTransfer(), w.MaxControlSource(), w.stream)
		}
	})
	t.Run("descriptors", func(t *testing.T) {
		// A node named cdc-wdm0 (a symlink to the pty) whose sysfs
		// descriptors say wMaxControlMessage 1024: the ioctl fails with
		// ENOTTY and the descriptors file is read, as libmbim does.
		root := fakeSysfs(t)
		desc := filepath.Join(root, "devices/pci0000:00/0000:00:14.0/usb2/2-3/descriptors")
		small := bytes.Replace(em7455, []byte{0x0c, 0x24, 0x1b, 0x00, 0x01, 0x00, 0x10}, []byte{0x0c, 0x24, 0x1b, 0x00, 0x01, 0x00, 0x04}, 1)
		if err := os.WriteFile(desc, small, 0o644); err != nil {
			t.Fatal(err)
		}
		node := filepath.Join(t.TempDir(), "cdc-wdm0")
		if err := os.Symlink(slave, node); err != nil {
			t.Fatal(err)
		}
		w, err := openWDM(node, root)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if w.MaxControlTransfer() != 1024 || w.MaxControlSource() != "descriptors" {
			t.Errorf("max %d from %q, want 1024 from descriptors", w.MaxControlTransfer(), w.MaxControlSource())
		}
		big := mbim.AppendCommand(nil, 1, mbim.ServiceBasicConnect, 1, mbim.CommandSet, make([]byte, 1024-48+1))
		if err := w.WriteControl(ctx(t), big); !errors.Is(err, mbim.ErrTooLarge) || !strings.Contains(err.Error(), "limit of 1024 bytes") {
			t.Errorf("1025-byte write: %v", err)
		}
	})
}

func TestOpenWDMErrors(t *testing.T) {
	t.Run("not found", func(t *testing.T) {
		_, err := OpenWDM("/dev/cdc-wdm-does-not-exist")
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want ErrNotFound and os.ErrNotExist", err)
		}
		if got := err.Error(); got != "usbtransport: /dev/cdc-wdm-does-not-exist not found (is the modem plugged in and its driver bound?)" {
			t.Errorf("message %q", got)
		}
		if !strings.Contains(fmt.Sprintf("%+v", err), "usbtransport.openError") {
			t.Errorf("%%+v has no stack:\n%+v", err)
		}
	})
	t.Run("busy", func(t *testing.T) {
		err := openError("/dev/cdc-wdm0", syscall.EBUSY)
		if !errors.Is(err, ErrBusy) || !errors.Is(err, syscall.EBUSY) {
			t.Fatalf("err = %v, want ErrBusy and EBUSY", err)
		}
		if got, want := err.Error(), "usbtransport: /dev/cdc-wdm0 is busy (held by another process, maybe mbim-proxy or ModemManager): use --proxy"; got != want {
			t.Errorf("message %q, want %q", got, want)
		}
		var pe *os.PathError
		if !errors.As(err, &pe) || pe.Path != "/dev/cdc-wdm0" {
			t.Errorf("no *os.PathError in %v", err)
		}
	})
	t.Run("regular file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "cdc-wdm0")
		os.WriteFile(p, nil, 0o644)
		if _, err := OpenWDM(p); err == nil || !strings.Contains(err.Error(), "is not a character device") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("not pollable", func(t *testing.T) {
		if _, err := OpenWDM("/dev/null"); err == nil || !strings.Contains(err.Error(), "cannot be polled") {
			t.Errorf("err = %v", err)
		}
	})
}

// A tty peer that hangs up ends the stream: the next read reports io.EOF.
func TestWDMHangup(t *testing.T) {
	fd, err := syscall.Open("/dev/ptmx", syscall.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	var unlock int32
	var n uint32
	syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock)))
	syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n)))
	w, err := OpenWDM(fmt.Sprintf("/dev/pts/%d", n))
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	defer w.Close()
	errc := goErr(func() error {
		_, err := w.ReadControl(ctx(t), make([]byte, 64))
		return err
	})
	time.Sleep(20 * time.Millisecond)
	syscall.Close(fd)
	if err := <-errc; !errors.Is(err, io.EOF) {
		t.Fatalf("read after hangup: %v, want io.EOF", err)
	}
}
