package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
	"github.com/gowwan/wwan/usbtransport"
)

// Bad flags and bad values are refused before anything is opened or sent:
// exit 2, a message that says what is wrong, the usage hint, and the
// simulated modem has seen nothing.
func TestBadValuesSendNothing(t *testing.T) {
	long := strings.Repeat("a", 101)
	for _, tc := range []struct {
		args []string
		want string // the error after "mbimctl: COMMAND: "
	}{
		{[]string{"connect", "--apn", long}, "--apn is 101 characters long: at most 100"},
		{[]string{"connect", "--apn", "my apn"}, `--apn "my apn": the character ' ' is not allowed (letters, digits, '.', '-' and '_')`},
		{[]string{"connect", "--apn", "internet."}, `--apn "internet.": empty label (a dot at the start, at the end or twice)`},
		{[]string{"connect", "--apn", "internet", "--ip-type", "ipv5"}, `unknown --ip-type "ipv5": want ipv4, ipv6 or ipv4v6`},
		{[]string{"connect", "--apn", "internet", "--auth", "kerberos", "--user", "a"}, `unknown --auth "kerberos": want none, pap, chap or mschapv2`},
		{[]string{"connect", "--apn", "internet", "--user", "alice"}, "credentials need --auth pap, chap or mschapv2"},
		{[]string{"connect", "--apn", "internet", "--auth", "pap"}, "--auth pap needs --user"},
		{[]string{"connect", "--apn", "internet", "--user", strings.Repeat("u", 256), "--auth", "pap"}, "--user is 256 characters long: at most 255"},
		{[]string{"connect", "--session", "256"}, `invalid value "256" for flag -session: want a session id from 0 to 255`},
		{[]string{"connect", "--session", "-1"}, `invalid value "-1" for flag -session: want a session id from 0 to 255`},
		{[]string{"connect", "--password", "x"}, "flag provided but not defined: -password"},
		{[]string{"connect", "--apn", "internet", "--auth", "pap", "--user", "a", "--password-file", "/nonexistent/pw"}, "--password-file: open /nonexistent/pw: no such file or directory"},
		{[]string{"connect", "internet"}, `unexpected argument "internet"`},
		{[]string{"disconnect", "--session", "x"}, `invalid value "x" for flag -session: want a session id from 0 to 255`},
		{[]string{"ip", "--session", "1000"}, `invalid value "1000" for flag -session: want a session id from 0 to 255`},
		{[]string{"pin", "enter", "12ab"}, "PIN: not a number: a PIN or PUK has only digits"},
		{[]string{"pin", "enter", "123"}, "PIN: a PIN has 4 to 8 digits, not 3"},
		{[]string{"pin", "enter", "123456789"}, "PIN: a PIN has 4 to 8 digits, not 9"},
		{[]string{"pin", "enter"}, "pin enter: give the PIN as an argument, as - to read it from standard input, or in $WWAN_PIN"},
		{[]string{"pin", "change", "1234"}, "pin change wants OLD NEW"},
		{[]string{"pin", "change", "1234", "12x4"}, "NEW: not a number: a PIN or PUK has only digits"},
		{[]string{"pin", "unblock", "1234", "5678"}, "PUK: a PUK has 8 digits, not 4"},
		{[]string{"pin", "status", "1234"}, "pin status takes no argument"},
		{[]string{"pin", "open"}, `unknown pin operation "open": want status, enter, change, enable, disable or unblock`},
		{[]string{"pin", "enter", "1234", "--type", "puk9"}, `invalid value "puk9" for flag -type: want pin1 or pin2`},
		{[]string{"radio", "maybe"}, `unknown radio state "maybe": want on or off`},
		{[]string{"radio", "on", "off"}, `unexpected argument "off"`},
		{[]string{"providers", "nearby"}, `unknown provider list "nearby": want home, visible or preferred`},
		{[]string{"register", "manual"}, "register manual wants one PLMN (MCC and MNC, e.g. 26201)"},
		{[]string{"register", "manual", "1234"}, `PLMN "1234": want 5 or 6 digits (MCC and MNC, e.g. 26201)`},
		{[]string{"register", "manual", "262a1"}, `PLMN "262a1": want digits only (MCC and MNC, e.g. 26201)`},
		{[]string{"register", "auto", "26201"}, `register auto takes no argument, got "26201"`},
		{[]string{"register", "home"}, `unknown registration "home": want auto or manual PLMN`},
		{[]string{"caps", "--timeout", "-1s"}, `invalid value "-1s" for flag -timeout: want a duration above zero`},
		{[]string{"caps", "--timeout", "soon"}, `invalid value "soon" for flag -timeout: want a duration such as 500ms, 10s or 2m`},
		{[]string{"caps", "--mbimex", "4"}, `invalid value "4" for flag -mbimex: want 1, 2 or 3 (or 1.0, 2.0, 3.0)`},
		{[]string{"caps", "now"}, `unexpected argument "now"`},
		{[]string{"watch", "--count", "-2"}, "--count must not be negative"},
		{[]string{"watch", "--duration", "0"}, `invalid value "0" for flag -duration: want a duration above zero`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			m := newTestModem(t)
			out, errOut, code := runCLI(t, "", append(tc.args, "-d", "sim")...)
			want := fmt.Sprintf("mbimctl: %s: %s\nRun 'mbimctl help %s' for usage.\n", tc.args[0], tc.want, tc.args[0])
			if code != exitUsage || out != "" || errOut != want {
				t.Errorf("exit code %d, stdout %q, stderr:\n%q\nwant exit code 2 and:\n%q", code, out, errOut, want)
			}
			if reqs := m.Requests(); len(reqs) != 0 {
				t.Errorf("the modem got %d requests, the first %s; want none", len(reqs), reqs[0])
			}
		})
	}
}

// -d is checked before anything is opened, too.
func TestBadDevice(t *testing.T) {
	newTestModem(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"caps", "-d", "usb:1199"}, `-d usb:1199: selector "usb:1199": want usb:VID:PID or usb:BUS.ADDR`},
		{[]string{"caps", "-d", "usb:0.3"}, `-d usb:0.3: selector "usb:0.3": want usb:BUS.ADDR with decimal bus 1-255 and address 1-127, e.g. usb:2.3`},
		{[]string{"caps", "-d", "sim", "--proxy"}, "--proxy needs a device node (-d /dev/cdc-wdmN): -d sim runs the simulated modem in this process"},
		{[]string{"caps", "-d", "usb:1199:9079", "--proxy"}, "--proxy needs a device node (-d /dev/cdc-wdmN), not a usb: selector"},
	} {
		out, errOut, code := runCLI(t, "", tc.args...)
		want := "mbimctl: caps: " + tc.want + "\nRun 'mbimctl help caps' for usage.\n"
		if code != exitUsage || out != "" || errOut != want {
			t.Errorf("mbimctl %s: exit code %d, stdout %q, stderr:\n%q\nwant:\n%q", strings.Join(tc.args, " "), code, out, errOut, want)
		}
	}
}

// The failures scripts branch on have their exit codes, and the messages
// say what to do.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []mbimtest.Option
		setup func(t *testing.T, m *testModem)
		args  []string
		code  int
		want  string // stderr
	}{
		{
			name: "device not found", args: []string{"caps", "-d", "/dev/cdc-wdm-none"}, code: exitNoDevice,
			want: "mbimctl: caps: device not found: /dev/cdc-wdm-none (is the modem plugged in and its driver bound? 'mbimctl list' shows the modems found)\n",
		},
		{
			name: "a node name without /dev", args: []string{"caps", "-d", "cdc-wdm-none"}, code: exitNoDevice,
			want: "mbimctl: caps: device not found: /dev/cdc-wdm-none (is the modem plugged in and its driver bound? 'mbimctl list' shows the modems found)\n",
		},
		{
			name: "no modem at all", args: []string{"caps"}, code: exitNoDevice,
			want: "mbimctl: caps: no MBIM modem found: give one with -d /dev/cdc-wdmN (or -d sim for the simulated modem)\n",
		},
		{
			name: "not a device", args: []string{"caps", "-d", "/etc/hostname"}, code: exitOther,
			want: "mbimctl: caps: opening /etc/hostname: /etc/hostname is not a character device (want /dev/cdc-wdmN or a pty)\n",
		},
		{
			name: "timeout", args: []string{"caps", "-d", "sim", "--timeout", "300ms"}, code: exitTimeout,
			setup: func(t *testing.T, m *testModem) {
				m.AddFault(mbimtest.DropResponse(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps))
			},
			want: "mbimctl: caps: timeout: the modem did not answer DEVICE_CAPS in time (--timeout sets how long to wait)\n",
		},
		{
			name: "no SIM", args: []string{"providers", "-d", "sim"}, code: exitRefused,
			opts: []mbimtest.Option{mbimtest.WithSIM(mbimtest.SIMConfig{Absent: true})},
			want: "mbimctl: providers: the modem refused HOME_PROVIDER: SIM_NOT_INSERTED; no SIM card in the modem\n",
		},
		{
			name: "wrong PIN", args: []string{"pin", "enter", "0000", "-d", "sim"}, code: exitRefused,
			opts: []mbimtest.Option{pinLocked},
			want: "mbimctl: pin: the modem refused PIN: FAILURE (PIN1 required, 2 attempts left)\n",
		},
		{
			name: "PIN disabled", args: []string{"pin", "disable", "1234", "-d", "sim"}, code: exitRefused,
			want: "mbimctl: pin: the modem refused PIN: PIN_DISABLED (3 attempts left)\n",
		},
		{
			name: "SIM locked", args: []string{"connect", "--apn", "internet", "-d", "sim"}, code: exitRefused,
			opts: []mbimtest.Option{pinLocked},
			want: "mbimctl: connect: the modem refused CONNECT: PIN_REQUIRED; enter the PIN with 'mbimctl pin enter'\n",
		},
		{
			name: "unknown APN", args: []string{"connect", "--apn", "nowhere", "-d", "sim"}, code: exitRefused,
			want: "mbimctl: connect: the modem refused CONNECT: FAILURE (network error MISSING_OR_UNKNOWN_APN)\n",
		},
		{
			name: "wrong password", args: []string{"connect", "--apn", "corp.example", "--auth", "chap", "--user", "alice", "-d", "sim"}, code: exitRefused,
			opts:  []mbimtest.Option{corpAPN},
			setup: func(t *testing.T, m *testModem) { t.Setenv(passwordEnv, "wrong") },
			want:  "mbimctl: connect: the modem refused CONNECT: FAILURE (network error USER_AUTHENTICATION_FAILED)\n",
		},
		{
			name: "radio off", args: []string{"providers", "visible", "-d", "sim"}, code: exitRefused,
			setup: func(t *testing.T, m *testModem) { cli(t, "radio", "off") },
			want:  "mbimctl: providers: the modem refused VISIBLE_PROVIDERS: RADIO_POWER_OFF; turn the radio on with 'mbimctl radio on'\n",
		},
		{
			name: "no firmware id service", args: []string{"firmware-id", "-d", "sim"}, code: exitRefused,
			opts: []mbimtest.Option{mbimtest.WithoutServices(mbim.ServiceMsFirmwareId)},
			want: "mbimctl: firmware-id: the modem refused MS_FIRMWARE_ID GET: NO_DEVICE_SUPPORT; the modem does not implement it\n",
		},
		{
			name: "function error", args: []string{"signal", "-d", "sim"}, code: exitRefused,
			setup: func(t *testing.T, m *testModem) {
				m.AddFault(mbimtest.FunctionErrorFor(mbim.ServiceBasicConnect, mbim.CIDSignalState, mbim.ProtocolErrorUnknown))
			},
			want: "mbimctl: signal: the modem answered SIGNAL_STATE with FUNCTION_ERROR UNKNOWN\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModem(t, tc.opts...)
			if tc.setup != nil {
				tc.setup(t, m)
			}
			start := time.Now()
			out, errOut, code := runCLI(t, "", tc.args...)
			if code != tc.code || errOut != tc.want || out != "" {
				t.Errorf("mbimctl %s: exit code %d, stdout %q, stderr:\n%q\nwant exit code %d and:\n%q", strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// The default device is the only MBIM function of the machine; with two,
// the user must choose.
func TestDefaultDevice(t *testing.T) {
	newTestModem(t)
	sysfsRoot = fakeSysfs(t, 2)
	out, errOut, code := runCLI(t, "", "caps")
	want := "mbimctl: caps: 2 MBIM modems found (/dev/cdc-wdm0, /dev/cdc-wdm1): choose one with -d\nRun 'mbimctl help caps' for usage.\n"
	if code != exitUsage || out != "" || errOut != want {
		t.Errorf("exit code %d, stdout %q, stderr %q; want exit code 2 and %q", code, out, errOut, want)
	}
	sysfsRoot = fakeSysfs(t, 1)
	_, errOut, code = runCLI(t, "", "caps")
	// The fake sysfs has no /dev node: the one modem is tried, and missing.
	want = "mbimctl: caps: device not found: /dev/cdc-wdm0 (is the modem plugged in and its driver bound? 'mbimctl list' shows the modems found)\n"
	if code != exitNoDevice || errOut != want {
		t.Errorf("exit code %d, stderr %q; want exit code 3 and %q", code, errOut, want)
	}
}

// A busy node names who holds it and says to use --proxy.
func TestBusyError(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "cdc-wdm0"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = openError(target{kind: "node", path: f.Name()}, fmt.Errorf("usbtransport: busy: %w", usbtransport.ErrBusy))
	var c *codedError
	if !errors.As(err, &c) || c.code != exitOther {
		t.Fatalf("openError = %v, want a coded error with exit code %d", err, exitOther)
	}
	self, _ := os.ReadFile("/proc/self/comm")
	if len(self) == 0 {
		t.Skip("no /proc")
	}
	want := fmt.Sprintf("device busy: %s is held by %s (pid %d); use --proxy", f.Name(), strings.TrimSpace(string(self)), os.Getpid())
	if err.Error() != want {
		t.Errorf("busy error:\n%q\nwant:\n%q", err.Error(), want)
	}
	f.Close()
	if got, want := busyError(f.Name()).Error(), "device busy: "+f.Name()+" is held by another process (mbim-proxy or ModemManager?); use --proxy"; got != want {
		t.Errorf("busy error with no holder:\n%q\nwant:\n%q", got, want)
	}
}

// The password comes from --password-file (a file, or - for standard
// input) or $WWAN_PASSWORD, and reaches the modem intact.
func TestPasswordSources(t *testing.T) {
	args := []string{"connect", "--apn", "corp.example", "--auth", "chap", "--user", "alice", "-d", "sim", "--json"}
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("s3cret-Pw\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	crlf := filepath.Join(t.TempDir(), "pw-crlf")
	if err := os.WriteFile(crlf, []byte("s3cret-Pw\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		env   string
		stdin string
	}{
		{"file", []string{"--password-file", file}, "", ""},
		{"file with CRLF", []string{"--password-file", crlf}, "", ""},
		{"stdin", []string{"--password-file", "-"}, "", "s3cret-Pw\n"},
		{"environment", nil, "s3cret-Pw", ""},
		{"file before environment", []string{"--password-file", file}, "wrong", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newTestModem(t, corpAPN)
			if tc.env != "" {
				t.Setenv(passwordEnv, tc.env)
			}
			out, errOut, code := runCLI(t, tc.stdin, append(args, tc.extra...)...)
			if code != exitOK || !strings.Contains(out, `"activation_state": "ACTIVATED"`) {
				t.Errorf("exit code %d, stderr %q, stdout:\n%s", code, errOut, out)
			}
			if strings.Contains(out+errOut, "s3cret") {
				t.Errorf("the password is printed:\n%s%s", out, errOut)
			}
		})
	}
}

// A PIN argument "-" is read from standard input.
func TestPINFromStdin(t *testing.T) {
	m := newTestModem(t, pinLocked)
	out, errOut, code := runCLI(t, "1234\n", "pin", "enter", "-", "-d", "sim")
	if code != exitOK || !strings.Contains(out, "Waiting for    nothing") {
		t.Errorf("exit code %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	if st := m.SIM(); st.Lock != mbimtest.Unlocked {
		t.Errorf("SIM lock %v after pin enter -", st.Lock)
	}
	newTestModem(t, pinLocked)
	t.Setenv(pinEnv, "1234")
	if out, errOut, code := runCLI(t, "", "pin", "enter", "-d", "sim"); code != exitOK {
		t.Errorf("pin enter with $%s: exit code %d, stderr %q, stdout:\n%s", pinEnv, code, errOut, out)
	}
}
