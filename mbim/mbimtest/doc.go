// Package mbimtest is a simulated MBIM function: a modem in a Go value, good
// enough that libmbim's mbimcli, mbim-proxy and our own client cannot tell it
// from a real one, with the knobs that a real one does not have.
//
// # Serving
//
// A Sim serves hosts over any mbim.Transport (Serve), over an in-process pipe
// (ServePipe, the usual choice for unit tests) or on a pseudo-terminal
// (ServePTY, the test double for /dev/cdc-wdmN that real clients open with
// -d). It frames the byte stream by MessageLength, reassembles the host's
// fragments (1250 ms between fragments, as libmbim), and splits what it
// sends at the MaxControlTransfer the host announced in OPEN.
//
// The MBIM session belongs to the function, not to a connection, as on
// hardware: a host that goes away without CLOSE leaves the session open for
// the next one, commands before OPEN get FUNCTION_ERROR NOT_OPENED, and OPEN
// while open re-opens (the MBIMEx version falls back to 1.0 and the
// subscription list to libmbim's "standard" list).
//
// # The modem model
//
// State is a small, deterministic model of a multi-mode 3GPP/3GPP2 modem:
// device capabilities and services; a SIM with a PIN1/PUK1 state machine
// (three PIN attempts, then ten PUK attempts, then a blocked SIM); hardware
// and software radio switches; a network with a home provider, visible and
// preferred providers, a registration state and a data class; packet service
// attach and detach with speeds that fit the data class; signal quality with
// the MBIMEx 2.0 RSRP/SNR list; data sessions with APN, credential and IP
// type checks, per-session IP configuration and statistics; IP packet
// filters; the MBIMEx VERSION exchange, after which the v2 and v3 layouts of
// PACKET_SERVICE, REGISTER_STATE, SIGNAL_STATE, CONNECT,
// SUBSCRIBER_READY_STATUS, IP_PACKET_FILTERS and MS DEVICE_CAPS are used for
// responses and indications alike; QMI over MBIM (CTL client ids, DMS
// identity). Every change of state that a host could observe is indicated
// (INDICATE_STATUS, transaction id 0) to hosts that subscribed to it, in a
// fixed order. Requests the model does not know get COMMAND_DONE
// NO_DEVICE_SUPPORT, so that clients fail fast rather than time out.
//
// All exported methods are safe for concurrent use.
//
// # Scenarios and faults
//
// Scenario methods move the model the way a network would: TourTechnologies
// walks the packet service through a list of data classes, with or without an
// address change; Deregister, Register, DropSession, Reset, SetSignal and the
// like do one thing each. They are deterministic: the same calls produce the
// same messages in the same order.
//
// Faults (AddFault) act on messages in either direction: delay, drop,
// duplicate, corrupt, fragment at any size, reorder fragments, answer with
// FUNCTION_ERROR, send lengths that are too short (as some real modems do),
// send indications before OPEN_DONE.
//
// # Real clients
//
// The package's own tests run libmbim's mbimcli (Debian libmbim-utils),
// qmicli --device-open-mbim (libqmi-utils) and the real mbim-proxy
// (libmbim-proxy, in a private network namespace, as root) against
// ServePTY, and skip with a message when a binary is missing. mbimcli
// parses every response with libmbim's own code, so these tests check the
// MBIMEx 1.0, 2.0 and 3.0 layouts against an independent implementation.
//
// # Tests in the style of nltest
//
// A Func answers requests of one service and CID (Handle), overriding the
// model or, by returning ErrUnhandled, extending it; Indicate pushes an
// unsolicited indication. Requests and Counters record what the host sent,
// for assertions.
package mbimtest
