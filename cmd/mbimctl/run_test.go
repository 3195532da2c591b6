package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

// isolateRun keeps the machine's settings out of a run test.
func isolateRun(t *testing.T) {
	t.Helper()
	for _, v := range []string{deviceEnv, passwordEnv, pinEnv} {
		unsetenv(t, v)
	}
	old := sysfsRoot
	sysfsRoot = t.TempDir()
	t.Cleanup(func() { sysfsRoot = old })
}

func writeFile(t *testing.T, name, text string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// Bad values are refused with exit code 2 before anything is opened: the
// device named does not exist, and the error is about the value, not the
// device (which would be exit 3).
func TestRunRefusesBadValues(t *testing.T) {
	isolateRun(t)
	nodev := "/dev/cdc-wdm-does-not-exist"
	pin := writeFile(t, "pin", "12a4\n", 0o600)
	shortPin := writeFile(t, "pin", "123\n", 0o600)
	badKey := writeFile(t, "bad.conf", "apn = internet\nfrobnicate = 3\n", 0o600)
	pwKey := writeFile(t, "pw.conf", "password = hunter2\n", 0o600)
	shortKey := writeFile(t, "short.conf", "d = /dev/cdc-wdm0\n", 0o600)
	longAPN := writeFile(t, "apn.conf", "apn = "+strings.Repeat("x", 101)+"\n", 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--apn", strings.Repeat("a", 101)}, "at most 100"},
		{[]string{"--config", longAPN}, "at most 100"},
		{[]string{"--pin-file", pin}, "only digits"},
		{[]string{"--pin-file", shortPin}, "4 to 8 digits"},
		{[]string{"--ip-type", "ipv5"}, "unknown --ip-type"},
		{[]string{"--auth", "kerberos"}, "unknown --auth"},
		{[]string{"--auth", "pap"}, "needs --user"},
		{[]string{"--session", "300"}, "0 to 255"},
		{[]string{"--dns", "dhcp"}, "want none, file:PATH or hook:PATH"},
		{[]string{"--dns", "hook:/nonexistent/dns-hook"}, "no such file"},
		{[]string{"--hook", "/nonexistent/hook"}, "no such file"},
		{[]string{"--route-table", "255"}, "local table"},
		{[]string{"--route-metric", "-1"}, "whole number"},
		{[]string{"--interface", "wwan/0"}, "not allowed"},
		{[]string{"--interface", "a-very-long-interface-name"}, "1 to 15"},
		{[]string{"--sim-step", "1s"}, "for -d sim"},
		{[]string{"--metrics-listen", "9426"}, "host:port"},
		{[]string{"--config", badKey}, `bad.conf:2: unknown key "frobnicate"`},
		{[]string{"--config", pwKey}, "password-file"},
		{[]string{"--config", shortKey}, "write device"},
		{[]string{"--config", "/nonexistent/wwan.conf"}, "no such file"},
		{[]string{"extra-argument"}, "unexpected argument"},
	} {
		args := append([]string{"run", "-d", nodev}, c.args...)
		out, errOut, code := runCLI(t, "", args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("mbimctl %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(args[1:], " "), code, errOut, c.want)
		}
		if strings.Contains(errOut, "12a4") || strings.Contains(errOut, "hunter2") {
			t.Errorf("mbimctl %s: a secret in the message: %q", strings.Join(args[1:], " "), errOut)
		}
	}
	// The same values in a sim run: refused before the simulated modem
	// starts, too.
	_, errOut, code := runCLI(t, "", "run", "-d", "sim", "--ip-type", "ipv5")
	if code != exitUsage || strings.Contains(errOut, "modem open") {
		t.Errorf("run -d sim --ip-type ipv5: exit %d, %q", code, errOut)
	}
}

// The configuration file: keys are the long flag names, the command line
// wins, switches read yes/no.
func TestRunConfigFile(t *testing.T) {
	isolateRun(t)
	pw := writeFile(t, "password", "s3cret\n", 0o600)
	conf := writeFile(t, "wwan.conf", `# the router's modem
device = /dev/cdc-wdm0
apn = internet.example
auth = chap
user = alice
password-file = `+pw+`
ip-type = ipv4
session = 2
interface = wwan0.2
route-metric = 650
route-table = 100
dns = "file:/run/wwan/resolv.conf"
disconnect-on-exit = yes
dhcp = off
verbose = no
`, 0o600)
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	o := newRunOptions(fs)
	if err := fs.Parse([]string{"--config", conf, "--route-metric", "600", "-d", "/dev/cdc-wdm1"}); err != nil {
		t.Fatal(err)
	}
	entries, err := readConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyConfig(fs, entries, conf); err != nil {
		t.Fatal(err)
	}
	p, err := o.check(&env{stdin: strings.NewReader("")})
	if err != nil {
		t.Fatal(err)
	}
	want := handoff.ConnectSettings{Session: 2, APN: "internet.example", User: "alice", Password: "s3cret",
		Auth: mbim.AuthProtocolChap, IPType: mbim.ContextIpTypeIpv4}
	if p.settings != want {
		t.Errorf("settings %v, want %v", p.settings, want)
	}
	if p.target.path != "/dev/cdc-wdm1" || p.metric != 600 || p.table != 100 || p.iface != "wwan0.2" ||
		p.dns.File != "/run/wwan/resolv.conf" || !o.disconnectOnExit || o.dhcp {
		t.Errorf("plan %+v, options %+v", p, o)
	}
}

func TestParseConfig(t *testing.T) {
	entries, err := parseConfig(strings.NewReader("  # comment\n\napn=internet\nuser = \" al ice \"\nhook = /etc/wwan/a#b\n"), "x.conf")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.key] = e.value
	}
	if got["apn"] != "internet" || got["user"] != " al ice " || got["hook"] != "/etc/wwan/a#b" || len(got) != 3 {
		t.Errorf("entries %q", got)
	}
	for _, bad := range []string{"apn internet\n", "apn = a\napn = b\n", "= x\n", `user = "unterminated` + "\n", "two words = x\n"} {
		if _, err := parseConfig(strings.NewReader(bad), "x.conf"); err == nil {
			t.Errorf("parseConfig(%q) accepted it", bad)
		}
	}
}

// jsonLines parses every stdout line as a JSON object.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stdout line %q is not a JSON object: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

// outcomes lists the handoffs' outcomes of run --json's output.
func outcomes(lines []map[string]any) []string {
	var out []string
	for _, m := range lines {
		if o, ok := m["outcome"].(string); ok {
			out = append(out, o)
		}
	}
	return out
}

// -d sim as a dry run: the simulated modem tours the technologies, the
// events come out as JSON lines, the changes as "would" lines, the
// credentials nowhere.
func TestRunSimDryRun(t *testing.T) {
	isolateRun(t)
	t.Setenv(passwordEnv, "s3cret-pw")
	out, errOut, code := runCLI(t, "", "run", "-d", "sim", "--dry-run", "--json", "--duration", "2s",
		"--sim-step", "150ms", "--apn", "internet", "--auth", "pap", "--user", "alice")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if strings.Contains(out+errOut, "s3cret-pw") {
		t.Errorf("the password was printed")
	}
	if !strings.Contains(errOut, "DRY RUN") || !strings.Contains(errOut, "stopped") {
		t.Errorf("stderr %s", errOut)
	}
	lines := jsonLines(t, out)
	var ops []string
	for _, m := range lines {
		if m["event"] == "dry-run" {
			ops = append(ops, m["op"].(string))
		}
	}
	for _, want := range []string{"link-up", "addr-add 198.51.100.2/30", "route-replace default via 198.51.100.1",
		"addr-del 198.51.100.2/30", "addr-add 198.51.100.6/30", "link-down"} {
		if !contains(ops, want) {
			t.Errorf("no dry-run op %q in %q", want, ops)
		}
	}
	got := outcomes(lines)
	for _, want := range []string{"transparent", "readdressed", "reconnected"} {
		if !contains(got, want) {
			t.Errorf("no %s handoff among %q", want, got)
		}
	}
	for _, m := range lines {
		if m["outcome"] == "readdressed" {
			steps, _ := m["steps"].([]any)
			if len(steps) == 0 || steps[0] != "packet-service" || steps[len(steps)-1] != "packet-service" {
				t.Errorf("readdressed steps %v", steps)
			}
			for _, k := range []string{"time", "session", "from", "to", "duration_seconds", "old", "new", "reason"} {
				if _, ok := m[k]; !ok {
					t.Errorf("handoff without %q: %v", k, m)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The text output, and --sim-tour=off: no handoff at all.
func TestRunSimTextNoTour(t *testing.T) {
	isolateRun(t)
	out, errOut, code := runCLI(t, "", "run", "-d", "sim", "--dry-run", "--duration", "400ms", "--sim-tour=off")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{"dry-run         would addr-add 198.51.100.2/30", "session         ACTIVATED",
		"config          ipv4 198.51.100.2/30 via 198.51.100.1", "link            up"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "handoff") {
		t.Errorf("a handoff without a tour:\n%s", out)
	}
}

// A refused PIN stops the daemon at once with exit code 5 (trying it again
// could block the SIM); the PIN is not printed.
func TestRunWrongPIN(t *testing.T) {
	isolateRun(t)
	t.Setenv(pinEnv, "9876")
	_, errOut, code := runCLI(t, "", "run", "-d", "sim", "--dry-run", "--duration", "10s")
	if code != exitRefused || !strings.Contains(errOut, "PIN1 refused") || strings.Contains(errOut, "9876") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
	t.Setenv(pinEnv, "1234") // the simulated SIM's
	out, errOut, code := runCLI(t, "", "run", "-d", "sim", "--dry-run", "--duration", "300ms", "--sim-tour=off")
	if code != exitOK || !strings.Contains(errOut, "PIN1 entered") || !strings.Contains(out, "ACTIVATED") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
}

// helperEnv makes the test binary run mbimctl with the arguments in
// helperArgsEnv (newline separated), for the tests that need a process of
// their own (a network namespace, a signal).
const (
	helperEnv     = "MBIMCTL_RUN_HELPER"
	helperArgsEnv = "MBIMCTL_RUN_HELPER_ARGS"
)

func TestRunHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("the helper process of the run tests")
	}
	args := strings.Split(os.Getenv(helperArgsEnv), "\n")
	os.Exit(run(args, os.Stdin, os.Stdout, os.Stderr))
}

// runHelper starts mbimctl in a process of its own, in a new network
// namespace when netns is set.
func runHelper(t *testing.T, netns bool, args ...string) (*exec.Cmd, *bytes.Buffer, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperArgsEnv+"="+strings.Join(args, "\n"),
		deviceEnv+"=", passwordEnv+"=", pinEnv+"=")
	var errOut bytes.Buffer
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, &errOut
	if netns {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mbimctl run: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &errOut, out
}

// As root: -d sim on a real TUN interface, in a network namespace of its
// own; the handoffs are applied to the kernel (no dry run).
func TestRunSimOnTUN(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: run -d sim on a TUN needs CAP_NET_ADMIN (CI runs this as root)")
	}
	cmd, errOut, out := runHelper(t, true, "run", "-d", "sim", "--json", "--duration", "3s", "--sim-step", "250ms")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mbimctl run: %v; stderr:\n%s", err, errOut)
	}
	if !strings.Contains(errOut.String(), "on TUN wwan0") || strings.Contains(errOut.String(), "DRY RUN") {
		t.Errorf("not on a TUN: %s", errOut)
	}
	lines := jsonLines(t, out.String())
	for _, m := range lines {
		if m["event"] == "dry-run" {
			t.Fatalf("a dry-run line on a TUN: %v", m)
		}
	}
	got := outcomes(lines)
	for _, want := range []string{"transparent", "readdressed", "reconnected"} {
		if !contains(got, want) {
			t.Errorf("no %s handoff among %q", want, got)
		}
	}
	for _, o := range got {
		if o == "failed" {
			t.Errorf("a failed handoff: %s", out)
		}
	}
	t.Logf("ran run -d sim on a TUN in a network namespace: handoffs %q", got)
}

// SIGTERM (and SIGINT) stop the daemon cleanly: exit 0, after its last
// events.
func TestRunStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd, errOut, out := runHelper(t, false, "run", "-d", "sim", "--dry-run", "--json", "--sim-step", "100ms")
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), `"outcome"`) {
			if time.Now().After(deadline) {
				t.Fatalf("no handoff within 10s; stderr:\n%s", errOut)
			}
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil || !strings.Contains(errOut.String(), "stopped") {
				t.Errorf("%v: %v; stderr:\n%s", sig, err, errOut)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: still running after 10s", sig)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
