package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// The modem commands, run in process against the simulated modem, with
// their output (table and JSON) compared with the files in
// testdata/golden/commands (go test ./cmd/mbimctl -run TestCommandGolden
// -update rewrites them).

const commandGoldenDir = "commands"

// testEpoch is the simulated modem's clock and the time of watch and -v:
// fixed, so that outputs do not change between runs.
var testEpoch = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// testModem is the simulated modem behind "-d sim" for one test, with a
// clock the test moves.
type testModem struct {
	*mbimtest.Sim
	offset atomic.Int64
}

func (m *testModem) now() time.Time { return testEpoch.Add(time.Duration(m.offset.Load())) }

// advance moves the clock (the packet statistics grow with it).
func (m *testModem) advance(d time.Duration) { m.offset.Add(int64(d)) }

// newTestModem puts a new simulated modem behind -d sim, with the test
// clock, and isolates the command from the machine: no $MBIMCTL_DEVICE, an
// empty sysfs, no $WWAN_PASSWORD or $WWAN_PIN.
func newTestModem(t *testing.T, opts ...mbimtest.Option) *testModem {
	t.Helper()
	m := &testModem{}
	m.Sim = mbimtest.New(append([]mbimtest.Option{mbimtest.WithClock(m.now)}, opts...)...)
	oldSim, oldNow, oldRoot := simFactory, now, sysfsRoot
	simFactory = func() (*mbimtest.Sim, bool) { return m.Sim, true }
	now = m.now
	sysfsRoot = t.TempDir()
	t.Cleanup(func() {
		simFactory, now, sysfsRoot = oldSim, oldNow, oldRoot
		m.Sim.Close()
	})
	for _, v := range []string{deviceEnv, passwordEnv, pinEnv} {
		unsetenv(t, v)
	}
	return m
}

// unsetenv removes an environment variable for the test.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the old value after the test
	os.Unsetenv(name)
}

// cli runs a command against -d sim and wants it to succeed.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCLI(t, "", append(args, "-d", "sim")...)
	if code != exitOK {
		t.Fatalf("mbimctl %s -d sim: exit code %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// cmdCase is one golden case: a command and its arguments, the simulated
// modem's options, and what to do before (commands, scenario steps).
type cmdCase struct {
	name  string
	args  []string
	opts  []mbimtest.Option
	setup func(t *testing.T, m *testModem)
}

var pinLocked = func() mbimtest.Option {
	c := mbimtest.DefaultSIM()
	c.PINEnabled = true
	return mbimtest.WithSIM(c)
}()

var corpAPN = mbimtest.WithAPNs(
	mbimtest.APN{Name: "internet"},
	mbimtest.APN{Name: "corp.example", User: "alice", Password: "s3cret-Pw", Auth: mbim.AuthProtocolChap, IPTypes: mbim.ContextIpTypeIpv4},
)

func commandCases() []cmdCase {
	connect := func(t *testing.T, m *testModem) { cli(t, "connect", "--apn", "internet") }
	return []cmdCase{
		{name: "caps", args: []string{"caps"}},
		{name: "subscriber", args: []string{"subscriber"}},
		{name: "subscriber-no-sim", args: []string{"subscriber"}, opts: []mbimtest.Option{mbimtest.WithSIM(mbimtest.SIMConfig{Absent: true})}},
		{name: "radio", args: []string{"radio"}},
		{name: "radio-off", args: []string{"radio", "off"}},
		{name: "radio-on", args: []string{"radio", "on"}, setup: func(t *testing.T, m *testModem) { cli(t, "radio", "off") }},
		{name: "pin", args: []string{"pin"}},
		{name: "pin-locked", args: []string{"pin", "status"}, opts: []mbimtest.Option{pinLocked}},
		{name: "pin-enter", args: []string{"pin", "enter", "1234"}, opts: []mbimtest.Option{pinLocked}},
		{name: "pin-change", args: []string{"pin", "change", "1234", "4321"}, opts: []mbimtest.Option{pinLocked}},
		{name: "pin-enable", args: []string{"pin", "enable", "1234"}},
		{name: "pin-disable", args: []string{"pin", "disable", "1234"}, opts: []mbimtest.Option{pinLocked}},
		{name: "pin-unblock", args: []string{"pin", "unblock", "12345678", "4321"}, opts: []mbimtest.Option{pinLocked},
			setup: func(t *testing.T, m *testModem) {
				for range 3 {
					if _, _, code := runCLI(t, "", "pin", "enter", "0000", "-d", "sim"); code != exitRefused {
						t.Fatalf("wrong PIN: exit code %d, want %d", code, exitRefused)
					}
				}
			}},
		{name: "providers", args: []string{"providers"}},
		{name: "providers-home", args: []string{"providers", "home", "--mbimex", "1"}},
		{name: "providers-visible", args: []string{"providers", "visible"}},
		{name: "providers-preferred", args: []string{"providers", "preferred"}, opts: []mbimtest.Option{mbimtest.WithNetwork(func() mbimtest.Network {
			n := mbimtest.DefaultNetwork()
			n.Preferred = []mbimtest.Provider{{ID: "00102", Name: "MBIM Partner Network"}, {ID: "310260", Name: "Far Away", CellularClass: mbim.CellularClassGsm}}
			return n
		}())}},
		{name: "providers-preferred-none", args: []string{"providers", "preferred"}},
		{name: "register", args: []string{"register"}},
		{name: "register-manual", args: []string{"register", "manual", "00102"}},
		{name: "register-auto", args: []string{"register", "auto"}, setup: func(t *testing.T, m *testModem) { cli(t, "register", "manual", "00102") }},
		{name: "register-mbimex1", args: []string{"register", "--mbimex", "1"}},
		{name: "signal", args: []string{"signal"}},
		{name: "signal-mbimex1", args: []string{"signal", "--mbimex", "1"}},
		{name: "signal-unknown", args: []string{"signal"}, opts: []mbimtest.Option{mbimtest.WithSignal(mbimtest.Signal{RSSI: 99, ErrorRate: 99, RSRP: 0xffffffff, SNR: 0xffffffff})}},
		{name: "packet-service", args: []string{"packet-service"}},
		{name: "packet-service-mbimex2", args: []string{"packet-service", "--mbimex", "2"}},
		{name: "detach", args: []string{"detach"}},
		{name: "attach", args: []string{"attach"}, setup: func(t *testing.T, m *testModem) { cli(t, "detach") }},
		{name: "connect", args: []string{"connect", "--apn", "internet"}},
		{name: "connect-ipv4", args: []string{"connect", "--apn", "internet", "--ip-type", "ipv4"}},
		{name: "connect-ims-session-1", args: []string{"connect", "--apn", "ims", "--session", "1"}},
		{name: "connect-mbimex1", args: []string{"connect", "--apn", "internet", "--mbimex", "1"}},
		{name: "connect-credentials", args: []string{"connect", "--apn", "corp.example", "--auth", "chap", "--user", "alice"}, opts: []mbimtest.Option{corpAPN},
			setup: func(t *testing.T, m *testModem) { t.Setenv(passwordEnv, "s3cret-Pw") }},
		{name: "disconnect", args: []string{"disconnect"}, setup: connect},
		{name: "disconnect-idle", args: []string{"disconnect", "--session", "2"}},
		{name: "ip", args: []string{"ip"}, setup: connect},
		{name: "ip-idle", args: []string{"ip"}},
		{name: "stats", args: []string{"stats"}, setup: func(t *testing.T, m *testModem) {
			connect(t, m)
			m.advance(90 * time.Second)
		}},
		{name: "services", args: []string{"services"}},
		{name: "version", args: []string{"version"}},
		{name: "version-mbimex1", args: []string{"version", "--mbimex", "1"}},
		{name: "version-modem-2", args: []string{"version"}, opts: []mbimtest.Option{mbimtest.WithMBIMEx(mbim.MBIMEx2)}},
		{name: "version-modem-1", args: []string{"version"}, opts: []mbimtest.Option{mbimtest.WithMBIMEx(mbim.MBIMEx1)}},
		{name: "firmware-id", args: []string{"firmware-id"}},
		{name: "reset", args: []string{"reset"}},
	}
}

// runCase sets a modem up as the case says and runs its command.
func runCase(t *testing.T, tc cmdCase, extra ...string) (*testModem, string) {
	t.Helper()
	m := newTestModem(t, tc.opts...)
	if tc.setup != nil {
		tc.setup(t, m)
	}
	out, errOut, code := runCLI(t, "", append(append(slices.Clone(tc.args), "-d", "sim"), extra...)...)
	if code != exitOK || errOut != "" {
		t.Fatalf("mbimctl %s -d sim %s: exit code %d, stderr %q", strings.Join(tc.args, " "), strings.Join(extra, " "), code, errOut)
	}
	return m, out
}

func TestCommandGolden(t *testing.T) {
	dir := filepath.Join(goldenDir, commandGoldenDir)
	if *update {
		os.MkdirAll(dir, 0o755)
	}
	used := map[string]bool{}
	for _, tc := range commandCases() {
		used[tc.name+".txt"], used[tc.name+".json"] = true, true
		t.Run(tc.name, func(t *testing.T) {
			_, out := runCase(t, tc)
			checkGolden(t, filepath.Join(commandGoldenDir, tc.name+".txt"), out)
			_, out = runCase(t, tc, "--json")
			checkJSONObject(t, out)
			checkGolden(t, filepath.Join(commandGoldenDir, tc.name+".json"), out)
		})
	}
	for _, f := range otherCommandGoldens {
		used[f] = true
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if used[filepath.Base(f)] {
			continue
		}
		if *update {
			os.Remove(f)
		} else {
			t.Errorf("%s belongs to no test case: remove it (or run with -update)", f)
		}
	}
}

// otherCommandGoldens are the golden files of the tests other than
// TestCommandGolden (list, watch).
var otherCommandGoldens = []string{
	"list.txt", "list.json", "list-none.json", "watch.txt", "watch.json",
}

// checkJSONObject checks that out is one JSON object and a newline.
func checkJSONObject(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if !strings.HasSuffix(out, "}\n") || json.Unmarshal([]byte(out), &m) != nil {
		t.Fatalf("not one JSON object:\n%s", out)
	}
	return m
}

// Every modem command, and every word of its first argument, has a golden
// case.
func TestEveryCommandHasAGolden(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range commandCases() {
		covered[tc.args[0]] = true
		if len(tc.args) > 1 {
			covered[tc.args[0]+" "+tc.args[1]] = true
		}
	}
	for _, name := range []string{
		"caps", "subscriber", "radio", "pin", "providers", "register", "signal", "attach", "detach",
		"packet-service", "connect", "disconnect", "ip", "stats", "services", "version", "firmware-id", "reset",
	} {
		if !covered[name] {
			t.Errorf("no golden case runs %s", name)
		}
		for _, w := range completionWords[name] {
			if !covered[name+" "+w] && !(name == "pin" && w == "status" && covered["pin"]) {
				t.Errorf("no golden case runs %s %s", name, w)
			}
		}
	}
}

// The same commands through a pty, as a real cdc-wdm node is opened (-d
// /dev/pts/N), print the same as in process.
func TestCommandsOnPTY(t *testing.T) {
	m := newTestModem(t)
	path, err := m.ServePTY()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"caps"}, "caps.txt"},
		{[]string{"caps", "--json"}, "caps.json"},
		{[]string{"connect", "--apn", "internet"}, "connect.txt"},
		{[]string{"ip", "--json"}, "ip.json"},
		{[]string{"ip"}, "ip.txt"},
		{[]string{"signal"}, "signal.txt"},
	} {
		out, errOut, code := runCLI(t, "", append(tc.args, "-d", path)...)
		if code != exitOK || errOut != "" {
			t.Fatalf("mbimctl %s -d %s: exit code %d, stderr %q", strings.Join(tc.args, " "), path, code, errOut)
		}
		want, err := os.ReadFile(filepath.Join(goldenDir, commandGoldenDir, tc.golden))
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("mbimctl %s -d %s:\n%s\nwant (%s):\n%s", strings.Join(tc.args, " "), path, out, tc.golden, want)
		}
	}
	// $MBIMCTL_DEVICE stands for -d.
	t.Setenv(deviceEnv, path)
	if out, errOut, code := runCLI(t, "", "radio"); code != exitOK || !strings.Contains(out, "Software radio  ON") {
		t.Errorf("mbimctl radio with $%s=%s: exit code %d, stderr %q, output %q", deviceEnv, path, code, errOut, out)
	}
	// The session the commands used is closed, and the modem kept the
	// data session between them.
	if s, ok := m.Session(0); !ok || s.State != mbim.ActivationStateActivated {
		t.Errorf("session 0 after connect: %+v", s)
	}
}
