package mbim

// Framing constants: message types (§1.2), command types (§1.4), MBIM_STATUS
// codes (§1.5) and protocol error codes (§1.6). They are part of the framing,
// not of any service, so they are written by hand rather than generated.

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// MessageType is the first word of every MBIM message.
type MessageType uint32

// Message types. A reply type is its request type | 0x80000000.
const (
	TypeOpen           MessageType = 0x00000001
	TypeClose          MessageType = 0x00000002
	TypeCommand        MessageType = 0x00000003
	TypeHostError      MessageType = 0x00000004
	TypeOpenDone       MessageType = 0x80000001
	TypeCloseDone      MessageType = 0x80000002
	TypeCommandDone    MessageType = 0x80000003
	TypeFunctionError  MessageType = 0x80000004
	TypeIndicateStatus MessageType = 0x80000007
)

// Name returns the type's name, or "" when MBIM does not define the value.
func (t MessageType) Name() string {
	switch t {
	case TypeOpen:
		return "OPEN"
	case TypeClose:
		return "CLOSE"
	case TypeCommand:
		return "COMMAND"
	case TypeHostError:
		return "HOST_ERROR"
	case TypeOpenDone:
		return "OPEN_DONE"
	case TypeCloseDone:
		return "CLOSE_DONE"
	case TypeCommandDone:
		return "COMMAND_DONE"
	case TypeFunctionError:
		return "FUNCTION_ERROR"
	case TypeIndicateStatus:
		return "INDICATE_STATUS"
	}
	return ""
}

// String returns the type's name, or its number when it is not defined.
func (t MessageType) String() string { return enumString(uint64(t), t.Name()) }

// MarshalJSON writes the name as a plain JSON string ("COMMAND_DONE"), or
// the number as a string when the type is not defined.
func (t MessageType) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, t.String()), nil
}

// UnmarshalJSON accepts a name, a number, or a number in a string.
func (t *MessageType) UnmarshalJSON(b []byte) error {
	v, err := unmarshalNameOrNumber(b, func(s string) (uint64, bool) {
		for _, c := range messageTypes {
			if c.Name() == s {
				return uint64(c), true
			}
		}
		return 0, false
	})
	*t = MessageType(v)
	return err
}

// messageTypes lists the defined types (for lookups by name).
var messageTypes = [...]MessageType{
	TypeOpen, TypeClose, TypeCommand, TypeHostError,
	TypeOpenDone, TypeCloseDone, TypeCommandDone, TypeFunctionError, TypeIndicateStatus,
}

// fixedLen is the smallest MessageLength a message of this type can have
// (§1.9 rule 3); 0 means the type is not defined. For the fragmentable types
// it is the common header plus the fragment header: a continuation fragment
// carries nothing else.
func (t MessageType) fixedLen() uint32 {
	switch t {
	case TypeClose:
		return 12
	case TypeOpen, TypeOpenDone, TypeCloseDone, TypeHostError, TypeFunctionError:
		return 16
	case TypeCommand, TypeCommandDone, TypeIndicateStatus:
		return 20
	}
	return 0
}

// fragmentable reports whether messages of this type carry a fragment header
// and can therefore be split (§1.8).
func (t MessageType) fragmentable() bool {
	return t == TypeCommand || t == TypeCommandDone || t == TypeIndicateStatus
}

// infoOffset is where the information buffer starts in a complete message of
// a fragmentable type (48 or 44), and 0 for the other types. It is also the
// smallest MessageLength of a complete message of that type.
func (t MessageType) infoOffset() int {
	switch t {
	case TypeCommand, TypeCommandDone:
		return 48
	case TypeIndicateStatus:
		return 44
	}
	return 0
}

// CommandType says whether a COMMAND queries or sets (§1.4).
type CommandType uint32

// Command types.
const (
	CommandQuery CommandType = 0
	CommandSet   CommandType = 1
)

// String returns "query" or "set", or the number for any other value.
func (c CommandType) String() string {
	switch c {
	case CommandQuery:
		return "query"
	case CommandSet:
		return "set"
	}
	return strconv.FormatUint(uint64(c), 10)
}

// MarshalJSON writes "query" or "set" (a number in a string otherwise).
func (c CommandType) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, c.String()), nil
}

// UnmarshalJSON accepts "query", "set", a number, or a number in a string.
func (c *CommandType) UnmarshalJSON(b []byte) error {
	v, err := unmarshalNameOrNumber(b, func(s string) (uint64, bool) {
		switch s {
		case "query":
			return uint64(CommandQuery), true
		case "set":
			return uint64(CommandSet), true
		}
		return 0, false
	})
	*c = CommandType(v)
	return err
}

// unmarshalNameOrNumber decodes the plain-string enums (MessageType,
// CommandType): a known name, a JSON number, or a number written as a
// string (what MarshalJSON writes for an unknown value). Values that do not
// fit 32 bits are refused.
func unmarshalNameOrNumber(b []byte, byName func(string) (uint64, bool)) (uint64, error) {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if v, ok := byName(s); ok {
			return v, nil
		}
		if v, err := strconv.ParseUint(s, 0, 32); err == nil {
			return v, nil
		}
		return 0, fmt.Errorf("mbim: unknown name %q", s)
	}
	var v uint64
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, errEnumJSON
	}
	if v > math.MaxUint32 {
		return 0, fmt.Errorf("mbim: %d does not fit 32 bits", v)
	}
	return v, nil
}

// Status is an MBIM_STATUS code: the result of a COMMAND_DONE, OPEN_DONE or
// CLOSE_DONE. It implements error (see errors.go), so a failed command can be
// matched with errors.Is(err, StatusSimNotInserted). Unknown values are kept
// as they are: a device may send codes newer than this table.
type Status uint32

// MBIM_STATUS codes (§1.5).
const (
	StatusSuccess                       Status = 0
	StatusBusy                          Status = 1
	StatusFailure                       Status = 2
	StatusSimNotInserted                Status = 3
	StatusBadSim                        Status = 4
	StatusPinRequired                   Status = 5
	StatusPinDisabled                   Status = 6
	StatusNotRegistered                 Status = 7
	StatusProvidersNotFound             Status = 8
	StatusNoDeviceSupport               Status = 9
	StatusProviderNotVisible            Status = 10
	StatusDataClassNotAvailable         Status = 11
	StatusPacketServiceDetached         Status = 12
	StatusMaxActivatedContexts          Status = 13
	StatusNotInitialized                Status = 14
	StatusVoiceCallInProgress           Status = 15
	StatusContextNotActivated           Status = 16
	StatusServiceNotActivated           Status = 17
	StatusInvalidAccessString           Status = 18
	StatusInvalidUserNamePwd            Status = 19
	StatusRadioPowerOff                 Status = 20
	StatusInvalidParameters             Status = 21
	StatusReadFailure                   Status = 22
	StatusWriteFailure                  Status = 23
	StatusNoPhonebook                   Status = 25 // 24 is reserved
	StatusParameterTooLong              Status = 26
	StatusStkBusy                       Status = 27
	StatusOperationNotAllowed           Status = 28
	StatusMemoryFailure                 Status = 29
	StatusInvalidMemoryIndex            Status = 30
	StatusMemoryFull                    Status = 31
	StatusFilterNotSupported            Status = 32
	StatusDssInstanceLimit              Status = 33
	StatusInvalidDeviceServiceOperation Status = 34
	StatusAuthIncorrectAutn             Status = 35
	StatusAuthSyncFailure               Status = 36
	StatusAuthAmfNotSet                 Status = 37
	StatusContextNotSupported           Status = 38

	// SMS.
	StatusSmsUnknownSmscAddress   Status = 100
	StatusSmsNetworkTimeout       Status = 101
	StatusSmsLangNotSupported     Status = 102
	StatusSmsEncodingNotSupported Status = 103
	StatusSmsFormatNotSupported   Status = 104

	// Microsoft UICC low-level access.
	StatusMsNoLogicalChannels     Status = 0x87430001
	StatusMsSelectFailed          Status = 0x87430002
	StatusMsInvalidLogicalChannel Status = 0x87430003

	// Google carrier lock.
	StatusInvalidSignature               Status = 0x91000001
	StatusInvalidImei                    Status = 0x91000002
	StatusInvalidTimestamp               Status = 0x91000003
	StatusNetworkListTooLarge            Status = 0x91000004
	StatusSignatureAlgorithmNotSupported Status = 0x91000005
	StatusFeatureNotSupported            Status = 0x91000006
	StatusDecodeOrParsingError           Status = 0x91000007
)

// statusNames maps each defined code to libmbim's identifier without its
// MBIM_STATUS_ERROR_ prefix; 0 is "SUCCESS" as in the spec (libmbim: NONE).
var statusNames = map[Status]string{
	StatusSuccess:                        "SUCCESS",
	StatusBusy:                           "BUSY",
	StatusFailure:                        "FAILURE",
	StatusSimNotInserted:                 "SIM_NOT_INSERTED",
	StatusBadSim:                         "BAD_SIM",
	StatusPinRequired:                    "PIN_REQUIRED",
	StatusPinDisabled:                    "PIN_DISABLED",
	StatusNotRegistered:                  "NOT_REGISTERED",
	StatusProvidersNotFound:              "PROVIDERS_NOT_FOUND",
	StatusNoDeviceSupport:                "NO_DEVICE_SUPPORT",
	StatusProviderNotVisible:             "PROVIDER_NOT_VISIBLE",
	StatusDataClassNotAvailable:          "DATA_CLASS_NOT_AVAILABLE",
	StatusPacketServiceDetached:          "PACKET_SERVICE_DETACHED",
	StatusMaxActivatedContexts:           "MAX_ACTIVATED_CONTEXTS",
	StatusNotInitialized:                 "NOT_INITIALIZED",
	StatusVoiceCallInProgress:            "VOICE_CALL_IN_PROGRESS",
	StatusContextNotActivated:            "CONTEXT_NOT_ACTIVATED",
	StatusServiceNotActivated:            "SERVICE_NOT_ACTIVATED",
	StatusInvalidAccessString:            "INVALID_ACCESS_STRING",
	StatusInvalidUserNamePwd:             "INVALID_USER_NAME_PWD",
	StatusRadioPowerOff:                  "RADIO_POWER_OFF",
	StatusInvalidParameters:              "INVALID_PARAMETERS",
	StatusReadFailure:                    "READ_FAILURE",
	StatusWriteFailure:                   "WRITE_FAILURE",
	StatusNoPhonebook:                    "NO_PHONEBOOK",
	StatusParameterTooLong:               "PARAMETER_TOO_LONG",
	StatusStkBusy:                        "STK_BUSY",
	StatusOperationNotAllowed:            "OPERATION_NOT_ALLOWED",
	StatusMemoryFailure:                  "MEMORY_FAILURE",
	StatusInvalidMemoryIndex:             "INVALID_MEMORY_INDEX",
	StatusMemoryFull:                     "MEMORY_FULL",
	StatusFilterNotSupported:             "FILTER_NOT_SUPPORTED",
	StatusDssInstanceLimit:               "DSS_INSTANCE_LIMIT",
	StatusInvalidDeviceServiceOperation:  "INVALID_DEVICE_SERVICE_OPERATION",
	StatusAuthIncorrectAutn:              "AUTH_INCORRECT_AUTN",
	StatusAuthSyncFailure:                "AUTH_SYNC_FAILURE",
	StatusAuthAmfNotSet:                  "AUTH_AMF_NOT_SET",
	StatusContextNotSupported:            "CONTEXT_NOT_SUPPORTED",
	StatusSmsUnknownSmscAddress:          "SMS_UNKNOWN_SMSC_ADDRESS",
	StatusSmsNetworkTimeout:              "SMS_NETWORK_TIMEOUT",
	StatusSmsLangNotSupported:            "SMS_LANG_NOT_SUPPORTED",
	StatusSmsEncodingNotSupported:        "SMS_ENCODING_NOT_SUPPORTED",
	StatusSmsFormatNotSupported:          "SMS_FORMAT_NOT_SUPPORTED",
	StatusMsNoLogicalChannels:            "MS_NO_LOGICAL_CHANNELS",
	StatusMsSelectFailed:                 "MS_SELECT_FAILED",
	StatusMsInvalidLogicalChannel:        "MS_INVALID_LOGICAL_CHANNEL",
	StatusInvalidSignature:               "INVALID_SIGNATURE",
	StatusInvalidImei:                    "INVALID_IMEI",
	StatusInvalidTimestamp:               "INVALID_TIMESTAMP",
	StatusNetworkListTooLarge:            "NETWORK_LIST_TOO_LARGE",
	StatusSignatureAlgorithmNotSupported: "SIGNATURE_ALGORITHM_NOT_SUPPORTED",
	StatusFeatureNotSupported:            "FEATURE_NOT_SUPPORTED",
	StatusDecodeOrParsingError:           "DECODE_OR_PARSING_ERROR",
}

// Name returns the status's name, or "" for a code this table does not know.
func (s Status) Name() string { return statusNames[s] }

// String returns the name, or the number for an unknown code.
//
// Note that fmt's %v and %s print a Status through its Error method
// ("mbim: status BUSY"), because Status is also an error; call String to get
// the bare name.
func (s Status) String() string { return enumString(uint64(s), s.Name()) }

// MarshalJSON writes {"value": n, "name": "NAME"} (name null when unknown).
func (s Status) MarshalJSON() ([]byte, error) { return marshalEnum(uint64(s), s.Name()) }

// UnmarshalJSON accepts n, "NAME" (also libmbim's "NONE" for 0) or
// {"value": n, ...}.
func (s *Status) UnmarshalJSON(b []byte) error {
	v, err := unmarshalEnum(b, func(name string) (uint64, bool) {
		if name == "NONE" {
			return 0, true
		}
		for c, n := range statusNames {
			if n == name {
				return uint64(c), true
			}
		}
		return 0, false
	})
	if err == nil && v > math.MaxUint32 {
		return fmt.Errorf("mbim: status %d does not fit 32 bits", v)
	}
	*s = Status(v)
	return err
}

// ProtocolError is the code carried by a HOST_ERROR or FUNCTION_ERROR (§1.6).
// It implements error (see errors.go).
type ProtocolError uint32

// Protocol error codes.
const (
	ProtocolErrorInvalid               ProtocolError = 0
	ProtocolErrorTimeoutFragment       ProtocolError = 1
	ProtocolErrorFragmentOutOfSequence ProtocolError = 2
	ProtocolErrorLengthMismatch        ProtocolError = 3
	ProtocolErrorDuplicatedTID         ProtocolError = 4
	ProtocolErrorNotOpened             ProtocolError = 5
	ProtocolErrorUnknown               ProtocolError = 6
	ProtocolErrorCancel                ProtocolError = 7
	ProtocolErrorMaxTransfer           ProtocolError = 8
)

var protocolErrorNames = [...]string{
	ProtocolErrorInvalid:               "INVALID",
	ProtocolErrorTimeoutFragment:       "TIMEOUT_FRAGMENT",
	ProtocolErrorFragmentOutOfSequence: "FRAGMENT_OUT_OF_SEQUENCE",
	ProtocolErrorLengthMismatch:        "LENGTH_MISMATCH",
	ProtocolErrorDuplicatedTID:         "DUPLICATED_TID",
	ProtocolErrorNotOpened:             "NOT_OPENED",
	ProtocolErrorUnknown:               "UNKNOWN",
	ProtocolErrorCancel:                "CANCEL",
	ProtocolErrorMaxTransfer:           "MAX_TRANSFER",
}

// Name returns the code's name, or "" for a value MBIM does not define.
func (p ProtocolError) Name() string {
	if uint64(p) < uint64(len(protocolErrorNames)) {
		return protocolErrorNames[p]
	}
	return ""
}

// String returns the name, or the number for an unknown code. As with
// Status, fmt's %v prints through Error instead.
func (p ProtocolError) String() string { return enumString(uint64(p), p.Name()) }

// MarshalJSON writes {"value": n, "name": "NAME"} (name null when unknown).
func (p ProtocolError) MarshalJSON() ([]byte, error) { return marshalEnum(uint64(p), p.Name()) }

// UnmarshalJSON accepts n, "NAME" or {"value": n, ...}.
func (p *ProtocolError) UnmarshalJSON(b []byte) error {
	v, err := unmarshalEnum(b, func(name string) (uint64, bool) {
		for c, n := range protocolErrorNames {
			if n == name {
				return uint64(c), true
			}
		}
		return 0, false
	})
	if err == nil && v > math.MaxUint32 {
		return fmt.Errorf("mbim: protocol error %d does not fit 32 bits", v)
	}
	*p = ProtocolError(v)
	return err
}
