package mbim

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors callers branch on. Every error the codec returns wraps one
// of these (check with errors.Is), usually inside a *ParseError that names
// the field and the byte offset.
var (
	// ErrIncomplete means more bytes are needed before a message can be
	// judged: the input is a prefix of a message, not a malformed one.
	ErrIncomplete = errors.New("mbim: incomplete message")
	// ErrMalformed means the bytes cannot be a valid message or information
	// buffer: a length, offset, count or enum is out of range.
	ErrMalformed = errors.New("mbim: malformed message")
	// ErrTruncated means a field or a referenced item lies beyond the end of
	// the buffer that should contain it.
	ErrTruncated = errors.New("mbim: field out of bounds")
	// ErrUnknownMessageType means the MessageType is not one MBIM defines.
	ErrUnknownMessageType = errors.New("mbim: unknown message type")
	// ErrTooLarge means a value cannot be encoded (a length overflows 32 bits)
	// or a message is larger than a configured limit.
	ErrTooLarge = errors.New("mbim: too large")
	// ErrInvalidUTF16 means a string's bytes are not valid UTF-16LE.
	ErrInvalidUTF16 = errors.New("mbim: invalid UTF-16 string")
	// ErrNoLayout means no typed layout is known for a service, CID, message
	// kind and MBIMEx version; the raw information buffer is still available.
	ErrNoLayout = errors.New("mbim: no layout for this message")
)

// ParseError reports malformed input: which field, where, and why.
// Offset counts bytes from the start of the buffer given to the decoder
// (the information buffer for typed decoders, the message for framing);
// wrapping layers add their own base, so an error surfaced by DecodeMessage
// carries an offset from the first byte of the message.
type ParseError struct {
	Field  string // dotted path of the field, e.g. "providers[1].provider_id"
	Offset int    // byte offset of the field (or of the bad reference)
	Err    error  // one of the sentinels above, possibly wrapped
}

func (e *ParseError) Error() string {
	return "mbim: " + e.Field + " at byte " + strconv.Itoa(e.Offset) + ": " + trimPrefix(e.Err.Error())
}

func (e *ParseError) Unwrap() error { return e.Err }

func trimPrefix(s string) string {
	if len(s) > 6 && s[:6] == "mbim: " {
		return s[6:]
	}
	return s
}

// parseErr builds a *ParseError. It is only called on failure paths.
func parseErr(field string, off int, err error) error {
	return &ParseError{Field: field, Offset: off, Err: err}
}

// nestErr re-bases an error from a nested decoder: it prefixes the field
// path and adds base to the offset. Errors that are not *ParseError are
// wrapped with the field name.
func nestErr(field string, base int, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		f := field
		if pe.Field != "" {
			if pe.Field[0] == '[' {
				f += pe.Field
			} else {
				f += "." + pe.Field
			}
		}
		return &ParseError{Field: f, Offset: base + pe.Offset, Err: pe.Err}
	}
	return &ParseError{Field: field, Offset: base, Err: err}
}

// Error makes a Status usable as an error, so that
// errors.Is(err, mbim.StatusSimNotInserted) works on a *CommandError.
func (s Status) Error() string { return "mbim: status " + s.String() }

// Error makes a ProtocolError (the code of a HOST_ERROR or FUNCTION_ERROR)
// usable as an error.
func (p ProtocolError) Error() string { return "mbim: protocol error " + p.String() }

// CommandError is a COMMAND_DONE whose status is not SUCCESS.
type CommandError struct {
	Service UUID
	CID     uint32
	TID     uint32
	Status  Status
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("mbim: %s %s (tid %d): %s", ServiceName(e.Service), CIDName(e.Service, e.CID), e.TID, e.Status.String())
}

func (e *CommandError) Unwrap() error { return e.Status }
