// Package fuzz holds the native Go fuzz targets of package mbim. It has no
// API: everything is in the _test.go files.
//
// # Targets
//
//   - FuzzParseMessage: ParseMessage and NextMessage over arbitrary bytes.
//     No panic; errors are *mbim.ParseError wrapping ErrIncomplete,
//     ErrMalformed or ErrUnknownMessageType; an accepted message is a view
//     of exactly MessageLength bytes with no spare capacity, its accessors
//     agree with the header bytes, InformationBuffer lies inside it;
//     re-encoding it with the matching Append* builder (both the []byte and
//     the InfoAppender form) parses to an equal header and buffer; proper
//     prefixes of it are ErrIncomplete; NextMessage over the input as a
//     stream consumes 0 (incomplete), one message, or everything (garbage).
//   - FuzzReassembler: messages built from the input, split with
//     FragmentCount/AppendFragment at a fuzzer-chosen size, then delivered
//     in order, duplicated, dropped, reordered, interleaved with other
//     transactions and with raw fuzzer bytes. The splitter must produce
//     what the specification says; the Reassembler must return exactly the
//     original message for an in-order delivery, must agree step by step
//     with a small reference model of its documented state machine, must
//     only fail with a *FragmentError carrying FRAGMENT_OUT_OF_SEQUENCE,
//     MAX_TRANSFER or LENGTH_MISMATCH, and must never hold a buffer larger
//     than its limit.
//   - FuzzDecode: the first two bytes pick one typed layout of
//     mbim.Layouts() (little endian, modulo the count), the rest is its
//     information buffer. Decode fails only with a *mbim.ParseError wrapping
//     ErrTruncated, ErrMalformed or ErrInvalidUTF16. A decoded value
//     round-trips: encode succeeds, EncodedLen is exact, encoding does not
//     depend on what the destination already holds, encode∘decode is a
//     fixed point on bytes, and decode(encode(v)) == v up to the
//     normalisations the wire format forces (listed in decode_test.go).
//     Decoding into a value reused from an earlier (even failed) decode
//     gives the same result as decoding into a fresh one.
//   - FuzzDecodeMessage: ParseMessage then DecodeMessage at MBIMEx 1.0, 2.0
//     and 3.0. Errors are ParseErrors with offsets inside the information
//     buffer; the body is what its layout decodes; the JSON and both tree
//     forms never fail; and with redaction (WriteTree's redact, Decoded.Redact)
//     no personal value is printed, while Redacted changes nothing else.
//   - FuzzJSONBuild: the JSON form of a decoded layout unmarshals into a
//     fresh value that encodes to the same bytes and marshals to the same
//     JSON (mbimctl builds requests from JSON).
//
// Seeds come from ../testdata/libmbim-vectors.json, from a value of every
// layout with every field filled in (rich_test.go: random bytes almost
// never form a nested list, so these give every decode path a start), and
// a few hand-made edge cases. Inputs that once failed are kept in
// testdata/fuzz/<Target>/ and run with every `go test ./fuzz`. The ones
// that pick a layout by index are also pinned by layout name in
// regress_test.go, which does not depend on the order of mbim.Layouts().
//
// # Known bugs
//
// A bug found here is fixed in package mbim, not worked around here: its
// reproducer stays in testdata and regress_test.go, so `go test ./fuzz`
// fails until the fix lands, and guards against its return after.
//
// # Running
//
// The seed corpus runs as ordinary tests:
//
//	go test ./fuzz
//	go test -race ./fuzz
//
// To fuzz one target (one at a time; -fuzz takes a single target):
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzDecode$' -fuzztime 10m
//
// hack/fuzz.sh runs every target in turn; it finds them with
//
//	go test -list '^Fuzz' ./fuzz
//
// New failures are written to testdata/fuzz/<Target>/; keep them (they are
// regression tests) once the bug is understood. The generated corpus
// (GOCACHE/fuzz) is kept between runs, so longer runs pick up where the last
// one stopped.
package fuzz
