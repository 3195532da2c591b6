package main

// What the modem commands print: aligned tables with units and names for
// people, and one JSON object per command (its schema in the README) for
// scripts. Also the frame every modem command runs in.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gowwan/wwan/mbim"
)

// result is what a modem command prints. It marshals to the command's JSON
// schema; writeText prints it for people.
type result interface {
	writeText(w io.Writer) error
}

// plan is a modem command whose arguments have been checked: the options
// it needs at open, and what it does with the open modem. run returns the
// result to print, or nil when it printed already (watch).
type plan struct {
	opts []mbim.Option
	run  func(ctx context.Context, e *env, s *modemSession) (result, error)
}

// modemCommand builds the flags function of a command that talks to a
// modem. own registers the command's own flags and returns check, which
// validates the arguments and flag values before anything is opened or
// sent (a usage error, exit 2, when they are wrong).
func modemCommand(own func(fs *flag.FlagSet, g *modemFlags) func(e *env, args []string) (*plan, error)) func(fs *flag.FlagSet) func(*env, []string) error {
	return func(fs *flag.FlagSet) func(*env, []string) error {
		g := addModemFlags(fs)
		check := own(fs, g)
		return func(e *env, args []string) error {
			if _, err := g.target(); err != nil {
				return usageError{err}
			}
			p, err := check(e, args)
			if err != nil {
				return asUsage(err)
			}
			ctx, stop := notifyContext(context.Background())
			defer stop()
			s, err := g.open(ctx, e, p.opts...)
			if err != nil {
				return err
			}
			res, err := p.run(ctx, e, s)
			s.Close()
			if err != nil {
				return s.explain(err)
			}
			if res == nil {
				return nil
			}
			return printResult(e.stdout, g.json, res)
		}
	}
}

// asUsage makes an error a usage error unless it carries an exit code.
func asUsage(err error) error {
	switch err.(type) {
	case usageError, *codedError:
		return err
	}
	return usageError{err}
}

// printResult prints r as JSON (indented, one object) or as text.
func printResult(w io.Writer, asJSON bool, r result) error {
	if asJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding JSON: %w", err)
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	return r.writeText(w)
}

// noArgs checks that a command got no arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	return nil
}

// table prints aligned columns: each column as wide as its widest cell
// (counted in characters), two spaces between columns, no trailing blanks.
type table struct {
	indent string
	rows   [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		var line strings.Builder
		line.WriteString(t.indent)
		for i, c := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			line.WriteString(c)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// flagNamer is a generated flag set.
type flagNamer interface {
	Names() (names []string, unnamed uint64)
}

// flagList names the flags set in v ([] when none); bits without a name
// are listed as hex numbers.
func flagList(v flagNamer) []string {
	names, rest := v.Names()
	if rest != 0 {
		names = append(names, "0x"+strconv.FormatUint(rest, 16))
	}
	if names == nil {
		return []string{}
	}
	return names
}

// joinOr joins names for a table, or gives none when there are none.
func joinOr(names []string, none string) string {
	if len(names) == 0 {
		return none
	}
	return strings.Join(names, ", ")
}

// orDash is s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rssiDBm converts an RSSI (0..31) to dBm; nil when unknown (99).
func rssiDBm(rssi uint32) *int {
	if rssi > 31 {
		return nil
	}
	v := -113 + 2*int(rssi)
	return &v
}

// rsrpDBm converts an MBIMEx 2.0 RSRP (0..126) to dBm; nil when unknown.
func rsrpDBm(rsrp uint32) *int {
	if rsrp > 126 {
		return nil
	}
	v := -157 + int(rsrp)
	return &v
}

// snrDB converts an MBIMEx 2.0 SNR (0..127) to dB; nil when unknown.
func snrDB(snr uint32) *float64 {
	if snr > 127 {
		return nil
	}
	v := -23.5 + 0.5*float64(snr)
	return &v
}

// errorRate returns the error-rate class (0..7); nil when unknown (99).
func errorRate(v uint32) *uint32 {
	if v > 7 {
		return nil
	}
	return &v
}

// errorRateRanges are the bit error rates of the classes (3GPP TS 27.007).
var errorRateRanges = [8]string{"< 0.2 %", "0.2-0.4 %", "0.4-0.8 %", "0.8-1.6 %", "1.6-3.2 %", "3.2-6.4 %", "6.4-12.8 %", "> 12.8 %"}

func dBmText(v *int) string {
	if v == nil {
		return "unknown"
	}
	return strconv.Itoa(*v) + " dBm"
}

func errorRateText(v *uint32) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprintf("%d (%s)", *v, errorRateRanges[*v])
}

// bitrate prints bit/s for people: 150 Mbit/s, 42.2 Mbit/s, 236.8 kbit/s.
func bitrate(bps uint64) string {
	switch {
	case bps >= 1_000_000:
		return trimFloat(float64(bps)/1e6) + " Mbit/s"
	case bps >= 1_000:
		return trimFloat(float64(bps)/1e3) + " kbit/s"
	}
	return strconv.FormatUint(bps, 10) + " bit/s"
}

// trimFloat prints v with one decimal, without a trailing ".0".
func trimFloat(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// byteCount prints a count of bytes with its size in KiB, MiB or GiB.
func byteCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	switch {
	case n >= 1<<30:
		return s + " (" + trimFloat(float64(n)/(1<<30)) + " GiB)"
	case n >= 1<<20:
		return s + " (" + trimFloat(float64(n)/(1<<20)) + " MiB)"
	case n >= 1<<10:
		return s + " (" + trimFloat(float64(n)/(1<<10)) + " KiB)"
	}
	return s
}

// personalMark replaces a personal value in watch output (as in decode
// --redact and -v traces).
const personalMark = "[personal]"

// maskString masks s unless show; an empty s stays empty.
func maskString(s string, show bool) string {
	if show || s == "" {
		return s
	}
	return personalMark
}
