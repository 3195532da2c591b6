package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// DefaultDNSHookTimeout bounds one run of a DNS hook when DNSTarget.HookTimeout
// is zero.
const DefaultDNSHookTimeout = 10 * time.Second

// DNSTarget says where SetDNS puts the servers the modem gave. The zero
// value puts them nowhere: SetDNS then succeeds and writes nothing.
//
// File and Hook may both be set; the file is written first.
type DNSTarget struct {
	// File is a resolv.conf-style file that SetDNS replaces atomically (a
	// temporary file in the same directory, then a rename), with a header
	// comment saying wwan wrote it and one "nameserver" line per server.
	// If File is a symbolic link, the file it points to is replaced and the
	// link stays. A file that already holds exactly that text is left alone.
	File string
	// Hook is a command, as argv (no shell), that SetDNS runs with the
	// environment variables WWAN_EVENT=dns, WWAN_IFACE and WWAN_DNS (the
	// servers in order, separated by spaces) added to its own.
	Hook []string
	// HookTimeout bounds one run of Hook; 0 means DefaultDNSHookTimeout.
	HookTimeout time.Duration
}

// IsZero reports a target that puts the servers nowhere.
func (d DNSTarget) IsZero() bool { return d.File == "" && len(d.Hook) == 0 }

// dnsResult says what one apply did, for the host's counters.
type dnsResult struct {
	fileWritten bool
	hookRun     bool
}

// Apply writes servers to the target for the interface iface (used in
// the file's header and the hook's environment). It is what
// LinuxHost.SetDNS does, for callers without a LinuxHost.
func (d DNSTarget) Apply(ctx context.Context, iface string, servers []netip.Addr) error {
	_, err := d.apply(ctx, iface, servers)
	return err
}

func (d DNSTarget) apply(ctx context.Context, iface string, servers []netip.Addr) (dnsResult, error) {
	var res dnsResult
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("handoff: set dns on %s: %w", iface, err)
	}
	for _, s := range servers {
		if !s.IsValid() {
			return res, fmt.Errorf("handoff: set dns on %s: invalid server address", iface)
		}
	}
	if d.File != "" {
		written, err := writeResolvConf(d.File, iface, servers)
		res.fileWritten = written
		if err != nil {
			return res, fmt.Errorf("handoff: set dns on %s: %w", iface, err)
		}
	}
	if len(d.Hook) > 0 {
		res.hookRun = true
		if err := runDNSHook(ctx, d.Hook, d.HookTimeout, iface, servers); err != nil {
			return res, fmt.Errorf("handoff: set dns on %s: %w", iface, err)
		}
	}
	return res, nil
}

// ResolvConf returns the text SetDNS writes to a DNSTarget.File.
func ResolvConf(iface string, servers []netip.Addr) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by wwan for %s. wwan replaces this file whenever the modem's DNS servers change.\n", iface)
	for _, s := range servers {
		b.WriteString("nameserver ")
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// writeResolvConf replaces path with the servers' resolv.conf text, unless
// it already holds exactly that text. It reports whether it wrote.
func writeResolvConf(path, iface string, servers []netip.Addr) (bool, error) {
	target := path
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		resolved, err := filepath.EvalSymlinks(path)
		if err != nil {
			return false, fmt.Errorf("resolve %s: %w", path, err)
		}
		target = resolved
	}
	text := ResolvConf(iface, servers)
	if old, err := os.ReadFile(target); err == nil && bytes.Equal(old, text) {
		return false, nil
	}
	if err := writeFileAtomic(target, text, 0o644); err != nil {
		return true, err
	}
	return true, nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so a reader sees the old text or the new, never a
// part. The temporary file is removed on any failure.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".wwan-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Make the rename itself durable; a failure here loses nothing a
	// reader could see, so it is not reported.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// hookOutputMax bounds how much of a failed hook's output goes into the
// error.
const hookOutputMax = 1024

func runDNSHook(ctx context.Context, argv []string, timeout time.Duration, iface string, servers []netip.Addr) error {
	if timeout <= 0 {
		timeout = DefaultDNSHookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	list := make([]string, len(servers))
	for i, s := range servers {
		list[i] = s.String()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(),
		"WWAN_EVENT=dns",
		"WWAN_IFACE="+iface,
		"WWAN_DNS="+strings.Join(list, " "),
	)
	out := &limitedBuffer{max: hookOutputMax}
	cmd.Stdout = out
	cmd.Stderr = out
	// A hook that leaves a child holding its output open must not hold
	// us: stop waiting for the output shortly after the hook is gone.
	cmd.WaitDelay = time.Second
	setHookProcessGroup(cmd)

	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (after %v)", context.DeadlineExceeded, timeout)
	}
	if msg := strings.TrimSpace(out.String()); msg != "" {
		return fmt.Errorf("hook %s: %w: %s", argv[0], err, msg)
	}
	return fmt.Errorf("hook %s: %w", argv[0], err)
}

// limitedBuffer keeps the first max bytes written to it and discards the
// rest, so a chatty hook cannot grow our memory.
type limitedBuffer struct {
	max int
	b   []byte
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
