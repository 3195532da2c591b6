package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gowwan/wwan/mbim"
)

func init() { register(decodeCommand) }

var decodeCommand = &command{
	name:    "decode",
	summary: "decode MBIM messages given as hex",
	usage:   "decode [--json] [--mbimex 1|2|3] [--redact] [HEX ...]",
	desc: `
Decode one or more MBIM messages given as hex: from the arguments (joined),
or from standard input when there are none.

The hex may be upper or lower case, with or without blanks, newlines, ':' or
'-' between the digits, and with "0x" before each byte or before the whole
string. Lines that start with '#' are comments. The bytes are read as a
stream of messages back to back; fragments of a fragmented message are
reassembled before it is decoded. Each message is printed as soon as it is
complete: as an indented tree, with a blank line between messages, or with
--json as one JSON object per line.

The information buffer is decoded with the layout of the message's service,
CID and kind under the given MBIMEx version (some CIDs changed layout in
MBIMEx 2.0 and 3.0). Unknown services and CIDs print the buffer in hex.

Decoding stops at the first error: bad hex, a malformed message (the error
names the field and its byte offset from the start of the input), or an
incomplete message at the end of the input. Messages decoded before it stay
printed, and the exit code is 6.`,
	examples: []example{
		{"decode < testdata/examples/device-caps.hex", "decode a message saved as hex in a file"},
		{"decode --mbimex 3 < testdata/examples/connect-v3.hex", "decode an MBIMEx 3.0 CONNECT response"},
		{"decode 01000000100000000100000000100000", "decode an OPEN given on the command line"},
		{"decode --json < capture.hex | jq .fields", "one JSON object per message, for jq and scripts"},
		{"decode --redact < capture.hex", "mask IMSI, ICCID, IMEI, phone numbers and credentials before sharing"},
	},
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		o := &decodeOptions{version: versionFlag(mbim.MBIMEx1)}
		fs.BoolVar(&o.json, "json", false, "print each message as one JSON object on one line")
		fs.Var(&o.version, "mbimex", "decode with the layouts of MBIMEx `version`: 1, 2 or 3 (or 1.0, 2.0, 3.0)")
		fs.BoolVar(&o.redact, "redact", false, "mask fields that carry personal data (IMSI, ICCID, IMEI, phone numbers, credentials)")
		return o.run
	},
}

// versionFlag is the --mbimex value: only the versions that exist.
type versionFlag mbim.Version

func (v *versionFlag) String() string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(mbim.Version(*v).Major())
}

func (v *versionFlag) Set(s string) error {
	switch s {
	case "1", "1.0":
		*v = versionFlag(mbim.MBIMEx1)
	case "2", "2.0":
		*v = versionFlag(mbim.MBIMEx2)
	case "3", "3.0":
		*v = versionFlag(mbim.MBIMEx3)
	default:
		return errors.New("want 1, 2 or 3 (or 1.0, 2.0, 3.0)")
	}
	return nil
}

type decodeOptions struct {
	json    bool
	version versionFlag
	redact  bool
}

// maxDecodedMessage bounds a reassembled message. It is far above what a
// device sends (libmbim and the client use 64 KiB) so that odd captures still
// decode, and it bounds nothing else: input that is not fragmented is only
// limited by its own size.
const maxDecodedMessage = 16 << 20

func (o *decodeOptions) run(e *env, args []string) error {
	d := &decoder{
		opts:  o,
		out:   bufio.NewWriter(e.stdout),
		reasm: mbim.NewReassembler(maxDecodedMessage),
	}
	err := d.read(e, args)
	if ferr := d.out.Flush(); err == nil {
		err = ferr
	}
	return err
}

// decoder splits the byte stream into messages, reassembles fragments and
// prints each complete message.
type decoder struct {
	opts  *decodeOptions
	out   *bufio.Writer
	hex   hexDecoder
	reasm *mbim.Reassembler

	buf   []byte // bytes of the stream not yet consumed
	base  int64  // stream offset of buf[0]
	count int    // messages (and fragments) framed so far
	shown int    // messages printed so far

	// The fragments of the message being reassembled, to report errors in
	// the reassembled message at their place in the input.
	frags     []fragment
	fragTotal uint32
}

// fragment is one fragment's place in the stream.
type fragment struct {
	index   int   // its number in the stream, from 1
	off     int64 // its first byte in the stream
	payload int   // bytes after its 20-byte header
}

func (d *decoder) read(e *env, args []string) error {
	if len(args) > 0 {
		for i, a := range args {
			lines := strings.Split(a, "\n")
			for j, l := range lines {
				pos := position{arg: i + 1, multiline: len(lines) > 1, line: j + 1}
				if err := d.line(l, pos); err != nil {
					return err
				}
			}
		}
		return d.finish()
	}
	if isTerminal(e.stdin) {
		fmt.Fprintln(e.stderr, "mbimctl: decode: reading hex from the terminal; end with Ctrl-D")
	}
	r := bufio.NewReader(e.stdin)
	for n := 1; ; n++ {
		l, rerr := r.ReadString('\n')
		if rerr != nil && rerr != io.EOF {
			return fmt.Errorf("reading standard input: %w", rerr)
		}
		if len(l) > 0 {
			if err := d.line(strings.TrimSuffix(l, "\n"), position{line: n}); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return d.finish()
		}
	}
}

// line decodes one line of hex and prints the messages it completes.
func (d *decoder) line(l string, pos position) error {
	var err error
	d.buf, err = d.hex.appendLine(d.buf, l, pos)
	// Bytes before a bad character are still framed, so that the messages
	// they complete are printed before the error is reported.
	if derr := d.drain(); derr != nil {
		return derr
	}
	return err
}

// drain frames, decodes and prints every complete message in buf.
func (d *decoder) drain() error {
	start := 0
	defer func() {
		// Keep only the unconsumed tail; the buffer is reused.
		if start > 0 {
			n := copy(d.buf, d.buf[start:])
			d.buf = d.buf[:n]
			d.base += int64(start)
		}
	}()
	for start < len(d.buf) {
		m, n, err := mbim.NextMessage(d.buf[start:])
		if errors.Is(err, mbim.ErrIncomplete) {
			return nil // wait for more bytes
		}
		d.count++
		off := d.base + int64(start)
		if err != nil {
			return d.messageError(d.count, off, "", parseError(err, func(o int) int64 { return off + int64(o) }))
		}
		if err := d.message(m, d.count, off); err != nil {
			return err
		}
		start += n
	}
	return nil
}

// message takes one framed message (or fragment) that starts at byte off of
// the stream.
func (d *decoder) message(m mbim.Message, index int, off int64) error {
	if m.IsFragment() {
		if m.FragmentCurrent() == 0 {
			d.frags, d.fragTotal = d.frags[:0], m.FragmentTotal()
		}
		d.frags = append(d.frags, fragment{index, off, len(m.FragmentPayload())})
	}
	full, complete, err := d.reasm.Add(m)
	if err != nil {
		return d.fragmentError(err, index, off)
	}
	if !complete {
		return nil
	}
	label, at := "", func(o int) int64 { return off + int64(o) }
	if m.IsFragment() { // the last fragment completed a message
		first := d.frags[0]
		index, off = first.index, first.off
		label = fmt.Sprintf(" (reassembled from messages %d-%d)", first.index, d.frags[len(d.frags)-1].index)
		at = d.reassembledOffset
	}
	dm, err := mbim.DecodeMessage(full, mbim.Version(d.opts.version))
	if err != nil {
		return d.messageError(index, off, label, parseError(err, at))
	}
	return d.print(dm)
}

func (d *decoder) print(dm *mbim.Decoded) error {
	if d.opts.json {
		dm.Redact = d.opts.redact
		j, err := json.Marshal(dm)
		if err != nil {
			return fmt.Errorf("encoding JSON: %w", err)
		}
		d.out.Write(j)
		d.out.WriteByte('\n')
	} else {
		if d.shown > 0 {
			d.out.WriteByte('\n')
		}
		if err := dm.WriteTree(d.out, d.opts.redact); err != nil {
			return err
		}
	}
	d.shown++
	// Print as we go: a message shows up as soon as it is complete, and stays
	// on the screen whatever comes after it.
	return d.out.Flush()
}

// finish checks the end of the input: no half byte, no partial message, no
// fragmented message waiting for more fragments.
func (d *decoder) finish() error {
	if err := d.hex.finish(); err != nil {
		return err
	}
	if d.hex.digits == 0 {
		return &inputError{text: "no hex digits in the input"}
	}
	if len(d.buf) > 0 {
		need := 12
		if len(d.buf) >= 8 {
			need = int(uint32(d.buf[4]) | uint32(d.buf[5])<<8 | uint32(d.buf[6])<<16 | uint32(d.buf[7])<<24)
		}
		return d.messageError(d.count+1, d.base, "", &inputError{
			text: fmt.Sprintf("incomplete message: %d bytes, need %d", len(d.buf), max(need, 12)),
			err:  mbim.ErrIncomplete,
		})
	}
	if tid, ok := d.reasm.InProgress(); ok && len(d.frags) > 0 {
		first := d.frags[0]
		return d.messageError(first.index, first.off, "", &inputError{
			text: fmt.Sprintf("incomplete fragmented message (transaction %d): the input ends after fragment %d of %d",
				tid, len(d.frags), d.fragTotal),
			err: mbim.ErrIncomplete,
		})
	}
	return nil
}

// reassembledOffset maps an offset in a reassembled message to the stream:
// the 20 header bytes are those of the first fragment, the rest the payloads
// of the fragments in turn.
func (d *decoder) reassembledOffset(o int) int64 {
	if len(d.frags) == 0 {
		return int64(o) // not reached: only called for a reassembled message
	}
	if o < 20 {
		return d.frags[0].off + int64(o)
	}
	rest := o - 20
	for _, f := range d.frags {
		if rest < f.payload {
			return f.off + 20 + int64(rest)
		}
		rest -= f.payload
	}
	last := d.frags[len(d.frags)-1]
	return last.off + 20 + int64(last.payload) + int64(rest)
}

// fragmentError reports a failure to reassemble, at the fragment that
// caused it.
func (d *decoder) fragmentError(err error, index int, off int64) error {
	var fe *mbim.FragmentError
	if !errors.As(err, &fe) {
		return d.messageError(index, off, "", parseError(err, func(o int) int64 { return off + int64(o) }))
	}
	at := func(o int) int64 { return off + int64(o) }
	if fe.Code == mbim.ProtocolErrorLengthMismatch {
		// The detail is about the reassembled message.
		at = d.reassembledOffset
	}
	// Status-like codes implement error too; ask for the name, not Error().
	text := fmt.Sprintf("fragmented %s (transaction %d): %s", fe.Type.String(), fe.TID, fe.Code.String())
	if fe.Err != nil {
		text += ": " + parseError(fe.Err, at).Error()
	}
	return d.messageError(index, off, "", &inputError{text: text, err: fe})
}

// messageError prefixes an error with the message it is about.
func (d *decoder) messageError(index int, off int64, label string, err error) error {
	ie := &inputError{err: err}
	ie.text = fmt.Sprintf("message %d at byte %d%s: %s", index, off, label, err.Error())
	return ie
}

// parseError rewrites an mbim error for people: a *mbim.ParseError becomes
// "field at byte N: reason" with N counted from the start of the input (at
// maps the error's offset there), without the "mbim: " prefix.
func parseError(err error, at func(int) int64) error {
	var pe *mbim.ParseError
	if errors.As(err, &pe) {
		return &inputError{
			text: fmt.Sprintf("%s at byte %d: %s", pe.Field, at(pe.Offset), trimMBIM(pe.Err.Error())),
			err:  err,
		}
	}
	return &inputError{text: trimMBIM(err.Error()), err: err}
}

func trimMBIM(s string) string { return strings.TrimPrefix(s, "mbim: ") }

// inputError is malformed input: bad hex, or bytes that are not a valid
// MBIM message. It exits with exitMalformed.
type inputError struct {
	text string
	err  error // the cause, for errors.Is and errors.As
}

func (e *inputError) Error() string { return e.text }
func (e *inputError) Unwrap() error { return e.err }

// isMalformed reports whether err is about the input rather than the
// program or the system.
func isMalformed(err error) bool {
	var ie *inputError
	var pe *mbim.ParseError
	var fe *mbim.FragmentError
	return errors.As(err, &ie) || errors.As(err, &pe) || errors.As(err, &fe) ||
		errors.Is(err, mbim.ErrMalformed) || errors.Is(err, mbim.ErrIncomplete) ||
		errors.Is(err, mbim.ErrTruncated) || errors.Is(err, mbim.ErrUnknownMessageType) ||
		errors.Is(err, mbim.ErrInvalidUTF16)
}

// isTerminal reports whether r is a terminal (a character device other than
// /dev/null), where a user may wonder why nothing happens.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}
