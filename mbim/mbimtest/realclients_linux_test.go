//go:build linux

package mbimtest

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// Interoperability with libmbim's and libqmi's own command-line clients
// (Debian libmbim-utils and libqmi-utils): they open the simulator's pty as
// they would open /dev/cdc-wdm0 and parse its answers with libmbim's
// parsers, so these tests check the layouts against an independent
// implementation.

// realClient finds a client binary, or skips the test saying how to get it.
func realClient(t *testing.T, name, pkg string) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/" + name, "/usr/local/bin/" + name} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Skipf("%s is not installed (Debian package %s)", name, pkg)
	return ""
}

// run runs a client and returns its combined output and exit code.
func run(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out\n%s", bin, strings.Join(args, " "), out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return string(out), code
}

var fieldLine = regexp.MustCompile(`^\s*([^:']+?):\s*'(.*)'\s*$`)

// fields parses mbimcli's "Name: 'value'" lines.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if g := fieldLine.FindStringSubmatch(l); g != nil {
			m[strings.TrimSpace(g[1])] = g[2]
		}
	}
	return m
}

func TestMbimcliDeviceCaps(t *testing.T) {
	mbimcli := realClient(t, "mbimcli", "libmbim-utils")
	s := newSim(t)
	path := servePTY(t, s)
	out, code := run(t, mbimcli, "-d", path, "--query-device-caps")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	f := fields(out)
	d := s.Device()
	for name, want := range map[string]string{
		"Device type":    "removable",
		"Cellular class": "gsm, cdma",
		"Voice class":    "no-voice",
		"SIM class":      "removable",
		"Data class":     "gprs, edge, umts, hsdpa, hsupa, lte, 5g-nsa, 5g-sa, 1xrtt, 1xevdo, 1xevdo-reva",
		"SMS caps":       "pdu-receive, pdu-send",
		"Ctrl caps":      "reg-manual, hw-radio-switch",
		"Max sessions":   strconv.Itoa(int(d.MaxSessions)),
		"Device ID":      d.DeviceID,
		"Firmware info":  d.Firmware,
		"Hardware info":  d.Hardware,
	} {
		if f[name] != want {
			t.Errorf("%s: mbimcli printed %q, the simulator has %q", name, f[name], want)
		}
	}
	// mbimcli opened and closed the session.
	c := s.Counters()
	if c.Opens != 1 || c.Closes != 1 || s.IsOpen() {
		t.Errorf("opens %d, closes %d, open %v", c.Opens, c.Closes, s.IsOpen())
	}
	if rs := s.Requests(); len(rs) != 3 || rs[0].MaxControlTransfer != 4096 || !rs[1].Is(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps) {
		t.Errorf("requests %v", rs)
	}
}

// TestMbimcliSession runs a whole bring-up with mbimcli, one process per
// step as a shell script would, across MBIMEx versions.
func TestMbimcliSession(t *testing.T) {
	mbimcli := realClient(t, "mbimcli", "libmbim-utils")
	s := newSim(t)
	path := servePTY(t, s)
	want := DefaultAddressPlan(0, 0)
	for _, step := range []struct {
		args   []string
		code   int
		fields map[string]string
		text   []string
	}{
		{args: []string{"--query-subscriber-ready-status"}, fields: map[string]string{
			"Ready state": "initialized", "Subscriber ID": DefaultSIM().IMSI, "SIM ICCID": DefaultSIM().ICCID}},
		{args: []string{"--query-radio-state"}, fields: map[string]string{"Hardware radio state": "on", "Software radio state": "on"}},
		{args: []string{"--query-pin-state"}, fields: map[string]string{"PIN state": "unlocked"}},
		{args: []string{"--query-home-provider"}, fields: map[string]string{"Provider ID": "00101", "Provider name": "MBIM Test Network"}},
		{args: []string{"--device-open-ms-mbimex-v2", "--query-registration-state"}, fields: map[string]string{
			"Register state": "home", "Provider ID": "00101", "Available data classes": "lte"}},
		{args: []string{"--device-open-ms-mbimex-v3", "--query-packet-service-state"}, fields: map[string]string{
			"Packet service state": "attached", "Available data classes": "lte", "Downlink speed": "150000000 bps"}},
		{args: []string{"--device-open-ms-mbimex-v2", "--query-signal-state"}, fields: map[string]string{
			"RSSI [0-31,99]": "20", "RSRP": "-97 dBm", "SNR": "13.0 dB"}},
		{args: []string{"--device-open-ms-mbimex-v3", "--ms-query-device-caps"}, fields: map[string]string{
			"Data subclass": "5g-endc, 5g-nr", "LTE band class": "1, 3, 7, 8, 20, 28", "Device ID": DefaultDevice().DeviceID}},
		{args: []string{"--connect=access-string=internet,ip-type=ipv4v6"}, fields: map[string]string{"Activation state": "activated"},
			text: []string{"IP [0]: '" + want.IPv4.String() + "'", "IP [0]: '" + want.IPv6.String() + "'", "Gateway: '" + want.IPv4Gateway.String() + "'"}},
		{args: []string{"--device-open-ms-mbimex-v3", "--query-connection-state"}, fields: map[string]string{
			"Activation state": "activated", "Access string": "internet"}},
		{args: []string{"--query-ip-configuration"}, text: []string{"IP [0]: '" + want.IPv4.String() + "'", "MTU: '1500'"}},
		{args: []string{"--query-packet-statistics"}, fields: map[string]string{"Errors (in)": "0"}},
		{args: []string{"--disconnect"}, fields: map[string]string{"Activation state": "deactivated"}},
		{args: []string{"--connect=access-string=nope"}, code: 1, text: []string{"Failure"}},
		{args: []string{"--ms-query-base-stations-info"}, code: 1, text: []string{"NoDeviceSupport"}},
		{args: []string{"--ms-query-firmware-id"}, text: []string{DefaultDevice().FirmwareID.String()}},
	} {
		name := strings.Join(step.args, " ")
		out, code := run(t, mbimcli, append([]string{"-d", path}, step.args...)...)
		if code != step.code {
			t.Errorf("%s: exit %d, want %d\n%s", name, code, step.code, out)
			continue
		}
		f := fields(out)
		for k, v := range step.fields {
			if f[k] != v {
				t.Errorf("%s: %s = %q, want %q\n%s", name, k, f[k], v, out)
			}
		}
		for _, txt := range step.text {
			if !strings.Contains(out, txt) {
				t.Errorf("%s: no %q in\n%s", name, txt, out)
			}
		}
	}
	if s.IsOpen() {
		t.Error("session left open")
	}
	if c := s.Counters(); c.Garbage != 0 || c.FunctionErrors != 0 {
		t.Errorf("counters %+v", c)
	}
}

// TestQmicliOverMBIM runs qmicli --device-open-mbim against the pty: QMI
// CTL client allocation and release, and the DMS identity messages, all
// over MBIM; a message the model lacks fails fast.
func TestQmicliOverMBIM(t *testing.T) {
	qmicli := realClient(t, "qmicli", "libqmi-utils")
	s := newSim(t)
	path := servePTY(t, s)
	d := s.Device()
	for _, step := range []struct {
		arg  string
		code int
		text string
	}{
		{"--dms-get-ids", 0, "IMEI: '" + d.DeviceID + "'"},
		{"--dms-get-manufacturer", 0, "Manufacturer: '" + d.Manufacturer + "'"},
		{"--dms-get-model", 0, "Model: '" + d.Model + "'"},
		{"--dms-get-revision", 0, "Revision: '" + d.Firmware + "'"},
		{"--dms-get-msisdn", 0, "MSISDN: '" + DefaultSIM().Numbers[0] + "'"},
		{"--nas-get-signal-strength", 1, "InvalidQmiCommand"},
	} {
		out, code := run(t, qmicli, "-d", path, "--device-open-mbim", step.arg)
		if code != step.code || !strings.Contains(out, step.text) {
			t.Errorf("%s: exit %d (want %d), want %q in\n%s", step.arg, code, step.code, step.text, out)
		}
	}
	// Every client id allocated was released.
	s.mu.Lock()
	defer s.mu.Unlock()
	for svc, ids := range s.m.qmi.clients {
		if len(ids) != 0 {
			t.Errorf("QMI service %d: client ids %v left allocated", svc, ids)
		}
	}
}

// TestMbimProxyInFront puts libmbim's real mbim-proxy between mbimcli and
// the pty, in a private network namespace (its socket is abstract, so the
// namespace keeps it from meeting any other proxy). The proxy opens the
// function once, checks it with its own DEVICE_CAPS before serving a second
// client, and never closes it.
func TestMbimProxyInFront(t *testing.T) {
	realClient(t, "mbimcli", "libmbim-utils")
	proxy := "/usr/libexec/mbim-proxy"
	if _, err := os.Stat(proxy); err != nil {
		t.Skipf("%s is not installed (Debian package libmbim-proxy)", proxy)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare(1) for a private network namespace")
	}
	s := newSim(t)
	path := servePTY(t, s)
	script := proxy + ` --no-exit & P=$!
trap 'kill $P; wait $P' EXIT
# Wait for the proxy's socket, so that mbimcli does not spawn its own.
i=0; until grep -q '@mbim-proxy' /proc/net/unix; do i=$((i+1)); [ $i -gt 100 ] && exit 2; sleep 0.05; done
mbimcli -p -d ` + path + ` --query-device-caps || exit 1
mbimcli -p -d ` + path + ` --device-open-ms-mbimex-v3 --query-packet-service-state || exit 1
`
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-n", "--", "sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "unshare failed") {
			t.Skipf("no network namespaces here: %s", out)
		}
		t.Fatalf("%v\n%s", err, out)
	}
	f := fields(string(out))
	if f["Device ID"] != s.Device().DeviceID || f["Packet service state"] != "attached" || f["Available data classes"] != "lte" {
		t.Fatalf("through mbim-proxy:\n%s", out)
	}
	// The proxy opened the function once and kept it open, and negotiated
	// 3.0 for the second client.
	c := s.Counters()
	if c.Opens != 1 || c.Closes != 0 || !s.IsOpen() || s.Version() != mbim.MBIMEx3 {
		t.Fatalf("opens %d closes %d open %v version %v", c.Opens, c.Closes, s.IsOpen(), s.Version())
	}
}
