package main

import (
	"bytes"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// dumpLine is a line of hex.Dump: offset, 16 bytes in hex, ASCII.
var dumpLine = regexp.MustCompile(`^[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2})+) *\|`)

// dumpBytes collects the bytes of every hex dump in a trace.
func dumpBytes(t *testing.T, trace string) []byte {
	t.Helper()
	var out []byte
	for _, l := range strings.Split(trace, "\n") {
		m := dumpLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(m[1], " ", ""))
		if err != nil {
			t.Fatalf("bad dump line %q: %v", l, err)
		}
		out = append(out, b...)
	}
	if len(out) == 0 {
		t.Fatalf("no hex dump in the trace:\n%s", trace)
	}
	return out
}

func utf16le(s string) []byte { return []byte(mbim.NewString(s)) }

// checkTrace checks a -v trace for a value: in the dumped bytes (as UTF-16,
// as MBIM strings are) and in the text (the decoded tree).
func checkTrace(t *testing.T, trace, what, value string, shown bool) {
	t.Helper()
	inDump := bytes.Contains(dumpBytes(t, trace), utf16le(value))
	inText := strings.Contains(trace, value)
	switch {
	case shown && (!inDump || !inText):
		t.Errorf("%s %q: in the dump %v, in the tree %v; want it in both", what, value, inDump, inText)
	case !shown && (inDump || inText):
		t.Errorf("%s %q: in the dump %v, in the tree %v; want it masked in both", what, value, inDump, inText)
	}
}

func TestTraceMasksPersonalData(t *testing.T) {
	sim := mbimtest.DefaultSIM()
	sim.PIN, sim.PINEnabled = "8642", true
	personal := []struct{ what, value string }{
		{"IMEI", mbimtest.DefaultDevice().DeviceID},
		{"IMSI", sim.IMSI},
		{"ICCID", sim.ICCID},
		{"phone number", sim.Numbers[0]},
		{"user name", "alice"},
	}
	credentials := []struct{ what, value string }{
		{"password", "s3cret-Pw"},
		{"PIN", "8642"},
	}
	for _, max := range []int{4096, 64} { // 64: every message in fragments
		for _, show := range []bool{false, true} {
			name := "masked"
			if show {
				name = "show-personal"
			}
			if max == 64 {
				name += ", fragmented"
			}
			t.Run(name, func(t *testing.T) {
				newTestModem(t, corpAPN, mbimtest.WithSIM(sim), mbimtest.WithMaxControlMessage(max))
				t.Setenv(passwordEnv, "s3cret-Pw")
				var trace strings.Builder
				for _, args := range [][]string{
					{"pin", "enter", "8642"},
					{"caps"},
					{"subscriber"},
					{"connect", "--apn", "corp.example", "--auth", "chap", "--user", "alice"},
				} {
					args = append(args, "-d", "sim", "-v")
					if show {
						args = append(args, "--show-personal")
					}
					out, errOut, code := runCLI(t, "", args...)
					if code != exitOK || out == "" {
						t.Fatalf("mbimctl %s: exit code %d, stdout %q, stderr:\n%s", strings.Join(args, " "), code, out, errOut)
					}
					trace.WriteString(errOut)
				}
				tr := trace.String()
				for _, p := range personal {
					checkTrace(t, tr, p.what, p.value, show)
				}
				for _, c := range credentials {
					checkTrace(t, tr, c.what, c.value, false)
				}
				if max == 64 && !strings.Contains(tr, "reassembled from") {
					t.Errorf("no reassembled message in the trace of a 64-byte function")
				}
				for _, want := range []string{
					"-> 15:09:26.535 host to modem: OPEN, 16 bytes\n00000000  01 00 00 00 10 00 00 00",
					"<- 15:09:26.535 modem to host: OPEN_DONE, 16 bytes\n",
					"  cid: DEVICE_CAPS (1)\n",
					"fields (DeviceCapsInfo, response, MBIMEx 3.0):\n",
					"fields (ConnectSetV3, set, MBIMEx 3.0):\n",
					"-> 15:09:26.535 host to modem: CLOSE, 12 bytes\n",
				} {
					if !strings.Contains(tr, want) {
						t.Errorf("the trace lacks %q", want)
					}
				}
			})
		}
	}
}

// The trace goes to stderr: stdout is the same with and without -v.
func TestTraceLeavesStdoutAlone(t *testing.T) {
	newTestModem(t)
	plain := cli(t, "signal", "--json")
	out, errOut, code := runCLI(t, "", "signal", "--json", "-d", "sim", "-v")
	if code != exitOK || out != plain || !strings.Contains(errOut, "SIGNAL_STATE") {
		t.Errorf("exit code %d, stdout:\n%s\nwant:\n%s", code, out, plain)
	}
}

// The trace follows the MBIMEx version: requests before the VERSION
// exchange decode at 1.0, later ones at the negotiated version.
func TestTraceFollowsVersion(t *testing.T) {
	newTestModem(t, mbimtest.WithMBIMEx(mbim.MBIMEx2))
	_, errOut, code := runCLI(t, "", "register", "-d", "sim", "-v")
	if code != exitOK {
		t.Fatalf("exit code %d, stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"fields (DeviceServicesInfo, response, MBIMEx 1.0):",
		"fields (MsVersionInfo, query, MBIMEx 1.0):",
		"fields (RegisterStateInfoV2, response, MBIMEx 2.0):",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the trace lacks %q:\n%s", want, errOut)
		}
	}
}

func TestMaskMessage(t *testing.T) {
	req := &mbim.ConnectSet{
		SessionId: 0, ActivationCommand: mbim.ActivationCommandActivate, AccessString: mbim.NewString("apn"),
		UserName: mbim.NewString("bob"), Password: mbim.NewString("pw"), AuthProtocol: mbim.AuthProtocolPap,
	}
	msg, err := mbim.AppendCommandInfo(nil, 7, mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		show             bool
		wantUser, wantPw bool // still there
	}{
		{false, false, false},
		{true, true, false},
	} {
		b := bytes.Clone(msg)
		m, err := mbim.ParseMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		d, err := mbim.DecodeMessage(m, mbim.MBIMEx1)
		if err != nil {
			t.Fatal(err)
		}
		if !maskMessage(b, d.Body, tc.show) {
			t.Errorf("show %v: nothing masked", tc.show)
		}
		if got := bytes.Contains(b, utf16le("bob")); got != tc.wantUser {
			t.Errorf("show %v: user name still there: %v", tc.show, got)
		}
		if bytes.Contains(b, utf16le("pw")) {
			t.Errorf("show %v: the password is still there", tc.show)
		}
		if !bytes.Contains(b, utf16le("apn")) {
			t.Errorf("show %v: the APN was masked", tc.show)
		}
		if len(b) != len(msg) {
			t.Errorf("show %v: length changed", tc.show)
		}
	}
}
