// Package proxy speaks libmbim's mbim-proxy protocol: Dial connects to a
// running proxy (Debian's /usr/libexec/mbim-proxy, or our own daemon) so
// that several programs share one control port.
//
// The protocol is plain MBIM over the abstract unix socket "@mbim-proxy",
// preceded by one Proxy Control CONFIGURATION set that names the device.
// The proxy answers OPEN and CLOSE itself and forwards everything else,
// mapping transaction ids.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// SocketName is the abstract socket libmbim's proxy listens on. Abstract
// sockets belong to a network namespace, so a proxy in a private namespace
// serves only that namespace.
const SocketName = "@mbim-proxy"

// DefaultProxyPath is where Debian installs libmbim's proxy.
const DefaultProxyPath = "/usr/libexec/mbim-proxy"

// Options tune Dial.
type Options struct {
	// Timeout is what the proxy uses for its own OPEN of the device
	// (seconds on the wire); 30 s when zero.
	Timeout time.Duration
	// Spawn starts the proxy (ProxyPath) when nobody listens, as libmbim
	// clients do, and retries the connection for up to a second.
	Spawn     bool
	ProxyPath string
	// MaxControlTransfer announced to the Device; 4096 when zero (the proxy
	// reassembles and fragments for the device itself).
	MaxControlTransfer int
	// Socket overrides SocketName (tests use a private name).
	Socket string
}

// Transport is a Transport to a device through a proxy. Version is the
// MBIMEx version the proxy had already agreed with the device, if it said
// so (a Proxy Control VERSION indication); 0 otherwise.
type Transport struct {
	*mbim.ConnTransport
	pending []byte // bytes read past the CONFIGURATION answer
	Version mbim.Version
}

// ReadControl returns bytes read during the handshake first.
func (t *Transport) ReadControl(ctx context.Context, p []byte) (int, error) {
	if len(t.pending) > 0 {
		n := copy(p, t.pending)
		t.pending = t.pending[n:]
		return n, nil
	}
	return t.ConnTransport.ReadControl(ctx, p)
}

// ErrConfigurationRefused means the proxy answered CONFIGURATION with an
// error status, or closed the connection (it does so when it cannot open
// the device).
var ErrConfigurationRefused = errors.New("proxy: configuration refused")

// Dial connects to the proxy and binds the connection to devicePath.
func Dial(ctx context.Context, devicePath string, o Options) (*Transport, error) {
	conn, err := dial(ctx, o)
	if err != nil {
		return nil, err
	}
	t := &Transport{ConnTransport: mbim.NewConnTransport(conn, o.MaxControlTransfer)}
	if err := t.configure(ctx, devicePath, o.Timeout); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func dial(ctx context.Context, o Options) (net.Conn, error) {
	var d net.Dialer
	socket := o.Socket
	if socket == "" {
		socket = SocketName
	}
	conn, err := d.DialContext(ctx, "unix", socket)
	if err == nil || !o.Spawn {
		if err != nil {
			return nil, fmt.Errorf("proxy: connect to %s: %w (is mbim-proxy running?)", socket, err)
		}
		return conn, nil
	}
	path := o.ProxyPath
	if path == "" {
		path = DefaultProxyPath
	}
	cmd := exec.Command(path)
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("proxy: start %s: %w", path, err)
	}
	go cmd.Wait() // reap it if it exits while we run
	for i := 0; i < 10; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if conn, err = d.DialContext(ctx, "unix", socket); err == nil {
			return conn, nil
		}
	}
	return nil, fmt.Errorf("proxy: %s started but %s does not answer: %w", path, socket, err)
}

// configure sends CONFIGURATION and waits for its answer, noting a VERSION
// indication that may come first.
func (t *Transport) configure(ctx context.Context, devicePath string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	req := mbim.ProxyControlConfigurationSet{DevicePath: mbim.NewString(devicePath), Timeout: uint32(timeout / time.Second)}
	msg, err := mbim.AppendCommandInfo(nil, 1, mbim.ServiceProxyControl, mbim.CIDProxyControlConfiguration, mbim.CommandSet, &req)
	if err != nil {
		return err
	}
	if err := t.ConnTransport.WriteControl(ctx, msg); err != nil {
		return fmt.Errorf("proxy: send configuration: %w", err)
	}
	buf := make([]byte, 0, 4096)
	chunk := make([]byte, 4096)
	for {
		for {
			m, n, err := mbim.NextMessage(buf)
			if errors.Is(err, mbim.ErrIncomplete) {
				break
			}
			if err != nil {
				return fmt.Errorf("proxy: bad answer to configuration: %w", err)
			}
			done, err := t.handshakeMessage(m)
			buf = buf[n:]
			if done {
				t.pending = append([]byte(nil), buf...)
				return err
			}
		}
		n, err := t.ConnTransport.ReadControl(ctx, chunk)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, mbim.ErrClosed) {
				return fmt.Errorf("%w: the proxy closed the connection (it could not open %s): %v", ErrConfigurationRefused, devicePath, err)
			}
			return err
		}
		buf = append(buf, chunk[:n]...)
	}
}

func (t *Transport) handshakeMessage(m mbim.Message) (done bool, err error) {
	if m.Service() != mbim.ServiceProxyControl {
		return false, nil
	}
	switch {
	case m.Type() == mbim.TypeIndicateStatus && m.CID() == mbim.CIDProxyControlVersion:
		var v mbim.ProxyControlVersionInfo
		if v.Decode(m.InformationBuffer()) == nil {
			t.Version = mbim.Version(v.MbimExtendedVersion)
		}
	case m.Type() == mbim.TypeCommandDone && m.CID() == mbim.CIDProxyControlConfiguration:
		if s := m.Status(); s != mbim.StatusSuccess {
			return true, fmt.Errorf("%w: status %s", ErrConfigurationRefused, s.String())
		}
		return true, nil
	}
	return false, nil
}
