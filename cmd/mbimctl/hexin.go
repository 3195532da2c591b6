package main

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Reading hex as people paste it: from mbimcli traces, Wireshark, C arrays,
// libmbim test vectors, log files.
//
// The input is read a line at a time. A line whose first non-blank character
// is '#' is a comment. Elsewhere blanks, ':' and '-' separate nothing in
// particular and are skipped, so "0300 0080", "03:00:00:80" and
// "03-00-00-80" are the same bytes; a "0x" or "0X" at the start of a run of
// digits (a whole string, or each byte) is dropped. Digits are upper or
// lower case. The digits of the whole input form one stream of bytes, so a
// message may wrap across lines or arguments. Anything else is an error that
// names the character and where it is.

// position is where a character of the input is: a line of standard input,
// or a line of a command-line argument.
type position struct {
	arg       int  // 1-based argument number; 0 for standard input
	multiline bool // the argument holds several lines
	line, col int  // 1-based; col counts characters, not bytes
}

func (p position) String() string {
	switch {
	case p.arg == 0:
		return fmt.Sprintf("line %d, column %d", p.line, p.col)
	case p.multiline:
		return fmt.Sprintf("argument %d, line %d, column %d", p.arg, p.line, p.col)
	default:
		return fmt.Sprintf("argument %d, column %d", p.arg, p.col)
	}
}

// hexDecoder turns lines of hex text into bytes. It keeps the half byte left
// at the end of a line for the next one.
type hexDecoder struct {
	digits  int64    // hex digits read so far
	hi      byte     // the pending high nibble, when digits is odd
	lastPos position // where the last digit was
	lastCh  rune
}

func isBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\v', '\f':
		return true
	}
	return false
}

func isSeparator(c byte) bool { return isBlank(c) || c == ':' || c == '-' }

func unhexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendLine appends the bytes of one line (without its newline) to dst.
// pos gives the line's source and number; its column is filled in here. On a
// bad character it returns dst with the bytes before it and an *inputError.
func (h *hexDecoder) appendLine(dst []byte, line string, pos position) ([]byte, error) {
	i := 0
	for i < len(line) && isBlank(line[i]) {
		i++
	}
	if i < len(line) && line[i] == '#' {
		return dst, nil // a comment line
	}
	col := 0           // characters before line[i]
	tokenStart := true // line[i] starts a run of digits
	for i = 0; i < len(line); {
		c := line[i]
		if isSeparator(c) {
			i++
			col++
			tokenStart = true
			continue
		}
		if tokenStart && c == '0' && i+1 < len(line) && (line[i+1] == 'x' || line[i+1] == 'X') {
			i += 2
			col += 2
			tokenStart = false
			continue
		}
		tokenStart = false
		v, ok := unhexDigit(c)
		if !ok {
			pos.col = col + 1
			return dst, badCharError(line[i:], pos)
		}
		if h.digits%2 == 0 {
			h.hi = v
		} else {
			dst = append(dst, h.hi<<4|v)
		}
		h.digits++
		pos.col = col + 1
		h.lastPos, h.lastCh = pos, rune(c)
		i++
		col++
	}
	return dst, nil
}

func badCharError(rest string, pos position) error {
	r, size := utf8.DecodeRuneInString(rest)
	ch := strconv.QuoteRune(r)
	if r == utf8.RuneError && size <= 1 {
		ch = fmt.Sprintf("byte %#02x", rest[0])
	}
	return &inputError{text: fmt.Sprintf("bad character %s at %s: want hex digits, optionally separated by blanks, ':' or '-'", ch, pos)}
}

// finish reports an odd number of digits at the end of the input.
func (h *hexDecoder) finish() error {
	if h.digits%2 == 0 {
		return nil
	}
	return &inputError{text: fmt.Sprintf("odd number of hex digits (%d): the last digit, %s at %s, has no pair",
		h.digits, strconv.QuoteRune(h.lastCh), h.lastPos)}
}
