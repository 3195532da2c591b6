//go:build linux

package mbimtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/gowwan/wwan/mbim"
)

// ptyState is the pseudo-terminal a Sim serves on: the master is the
// function's end of the control channel, /dev/pts/N the node clients open.
type ptyState struct {
	mu     sync.Mutex
	master *os.File
	slave  *os.File // held open so the master never reads EIO between clients
	path   string
	closed bool
}

func (p *ptyState) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.closeFiles()
}

func (p *ptyState) closeFiles() {
	if p.master != nil {
		_ = p.master.Close()
	}
	if p.slave != nil {
		_ = p.slave.Close()
	}
}

// ioctl runs an ioctl on f without putting it in blocking mode (as Fd
// would, which disables deadlines).
func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// openPTY opens a new pty pair with the slave in raw mode.
func openPTY() (master, slave *os.File, path string, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, "", err
	}
	fail := func(e error) (*os.File, *os.File, string, error) {
		_ = master.Close()
		if slave != nil {
			_ = slave.Close()
		}
		return nil, nil, "", e
	}
	var unlock int32
	if err := ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		return fail(fmt.Errorf("unlock pty: %w", err))
	}
	var n uint32
	if err := ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		return fail(fmt.Errorf("pty number: %w", err))
	}
	path = "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	slave, err = os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	// cfmakeraw: no echo, no line editing, no CR/NL translation, 8 bits.
	// Without it the line discipline mangles the binary replies.
	var t syscall.Termios
	if err := ioctl(slave, syscall.TCGETS, unsafe.Pointer(&t)); err != nil {
		return fail(fmt.Errorf("tcgets: %w", err))
	}
	t.Iflag &^= syscall.IGNBRK | syscall.BRKINT | syscall.PARMRK | syscall.ISTRIP | syscall.INLCR | syscall.IGNCR | syscall.ICRNL | syscall.IXON
	t.Oflag &^= syscall.OPOST
	t.Lflag &^= syscall.ECHO | syscall.ECHONL | syscall.ICANON | syscall.ISIG | syscall.IEXTEN
	t.Cflag &^= syscall.CSIZE | syscall.PARENB
	t.Cflag |= syscall.CS8
	t.Cc[syscall.VMIN] = 1
	t.Cc[syscall.VTIME] = 0
	if err := ioctl(slave, syscall.TCSETS, unsafe.Pointer(&t)); err != nil {
		return fail(fmt.Errorf("tcsets: %w", err))
	}
	return master, slave, path, nil
}

// ServePTY serves hosts on a new pseudo-terminal in raw mode and returns
// the path of its node (/dev/pts/N, or the WithPTYLink path): the test
// double of /dev/cdc-wdmN that real clients (mbimcli -d, qmicli
// --device-open-mbim, mbim-proxy) open unmodified. Clients come and go; the
// function keeps the slave side open so that nothing is lost between them,
// and the MBIM session outlives them as it does on hardware. Clients must
// take turns: two at once read each other's replies, as on a real node.
//
// A Reset with CloseTransport hangs up the current clients and serves a
// new pty (PTYPath tells its path). ServePTY may be called once per Sim.
func (s *Sim) ServePTY() (string, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return "", ErrSimClosed
	}
	if s.pty != nil {
		s.mu.Unlock()
		return "", errors.New("mbimtest: ServePTY already called")
	}
	p := &ptyState{}
	s.pty = p
	s.mu.Unlock()

	if err := s.reopenPTY(p); err != nil {
		s.mu.Lock()
		s.pty = nil
		s.mu.Unlock()
		return "", err
	}
	s.wg.Add(1)
	go s.servePTY(p)
	if s.ptyLink != "" {
		return s.ptyLink, nil
	}
	return p.path, nil
}

// reopenPTY replaces the pty pair (and re-points the link).
func (s *Sim) reopenPTY(p *ptyState) error {
	m, sl, path, err := openPTY()
	if err != nil {
		return fmt.Errorf("mbimtest: pty: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = m.Close()
		_ = sl.Close()
		return ErrSimClosed
	}
	p.closeFiles()
	p.master, p.slave, p.path = m, sl, path
	if s.ptyLink != "" {
		tmp := filepath.Join(filepath.Dir(s.ptyLink), "."+filepath.Base(s.ptyLink)+".tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(path, tmp); err != nil {
			return fmt.Errorf("mbimtest: pty link: %w", err)
		}
		if err := os.Rename(tmp, s.ptyLink); err != nil {
			return fmt.Errorf("mbimtest: pty link: %w", err)
		}
	}
	return nil
}

func (s *Sim) servePTY(p *ptyState) {
	defer s.wg.Done()
	defer func() {
		if s.ptyLink != "" {
			_ = os.Remove(s.ptyLink)
		}
	}()
	for {
		p.mu.Lock()
		t := &fileTransport{f: p.master}
		p.mu.Unlock()
		_ = s.Serve(s.ctx, t)
		if s.ctx.Err() != nil {
			return
		}
		// The transport was hung up (Reset with CloseTransport) or broke:
		// a modem back on the bus gets a new node.
		if err := s.reopenPTY(p); err != nil {
			return
		}
	}
}

// PTYPath returns the node of the pty being served ("" before ServePTY).
func (s *Sim) PTYPath() string {
	s.mu.Lock()
	p := s.pty
	s.mu.Unlock()
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.path
}

// fileTransport is the function's end of a pty as an mbim.Transport.
type fileTransport struct {
	f         *os.File
	closeOnce sync.Once
}

func (t *fileTransport) ReadControl(ctx context.Context, p []byte) (int, error) {
	for {
		stop := func() bool { return true }
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, func() { _ = t.f.SetReadDeadline(time.Unix(1, 0)) })
		}
		n, err := t.f.Read(p)
		if !stop() {
			_ = t.f.SetReadDeadline(time.Time{})
		}
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			// A deadline left over from a finished context: clear it and
			// read again.
			_ = t.f.SetReadDeadline(time.Time{})
			if n > 0 {
				return n, nil
			}
			continue
		case errors.Is(err, os.ErrClosed):
			return n, mbim.ErrClosed
		case errors.Is(err, syscall.EIO):
			return n, io.EOF
		}
		return n, err
	}
}

func (t *fileTransport) WriteControl(ctx context.Context, p []byte) error {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { _ = t.f.SetWriteDeadline(time.Unix(1, 0)) })
		defer func() {
			if !stop() {
				_ = t.f.SetWriteDeadline(time.Time{})
			}
		}()
	}
	_, err := t.f.Write(p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, os.ErrClosed):
		return mbim.ErrClosed
	}
	return err
}

// MaxControlTransfer is the write limit of this end: none of its own (the
// host's MaxControlTransfer governs what the function writes).
func (t *fileTransport) MaxControlTransfer() int { return 1 << 30 }

// Close closes the master, which hangs up the clients; the Sim then opens
// a new pty unless it is closing.
func (t *fileTransport) Close() error {
	var err error
	t.closeOnce.Do(func() { err = t.f.Close() })
	return err
}
