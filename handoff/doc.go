// Package handoff keeps a host's network interface in step with an MBIM
// modem's data session through every packet-data-service handoff (GPRS,
// EDGE, UMTS, HSDPA, LTE, 5G; 1xRTT, EV-DO, EV-DO RevA), operator
// re-addressing, registration loss and modem resets.
//
// The contract is the Windows Mobile Broadband one translated to Linux
// (docs/handoff-contract.md): when the data class changes and the IP
// configuration does not, the handoff is transparent and nothing on the
// host is touched; when it changes, the host follows in the seed's eight
// steps; every handoff ends with one event.
//
// # Parts
//
//   - Engine: the state machine. It is fed Inputs (PacketService, Session,
//     IPConfiguration, Register, TransportLost, TransportBack; converters
//     from the decoded mbim types are in config.go) through Handle, which
//     never blocks, and drives two interfaces: Modem (status, connect,
//     IP_CONFIGURATION query) and Host (addresses, default routes, MTU,
//     link, DNS). It reports Events to its sinks and a Snapshot for
//     metrics and status displays.
//   - Host: the host side; LinuxHost (netlink) on Linux, and the recording
//     fake handofftest.Host for tests.
//   - Hook: a sink that runs an executable per event with the event in its
//     environment (Event.Env), like a NetworkManager dispatcher script.
//
// # States
//
// The engine runs in one goroutine (Run); Modem calls run on short-lived
// goroutines whose results come back to it, at most one at a time, so a
// two-minute CONNECT never hides a TransportLost. The state is derived
// from what the engine knows and needs, in this order of precedence:
//
//	state         when                                          the engine
//	idle          Run not started or returned                   —
//	starting      reading the host / the modem's status at start Host.State once, Modem.Status
//	lost          TransportLost received                        nothing; inputs other than TransportBack are ignored
//	detached      deregistered, searching, denied, or packet    holds: no connect, no query, no host change
//	              service not attached (§10)
//	connecting    session not activated, never configured yet   Connect with backoff
//	reconnecting  session dropped after it was configured       Connect with backoff (steps 1–3 emitted)
//	checking      a change is being checked: debounce, query,   queries IP_CONFIGURATION, compares, applies
//	              apply (or a resync after TransportBack or
//	              dropped inputs)
//	up            session activated, host consistent            nothing: inputs that change nothing cost nothing
//
// Transitions:
//
//	from                      input                                         to
//	idle                      Run                                           starting
//	starting                  status: session ACTIVATED                     checking → up (host reconciled, no handoff event)
//	starting                  status: session not ACTIVATED                 connecting
//	connecting                Connect ok → query → applied                  up
//	connecting, reconnecting  Connect failed                                same, retry after backoff; "failed" after the budget
//	up                        PacketService with another data class         checking (debounce, then query)
//	up                        IPConfiguration that changes the config       checking (debounce, no query)
//	checking                  configuration equal                           up, outcome transparent (no Host call)
//	checking                  configuration differs                         up, outcome readdressed (seed's steps)
//	up, checking              Session DEACTIVATED                           reconnecting (steps 1, 2)
//	reconnecting              Connect ok → query                            up, outcome reconnected (+ address steps)
//	any but lost              Register lost / PacketService not attached    detached
//	detached                  registered and attached again                 reconnecting if the session is down, else checking
//	any                       TransportLost                                 lost (Modem call cancelled, host left as is)
//	lost                      TransportBack                                 checking: Host.State once, Modem.Status, connect
//	                                                                        if needed, query, reconcile → up
//	any                       Handle dropped inputs (queue full)            checking: Modem.Status and query again
//	checking                  Host refuses a change                         changes of this attempt undone, outcome failed,
//	                                                                        retry after backoff
//
// # Handoffs
//
// A handoff starts with the input that reveals it: a data-class change, an
// IP_CONFIGURATION indication that changes the configuration, a session
// deactivation, or TransportBack. After a data-class change the engine
// queries IP_CONFIGURATION once the debounce (100 ms) has passed since the
// first change: a burst gives one query, and an IP_CONFIGURATION
// indication within the window makes the query unnecessary (modems that
// report the change only by a query work, and so do those that send the
// indication). Indications merge into what is known by their availability
// flags (IPv4 and IPv6 may come separately; a family not flagged is not
// removed); a query's answer is the modem's whole configuration and
// replaces it. An indication that carries every family the session has
// leaves nothing to merge, so it is applied when it arrives: an address
// change the modem announces costs no debounce.
//
// The engine compares the modem's configuration with what it applied (it
// reads Host.State only at start and after TransportBack) and plans the
// difference:
//
//   - nothing differs and the session stayed up: outcome transparent,
//     steps ["packet-service"], no Host call at all;
//   - otherwise, in the seed's order, each a step of the event: 1
//     "packet-service" (the change as first reported), 2 "session", 3
//     "packet-service" (attached on the new class; a dropped session is
//     connected again after it), 4 "route-del default[ ipv6]" for a family
//     left without address and "addr-del a/len" for each old address not
//     in the new configuration, 5 "addr-add a/len" for each new one,
//     "route-replace default[ ipv6]" for each family whose addresses or
//     gateway changed, "mtu N", "dns a b …" when they differ, 6
//     "link-down" and 7 "link-up" only when the addresses changed, 8
//     "packet-service" (the final state). An address in both stays: an
//     IPv6 change does not disturb IPv4. The outcome is reconnected when
//     the session had dropped, readdressed otherwise.
//
// In DHCP mode steps 4 and 5 are skipped; 6 and 7 make the DHCP client
// renew. A link found down (a new netdev after a modem reset, a first
// start) is brought up before the addresses instead (routes need it), and
// start-up reconciles without a link flap. Link-local addresses are the
// kernel's: never added, never deleted.
//
// A failure (no reconnect or query within EngineConfig.RetryBudget
// attempts, or a change the host refuses) ends the handoff with outcome
// "failed" and its reason; the changes made by the refused attempt are
// undone so the host stays in its last consistent state, and the engine
// keeps trying with backoff under a new handoff that ends with its own
// outcome.
//
// # Events
//
// Event types: packet-service, session, link, config (the configuration
// the host is now consistent with) and handoff. A handoff event marshals
// to exactly the contract's JSON:
//
//	{"time":"2026-11-25T10:00:00.123Z","session":0,"from":"HSDPA","to":"LTE",
//	 "outcome":"readdressed","duration_seconds":0.00042,
//	 "steps":["packet-service","session","packet-service","addr-del 198.51.100.2/30",
//	          "addr-add 198.51.100.6/30","route-replace default","link-down","link-up","packet-service"],
//	 "old":{"ipv4":["198.51.100.2/30"]},"new":{"ipv4":["198.51.100.6/30"]},"reason":""}
//
// Duration runs from the arrival (Handle) of the input that started the
// handoff to the host being consistent; for a transparent handoff it is the
// debounce plus the query. Data classes are named by DataClassName.
package handoff
