package metrics

import "github.com/prometheus/client_golang/prometheus"

// Namespace is the prefix of every metric name.
const Namespace = "wwan"

// descs are the descriptors of every metric the Collector exports. The
// README's "Metrics" section documents each; a test keeps the two equal.
type descs struct {
	// Collector health.
	scrapeSuccess, scrapeDuration *prometheus.Desc

	// The modem.
	info, up, lastUpdate *prometheus.Desc

	// The control channel (mbim.Device.Stats and the observer).
	transactions, transactionDuration           *prometheus.Desc
	timeouts, consecutiveTimeouts               *prometheus.Desc
	functionErrors, hostErrors, fragmentErrors  *prometheus.Desc
	malformedStreams, discardedBytes            *prometheus.Desc
	unmatchedReplies, ignoredMessages           *prometheus.Desc
	messages, bytes, fragments                  *prometheus.Desc
	indications, droppedIndications, recoveries *prometheus.Desc

	// Radio and network.
	rssi, errorRate, rsrp, rsrq, snr      *prometheus.Desc
	registrationState, packetServiceState *prometheus.Desc
	dataClass, uplinkSpeed, downlinkSpeed *prometheus.Desc
	sessionState, sessionStart            *prometheus.Desc

	// The modem's packet statistics.
	rxBytes, txBytes, rxPackets, txPackets     *prometheus.Desc
	rxErrors, txErrors, rxDiscards, txDiscards *prometheus.Desc

	// The handoff engine (its Snapshot) and the Recorder (its events).
	engineState, linkUp, engineInputs, engineDroppedInputs   *prometheus.Desc
	engineConnects, engineQueries, engineHostChanges         *prometheus.Desc
	engineHostErrors, engineModemErrors, lastHandoff         *prometheus.Desc
	handoffs, handoffDuration, ipChanges, reconnects, resets *prometheus.Desc
}

func newDescs(constLabels prometheus.Labels) *descs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_"+name, help, labels, constLabels)
	}
	return &descs{
		scrapeSuccess:  d("scrape_success", "1 if the last scrape got the source's snapshot in time, 0 if it failed or timed out (then only the recorder's metrics are exported)."),
		scrapeDuration: d("scrape_duration_seconds", "How long the last scrape took to get the source's snapshot."),

		info:       d("info", "The modem's manufacturer, model, firmware and negotiated MBIMEx version; always 1.", "manufacturer", "model", "firmware", "mbimex"),
		up:         d("modem_up", "1 while an MBIM session with the modem is open, 0 otherwise."),
		lastUpdate: d("last_update_timestamp_seconds", "Unix time at which the source last refreshed its polled values."),

		transactions:        d("mbim_transactions_total", "Finished MBIM transactions by service, CID, result (success, status, timeout, function_error, fragment_error, canceled, closed, error) and MBIM status.", "service", "cid", "result", "status"),
		transactionDuration: d("mbim_transaction_duration_seconds", "Latency of MBIM transactions, from request to response, by service and CID.", "service", "cid"),
		timeouts:            d("mbim_timeouts_total", "MBIM transactions that got no answer in time."),
		consecutiveTimeouts: d("mbim_consecutive_timeouts", "MBIM transactions in a row that timed out with no answer of any kind in between; a growing value says the modem is wedged."),
		functionErrors:      d("mbim_function_errors_total", "FUNCTION_ERROR messages received from the modem, by protocol error code.", "code"),
		hostErrors:          d("mbim_host_errors_total", "HOST_ERROR messages sent to the modem."),
		fragmentErrors:      d("mbim_fragment_errors_total", "Fragmented messages from the modem that could not be reassembled."),
		malformedStreams:    d("mbim_malformed_streams_total", "Times input from the modem that is not MBIM was discarded."),
		discardedBytes:      d("mbim_discarded_bytes_total", "Bytes of input from the modem that were discarded as not MBIM."),
		unmatchedReplies:    d("mbim_unmatched_replies_total", "Replies from the modem that matched no pending transaction."),
		ignoredMessages:     d("mbim_ignored_messages_total", "Host-originated message types received from the modem and ignored."),
		messages:            d("mbim_messages_total", "MBIM messages and fragments on the control channel, by direction (in: from the modem, out: to it).", "direction"),
		bytes:               d("mbim_bytes_total", "Bytes on the control channel, by direction.", "direction"),
		fragments:           d("mbim_fragments_total", "Fragments of multi-fragment MBIM messages, by direction.", "direction"),
		indications:         d("mbim_indications_total", "Indications received from the modem, by service and CID.", "service", "cid"),
		droppedIndications:  d("mbim_dropped_indications_total", "Indications dropped because a subscriber's queue was full."),
		recoveries:          d("mbim_recoveries_total", "Re-opens of the MBIM session after the modem answered NOT_OPENED, by result (success, failure).", "result"),

		rssi:      d("signal_rssi_dbm", "Received signal strength (SIGNAL_STATE RSSI) in dBm; absent when the modem does not know it."),
		errorRate: d("signal_error_rate", "Bit error rate class (SIGNAL_STATE ErrorRate, 3GPP TS 27.007 <ber>): 0 (below 0.2 %) to 7 (above 12.8 %); absent when unknown."),
		rsrp:      d("signal_rsrp_dbm", "Reference signal received power in dBm, by technology (MBIMEx 2.0 and later).", "data_class"),
		rsrq:      d("signal_rsrq_db", "Reference signal received quality in dB, by technology (from the serving cell's base station information).", "data_class"),
		snr:       d("signal_snr_db", "Signal-to-noise ratio in dB, by technology (MBIMEx 2.0 and later).", "data_class"),

		registrationState:  d("registration_state", "Network registration state (REGISTER_STATE): 1 for the current state, 0 for the others.", "state"),
		packetServiceState: d("packet_service_state", "Packet service state (PACKET_SERVICE): 1 for the current state, 0 for the others.", "state"),
		dataClass:          d("data_class", "Current data class (radio technology) of the packet service: 1 for the current class, 0 for the others.", "data_class"),
		uplinkSpeed:        d("uplink_speed_bytes_per_second", "Uplink speed the modem reports for the packet service, in bytes per second."),
		downlinkSpeed:      d("downlink_speed_bytes_per_second", "Downlink speed the modem reports for the packet service, in bytes per second."),
		sessionState:       d("session_state", "Activation state of the data session (CONNECT): 1 for the current state, 0 for the others.", "state"),
		sessionStart:       d("session_start_time_seconds", "Unix time at which the data session was last activated; absent while it is not."),

		rxBytes:    d("modem_receive_bytes_total", "Bytes the modem received on the data plane (PACKET_STATISTICS InOctets)."),
		txBytes:    d("modem_transmit_bytes_total", "Bytes the modem sent on the data plane (PACKET_STATISTICS OutOctets)."),
		rxPackets:  d("modem_receive_packets_total", "Packets the modem received on the data plane (PACKET_STATISTICS InPackets)."),
		txPackets:  d("modem_transmit_packets_total", "Packets the modem sent on the data plane (PACKET_STATISTICS OutPackets)."),
		rxErrors:   d("modem_receive_errors_total", "Received packets the modem found in error (PACKET_STATISTICS InErrors)."),
		txErrors:   d("modem_transmit_errors_total", "Packets the modem could not send because of errors (PACKET_STATISTICS OutErrors)."),
		rxDiscards: d("modem_receive_discards_total", "Received packets the modem discarded (PACKET_STATISTICS InDiscards)."),
		txDiscards: d("modem_transmit_discards_total", "Outgoing packets the modem discarded (PACKET_STATISTICS OutDiscards)."),

		engineState:         d("handoff_engine_state", "State of the handoff engine: 1 for the current state, 0 for the others.", "state"),
		linkUp:              d("link_up", "1 if the handoff engine last signalled the host's link up, 0 if down."),
		engineInputs:        d("handoff_engine_inputs_total", "Inputs (indications and query results) the handoff engine accepted."),
		engineDroppedInputs: d("handoff_engine_dropped_inputs_total", "Inputs the handoff engine dropped because its queue was full (it resynchronises after)."),
		engineConnects:      d("handoff_engine_connect_attempts_total", "Connect attempts of the handoff engine."),
		engineQueries:       d("handoff_engine_ip_configuration_queries_total", "IP_CONFIGURATION queries of the handoff engine."),
		engineHostChanges:   d("handoff_engine_host_changes_total", "Changes to the host (addresses, routes, MTU, link, DNS) the handoff engine attempted."),
		engineHostErrors:    d("handoff_engine_host_change_errors_total", "Changes to the host that the host refused."),
		engineModemErrors:   d("handoff_engine_modem_errors_total", "Failed modem calls (status, connect, IP configuration) of the handoff engine."),
		lastHandoff:         d("last_handoff_timestamp_seconds", "Unix time at which the last handoff ended."),

		handoffs:        d("handoffs_total", "Packet-data-service handoffs by the data class before and after, and outcome (transparent, readdressed, reconnected, failed).", "from", "to", "outcome"),
		handoffDuration: d("handoff_duration_seconds", "Duration of handoffs, from the input that started one to the host being consistent, by outcome.", "outcome"),
		ipChanges:       d("ip_changes_total", "Handoffs that changed the session's addresses, by family (ipv4, ipv6).", "family"),
		reconnects:      d("reconnects_total", "Data sessions reconnected after a drop, by reason (session_deactivated, transport_reset).", "reason"),
		resets:          d("transport_resets_total", "Losses of the control channel (modem reset, unplug)."),
	}
}

// all lists every descriptor, for Describe.
func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.scrapeSuccess, d.scrapeDuration,
		d.info, d.up, d.lastUpdate,
		d.transactions, d.transactionDuration, d.timeouts, d.consecutiveTimeouts,
		d.functionErrors, d.hostErrors, d.fragmentErrors, d.malformedStreams, d.discardedBytes,
		d.unmatchedReplies, d.ignoredMessages, d.messages, d.bytes, d.fragments,
		d.indications, d.droppedIndications, d.recoveries,
		d.rssi, d.errorRate, d.rsrp, d.rsrq, d.snr,
		d.registrationState, d.packetServiceState, d.dataClass, d.uplinkSpeed, d.downlinkSpeed,
		d.sessionState, d.sessionStart,
		d.rxBytes, d.txBytes, d.rxPackets, d.txPackets, d.rxErrors, d.txErrors, d.rxDiscards, d.txDiscards,
		d.engineState, d.linkUp, d.engineInputs, d.engineDroppedInputs, d.engineConnects, d.engineQueries,
		d.engineHostChanges, d.engineHostErrors, d.engineModemErrors, d.lastHandoff,
		d.handoffs, d.handoffDuration, d.ipChanges, d.reconnects, d.resets,
	}
}
