package handoff_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
)

func dnsServers(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestDNSTargetFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	target := handoff.DNSTarget{File: path}
	ctx := context.Background()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	servers := dnsServers("192.0.2.53", "192.0.2.54", "2001:db8::53")
	must(target.Apply(ctx, "wwan0", servers))
	got, err := os.ReadFile(path)
	must(err)
	want := "# Written by wwan for wwan0. wwan replaces this file whenever the modem's DNS servers change.\n" +
		"nameserver 192.0.2.53\nnameserver 192.0.2.54\nnameserver 2001:db8::53\n"
	if string(got) != want {
		t.Fatalf("file = %q, want %q", got, want)
	}
	fi, err := os.Stat(path)
	must(err)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}

	// The same servers again: the file is left alone (same inode, same
	// modification time).
	time.Sleep(10 * time.Millisecond)
	must(target.Apply(ctx, "wwan0", servers))
	fi2, err := os.Stat(path)
	must(err)
	if !os.SameFile(fi, fi2) || !fi.ModTime().Equal(fi2.ModTime()) {
		t.Errorf("an unchanged configuration rewrote the file")
	}

	// Other servers: a new file renamed over the old one (another
	// inode), no temporary file left behind.
	must(target.Apply(ctx, "wwan0", dnsServers("2001:db8::54")))
	fi3, err := os.Stat(path)
	must(err)
	if os.SameFile(fi, fi3) {
		t.Errorf("the file was rewritten in place, not replaced")
	}
	entries, err := os.ReadDir(dir)
	must(err)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only resolv.conf", len(entries))
	}

	// No servers: the header alone.
	must(target.Apply(ctx, "wwan0", nil))
	got, _ = os.ReadFile(path)
	if !strings.HasPrefix(string(got), "# Written by wwan") || strings.Contains(string(got), "nameserver") {
		t.Errorf("file without servers = %q", got)
	}

	if err := target.Apply(ctx, "wwan0", []netip.Addr{{}}); err == nil {
		t.Errorf("an invalid server was accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := target.Apply(cancelled, "wwan0", servers); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if err := (handoff.DNSTarget{File: filepath.Join(dir, "missing", "resolv.conf")}).Apply(ctx, "wwan0", servers); err == nil ||
		!strings.HasPrefix(err.Error(), "handoff: set dns on wwan0: ") {
		t.Errorf("a file in a missing directory: %v", err)
	}
	if err := (handoff.DNSTarget{}).Apply(ctx, "wwan0", servers); err != nil {
		t.Errorf("the zero target: %v", err)
	}
}

// A reader never sees a part of the file: every read is one of the
// complete versions written.
func TestDNSTargetFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	target := handoff.DNSTarget{File: path}
	versions := [][]netip.Addr{
		dnsServers("192.0.2.1", "192.0.2.2", "192.0.2.3"),
		dnsServers("2001:db8::1", "2001:db8::2"),
	}
	valid := map[string]bool{}
	for _, v := range versions {
		valid[string(handoff.ResolvConf("wwan0", v))] = true
	}
	if err := target.Apply(context.Background(), "wwan0", versions[0]); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var reads, bad int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(path)
			reads++
			if err != nil || !valid[string(b)] {
				bad++
			}
			runtime.Gosched()
		}
	}()
	for i := range 100 {
		if err := target.Apply(context.Background(), "wwan0", versions[(i+1)%2]); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if bad != 0 {
		t.Errorf("%d of %d reads saw a missing or partial file", bad, reads)
	}
}

func TestDNSTargetFileSymlink(t *testing.T) {
	dir := t.TempDir()
	realFile := filepath.Join(dir, "run", "resolv.conf")
	if err := os.Mkdir(filepath.Dir(realFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(realFile, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "resolv.conf")
	if err := os.Symlink(realFile, link); err != nil {
		t.Fatal(err)
	}
	if err := (handoff.DNSTarget{File: link}).Apply(context.Background(), "wwan0", dnsServers("192.0.2.53")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced by a file")
	}
	got, _ := os.ReadFile(realFile)
	if !bytes.Contains(got, []byte("nameserver 192.0.2.53\n")) {
		t.Errorf("the link's target holds %q", got)
	}
}

func TestDNSTargetHook(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	target := handoff.DNSTarget{
		Hook: []string{sh, "-c", `printf '%s|%s|%s' "$WWAN_EVENT" "$WWAN_IFACE" "$WWAN_DNS" > "$0"`, out},
	}
	if err := target.Apply(context.Background(), "wwan1", dnsServers("192.0.2.53", "2001:db8::53")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != "dns|wwan1|192.0.2.53 2001:db8::53" {
		t.Errorf("hook saw %q", got)
	}

	// A failing hook: its exit status and (bounded) output in the error.
	fail := handoff.DNSTarget{Hook: []string{sh, "-c", `echo "no resolver here" >&2; exit 3`}}
	err = fail.Apply(context.Background(), "wwan1", nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "no resolver here") {
		t.Errorf("failing hook: %v", err)
	}

	// A hook that hangs, with a child holding its output: killed at the
	// timeout, and we do not wait for the child.
	hang := handoff.DNSTarget{Hook: []string{sh, "-c", `sleep 30 & sleep 30`}, HookTimeout: 100 * time.Millisecond}
	start := time.Now()
	err = hang.Apply(context.Background(), "wwan1", nil)
	if took := time.Since(start); err == nil || took > 5*time.Second {
		t.Errorf("hanging hook: %v after %v", err, took)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hanging hook error %v does not say deadline exceeded", err)
	}

	missing := handoff.DNSTarget{Hook: []string{filepath.Join(dir, "no-such-hook")}}
	if err := missing.Apply(context.Background(), "wwan1", nil); err == nil {
		t.Errorf("a missing hook succeeded")
	}
}
