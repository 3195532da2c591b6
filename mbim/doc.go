// Package mbim is the MBIM protocol: control-message framing, fragments,
// the information-buffer codec for every known service and CID, and the
// client (Device) that runs transactions against a modem over a Transport.
// It makes no OS calls; transports to hardware live in usbtransport.
//
// # Wire format
//
// Every control message starts with a 12-byte header (MessageType,
// MessageLength, TransactionId). COMMAND, COMMAND_DONE and INDICATE_STATUS
// add a fragment header and carry a service UUID, a CID and an information
// buffer whose layout depends on the service, the CID, the kind of message
// (set, query, response, notification) and the negotiated MBIMEx version.
// Offsets inside an information buffer count from the start of the
// buffer, or from the start of the struct that holds them.
//
// # Aliasing and lifetime
//
// ParseMessage validates a message once and returns a Message, a view over
// the caller's bytes: nothing is copied. Typed layouts decode into
// caller-owned structs that can be reused; their String, UTF8String, Bytes
// and Uint16Table fields are views into the decoded buffer and stay valid
// only as long as it does.
// Call String.String() to get Go text. Encoders append to a caller's buffer
// (AppendBinary, AppendCommandInfo), so that a steady stream of messages
// allocates nothing: tests demand 0 allocations for decoding every vector
// message into a reused value and encoding every request into a reused
// buffer.
//
// # Errors
//
// Malformed input never panics: it returns a *ParseError naming the field
// and the byte offset, wrapping ErrTruncated, ErrMalformed,
// ErrInvalidUTF16, ErrIncomplete or ErrUnknownMessageType. A failed command
// is a *CommandError whose Status is itself an error, so
// errors.Is(err, StatusSimNotInserted) works.
//
// # Layouts are data
//
// The services, CIDs, enums and layouts are written once in hack/spec (our
// own compact format, see hack/spec/README.md), and hack/gen writes the
// typed code into zz_*.go. To add a CID:
//
//  1. describe it in hack/spec/<service>.spec;
//  2. run go generate ./mbim (CI fails when the output is stale);
//  3. add a golden vector (captured bytes with expected values) to the
//     tests;
//  4. nothing else: the fuzz targets and the CLI pick every layout up from
//     the generated table (Layouts, NewBody).
package mbim
