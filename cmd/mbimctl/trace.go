package main

// The -v trace: every message to and from the modem, as a hex dump and as
// the decoded tree, with personal data masked in both.

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/gowwan/wwan/mbim"
)

// credentialFields are personal fields that no flag shows: passwords and
// PINs are masked even with --show-personal.
var credentialFields = []string{"password", "pin", "new_pin", "local_pin"}

// tracer prints the messages mbim.WithTrace hands it. Fragments are
// collected and the whole message is printed once complete.
type tracer struct {
	mu           sync.Mutex
	w            io.Writer
	showPersonal bool
	maxVersion   mbim.Version
	version      mbim.Version // the MBIMEx version the session uses, as seen on the wire
	reasm        [2]*mbim.Reassembler
	frags        [2]int
}

func newTracer(w io.Writer, showPersonal bool, maxVersion mbim.Version) *tracer {
	return &tracer{
		w: w, showPersonal: showPersonal, maxVersion: maxVersion, version: mbim.MBIMEx1,
		reasm: [2]*mbim.Reassembler{mbim.NewReassembler(0), mbim.NewReassembler(0)},
	}
}

// setVersion sets the version to decode with (the Device's, after Open).
func (t *tracer) setVersion(v mbim.Version) {
	t.mu.Lock()
	t.version = v
	t.mu.Unlock()
}

// trace is the mbim.WithTrace hook.
func (t *tracer) trace(dir mbim.Direction, wire []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	arrow, who, i := "<-", "modem to host", 0
	if dir == mbim.DirectionOut {
		arrow, who, i = "->", "host to modem", 1
	}
	stamp := now().Format("15:04:05.000")
	m, err := mbim.ParseMessage(append([]byte(nil), wire...))
	if err != nil {
		fmt.Fprintf(t.w, "%s %s %s: %d bytes that are not an MBIM message (%s)\n%s\n", arrow, stamp, who, len(wire), trimMBIM(err.Error()), hex.Dump(wire))
		return
	}
	label := ""
	if m.IsFragment() {
		t.frags[i]++
		full, complete, err := t.reasm[i].Add(m)
		if err != nil {
			fmt.Fprintf(t.w, "%s %s %s: fragment %d of %d that does not fit (%s)\n\n", arrow, stamp, who, m.FragmentCurrent()+1, m.FragmentTotal(), trimMBIM(err.Error()))
			t.frags[i] = 0
			return
		}
		if !complete {
			return
		}
		label = fmt.Sprintf(", reassembled from %d fragments", t.frags[i])
		t.frags[i] = 0
		if m, err = mbim.ParseMessage(append([]byte(nil), full.Bytes()...)); err != nil {
			return // not reached: Add returns parsed messages
		}
	}
	t.follow(dir, m)
	fmt.Fprintf(t.w, "%s %s %s: %s, %d bytes%s\n", arrow, stamp, who, m.Type(), m.Length(), label)
	t.print(m)
}

// follow tracks the MBIMEx version the way the Device negotiates it: OPEN
// starts over at 1.0, a successful MS VERSION answer sets the function's
// version, never above what was asked for.
func (t *tracer) follow(dir mbim.Direction, m mbim.Message) {
	switch {
	case dir == mbim.DirectionOut && m.Type() == mbim.TypeOpen:
		t.version = mbim.MBIMEx1
	case dir == mbim.DirectionIn && m.Type() == mbim.TypeCommandDone && m.Status() == mbim.StatusSuccess &&
		m.Service() == mbim.ServiceMsBasicConnectExtensions && m.CID() == mbim.CIDMsVersion:
		var v mbim.MsVersionInfo
		if v.Decode(m.InformationBuffer()) == nil && v.MbimExtendedVersion >= uint16(mbim.MBIMEx1) {
			t.version = min(mbim.Version(v.MbimExtendedVersion), t.maxVersion)
		}
	}
}

// print writes the hex dump and the decoded tree of a whole message, with
// personal fields masked.
func (t *tracer) print(m mbim.Message) {
	d, err := mbim.DecodeMessage(m, t.version)
	raw := m.Bytes()
	if err != nil {
		if len(mbim.PersonalFields(d.Layout)) > 0 && !t.showPersonal {
			// The personal fields cannot be found: show the header only.
			n := min(m.InformationBufferOffset(), len(raw))
			fmt.Fprintf(t.w, "%s(the information buffer is not shown: it may hold personal data and does not decode: %s)\n\n",
				hex.Dump(raw[:n]), trimMBIM(err.Error()))
			return
		}
		fmt.Fprintf(t.w, "%s(does not decode: %s)\n\n", hex.Dump(raw), trimMBIM(err.Error()))
		return
	}
	if d.Body != nil {
		if masked := maskMessage(raw, d.Body, t.showPersonal); masked {
			// Decode the masked bytes again, so that the tree shows
			// exactly what the dump shows.
			if d2, err := mbim.DecodeMessage(m, t.version); err == nil {
				d = d2
			}
		}
	}
	io.WriteString(t.w, hex.Dump(raw))
	var tree bytes.Buffer
	d.WriteTree(&tree, !t.showPersonal)
	tree.WriteByte('\n')
	t.w.Write(tree.Bytes())
}

// maskMessage overwrites, in msg, the bytes of every personal field of
// body (every credential with show) with '*', and reports whether it
// changed anything. body must have been decoded from msg or a copy of it:
// the values are searched for in msg, so aliasing does not matter.
func maskMessage(msg []byte, body mbim.Body, show bool) bool {
	var values [][]byte
	collectPersonal(reflect.ValueOf(body), show, false, &values)
	for i, v := range values {
		values[i] = append([]byte(nil), v...) // msg aliases them
	}
	changed := false
	for _, v := range values {
		if len(v) == 0 {
			continue
		}
		for start := 0; ; {
			i := bytes.Index(msg[start:], v)
			if i < 0 {
				break
			}
			at := start + i
			for j := range v {
				if len(v)%2 == 0 && j%2 == 1 {
					msg[at+j] = 0 // UTF-16: '*' is 2a 00
				} else {
					msg[at+j] = '*'
				}
			}
			changed = true
			start = at + len(v)
		}
	}
	return changed
}

// collectPersonal appends the bytes of the personal fields under v. all
// says that v itself is personal (every byte string in it is).
func collectPersonal(v reflect.Value, show, all bool, out *[][]byte) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectPersonal(v.Elem(), show, all, out)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if all {
				*out = append(*out, v.Bytes())
			}
			return
		}
		for i := 0; i < v.Len(); i++ {
			collectPersonal(v.Index(i), show, all, out)
		}
	case reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // UUIDs and addresses: never personal
		}
		for i := 0; i < v.Len(); i++ {
			collectPersonal(v.Index(i), show, all, out)
		}
	case reflect.Struct:
		personal := mbim.PersonalFields(v.Type().Name())
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			mask := all
			if slices.Contains(personal, name) {
				mask = mask || !show || slices.Contains(credentialFields, name)
			}
			collectPersonal(v.Field(i), show, mask, out)
		}
	}
}
