package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/gowwan/wwan/mbim"
)

// pinEnv gives the PIN of "pin enter" when it is not an argument.
const pinEnv = "WWAN_PIN"

func init() {
	register(pinCommand)
	completionWords["pin"] = []string{"status", "enter", "change", "enable", "disable", "unblock"}
}

var pinCommand = &command{
	name:    "pin",
	summary: "show the PIN state; enter, change, enable, disable or unblock a PIN",
	usage:   "pin [status | enter [PIN] | change OLD NEW | enable PIN | disable PIN | unblock PUK NEWPIN] [--type pin1|pin2] [-d DEVICE] [--json]",
	desc: `
Without an argument, or with "status", show which PIN the modem waits for,
how many attempts are left, and whether PIN1 (and PIN2) are enabled (Basic
Connect PIN and PIN_LIST).

  enter [PIN]         enter the PIN; without an argument it is read from
                      $` + pinEnv + `
  change OLD NEW      change the PIN
  enable PIN          require the PIN at power-on
  disable PIN         no longer require it
  unblock PUK NEWPIN  unblock a PIN blocked by three wrong entries, with the
                      PUK (PUK1, or PUK2 with --type pin2), and set a new PIN

A PIN is 4 to 8 digits and a PUK 8 digits; anything else is refused before
the modem is asked. An argument "-" reads the value from a line of standard
input, which keeps it out of the process list. On a wrong PIN the exit
code is 5 and the error says how many attempts are left; the PIN itself is
never printed, and -v traces mask it even with --show-personal.`,
	examples: []example{
		{"pin", "which PIN the modem waits for, and the attempts left"},
		{"pin enter 1234", "unlock the SIM"},
		{"pin enter - < pin.txt", "unlock the SIM with a PIN read from a file"},
		{"pin change 1234 4321", "change PIN1"},
		{"pin unblock 12345678 1234", "unblock PIN1 with the PUK and set it to 1234"},
	},
	flags: modemCommand(func(fs *flag.FlagSet, g *modemFlags) func(*env, []string) (*plan, error) {
		typ := pinTypeFlag(mbim.PinTypePin1)
		fs.Var(&typ, "type", "the `PIN` to act on: pin1 (the SIM PIN, default) or pin2")
		return func(e *env, args []string) (*plan, error) {
			op, req, err := pinRequest(e, mbim.PinType(typ), args)
			if err != nil {
				return nil, err
			}
			return &plan{run: func(ctx context.Context, e *env, s *modemSession) (result, error) {
				return runPin(ctx, s, op, req)
			}}, nil
		}
	}),
}

// pinTypeFlag is --type: PIN1 or PIN2.
type pinTypeFlag mbim.PinType

func (p *pinTypeFlag) String() string {
	if p == nil || mbim.PinType(*p) == mbim.PinTypePin1 {
		return "pin1"
	}
	return "pin2"
}

func (p *pinTypeFlag) Set(s string) error {
	switch strings.ToLower(s) {
	case "pin1":
		*p = pinTypeFlag(mbim.PinTypePin1)
	case "pin2":
		*p = pinTypeFlag(mbim.PinTypePin2)
	default:
		return errors.New("want pin1 or pin2")
	}
	return nil
}

// pinRequest checks the arguments of "pin" and builds the PIN set (nil for
// status). Nothing is sent.
func pinRequest(e *env, typ mbim.PinType, args []string) (string, *mbim.PinSet, error) {
	op := "status"
	if len(args) > 0 {
		op, args = args[0], args[1:]
	}
	want := map[string][]string{
		"status":  nil,
		"enter":   {"PIN"},
		"change":  {"OLD", "NEW"},
		"enable":  {"PIN"},
		"disable": {"PIN"},
		"unblock": {"PUK", "NEWPIN"},
	}
	names, ok := want[op]
	if !ok {
		return "", nil, fmt.Errorf("unknown pin operation %q: want status, enter, change, enable, disable or unblock", op)
	}
	if op == "enter" && len(args) == 0 {
		v, ok := os.LookupEnv(pinEnv)
		if !ok {
			return "", nil, fmt.Errorf("pin enter: give the PIN as an argument, as - to read it from standard input, or in $%s", pinEnv)
		}
		args = []string{v}
	}
	if len(args) != len(names) {
		if len(names) == 0 {
			return "", nil, fmt.Errorf("pin %s takes no argument", op)
		}
		return "", nil, fmt.Errorf("pin %s wants %s", op, strings.Join(names, " "))
	}
	if op == "status" {
		return op, nil, nil
	}
	var stdin *bufio.Reader
	vals := make([]string, len(args))
	for i, a := range args {
		if a == "-" {
			if stdin == nil {
				stdin = bufio.NewReader(e.stdin)
			}
			l, err := stdin.ReadString('\n')
			if err != nil && (err != io.EOF || l == "") {
				return "", nil, fmt.Errorf("reading %s from standard input: %v", names[i], err)
			}
			a = strings.TrimRight(l, "\r\n")
		}
		isPUK := names[i] == "PUK"
		if err := checkPIN(a, isPUK); err != nil {
			return "", nil, fmt.Errorf("%s: %w", names[i], err)
		}
		vals[i] = a
	}
	req := &mbim.PinSet{PinType: typ, Pin: mbim.NewString(vals[0])}
	switch op {
	case "enter":
		req.PinOperation = mbim.PinOperationEnter
	case "enable":
		req.PinOperation = mbim.PinOperationEnable
	case "disable":
		req.PinOperation = mbim.PinOperationDisable
	case "change":
		req.PinOperation = mbim.PinOperationChange
		req.NewPin = mbim.NewString(vals[1])
	case "unblock":
		// A PUK is entered with the new PIN.
		req.PinType = mbim.PinTypePuk1
		if typ == mbim.PinTypePin2 {
			req.PinType = mbim.PinTypePuk2
		}
		req.PinOperation = mbim.PinOperationEnter
		req.NewPin = mbim.NewString(vals[1])
	}
	return op, req, nil
}

// checkPIN checks the form of a PIN (4 to 8 digits) or PUK (8 digits),
// without printing it.
func checkPIN(s string, puk bool) error {
	for _, c := range s {
		if c < '0' || c > '9' {
			return errors.New("not a number: a PIN or PUK has only digits")
		}
	}
	switch {
	case puk && len(s) != 8:
		return fmt.Errorf("a PUK has 8 digits, not %d", len(s))
	case !puk && (len(s) < 4 || len(s) > 8):
		return fmt.Errorf("a PIN has 4 to 8 digits, not %d", len(s))
	}
	return nil
}

func runPin(ctx context.Context, s *modemSession, op string, req *mbim.PinSet) (result, error) {
	var info mbim.PinInfo
	if req == nil {
		var err error
		if info, err = s.dev.Pin(ctx); err != nil {
			return nil, err
		}
	} else {
		resp, err := s.dev.Command(ctx, mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandSet, req)
		var ce *mbim.CommandError
		if errors.As(err, &ce) {
			detail := ""
			var left mbim.PinInfo
			if resp != nil && len(resp.InformationBuffer()) > 0 && left.Decode(resp.InformationBuffer()) == nil {
				detail = pinDetail(left)
			}
			return nil, refused(ce.Service, ce.CID, ce.Status, detail)
		}
		if err != nil {
			return nil, err
		}
		if err := info.Decode(resp.InformationBuffer()); err != nil {
			return nil, fmt.Errorf("the modem's answer to PIN: %w", err)
		}
	}
	r := &pinResult{
		Operation:         op,
		PinType:           info.PinType.String(),
		PinState:          info.PinState.String(),
		RemainingAttempts: info.RemainingAttempts,
	}
	// PIN_LIST says which PINs are enabled; not every modem has it.
	var list mbim.PinListInfo
	if err := s.dev.Query(ctx, mbim.ServiceBasicConnect, mbim.CIDPinList, nil, &list); err == nil {
		r.Pin1 = newPinDesc(list.PinDescPin1)
		r.Pin2 = newPinDesc(list.PinDescPin2)
	} else if ctx.Err() != nil {
		return nil, err
	}
	return r, nil
}

// pinDetail says what a refused PIN operation left: "PIN1 required, 2
// attempts left", or "PUK1 required" once PIN1 is blocked.
func pinDetail(p mbim.PinInfo) string {
	if p.PinState == mbim.PinStateLocked {
		return fmt.Sprintf("%s required, %d attempts left", p.PinType.String(), p.RemainingAttempts)
	}
	return fmt.Sprintf("%d attempts left", p.RemainingAttempts)
}

// pinResult is the JSON of "mbimctl pin".
type pinResult struct {
	Operation         string   `json:"operation"`
	PinType           string   `json:"pin_type"`
	PinState          string   `json:"pin_state"`
	RemainingAttempts uint32   `json:"remaining_attempts"`
	Pin1              *pinDesc `json:"pin1"`
	Pin2              *pinDesc `json:"pin2"`
}

// pinDesc is one PIN of PIN_LIST.
type pinDesc struct {
	Mode      string `json:"mode"`
	Format    string `json:"format"`
	LengthMin uint32 `json:"length_min"`
	LengthMax uint32 `json:"length_max"`
}

func newPinDesc(d mbim.PinDesc) *pinDesc {
	if d.PinMode == mbim.PinModeNotSupported {
		return nil
	}
	return &pinDesc{Mode: d.PinMode.String(), Format: d.PinFormat.String(), LengthMin: d.PinLengthMin, LengthMax: d.PinLengthMax}
}

func (d *pinDesc) String() string {
	return fmt.Sprintf("%s (%s, %d-%d characters)", d.Mode, d.Format, d.LengthMin, d.LengthMax)
}

func (r *pinResult) writeText(w io.Writer) error {
	t := &table{}
	if r.Operation != "status" {
		t.row("Done", r.Operation)
	}
	waiting := "nothing"
	if r.PinState == mbim.PinStateLocked.String() {
		waiting = r.PinType
	}
	t.row("Waiting for", waiting)
	t.row("Attempts left", strconv.FormatUint(uint64(r.RemainingAttempts), 10))
	if r.Pin1 != nil {
		t.row("PIN1", r.Pin1.String())
	}
	if r.Pin2 != nil {
		t.row("PIN2", r.Pin2.String())
	}
	return t.write(w)
}
