package fuzz

import (
	"testing"
)

// Regressions pinned by layout name, so that they keep testing the same
// layout when mbim.Layouts() changes order (the files in
// testdata/fuzz/<Target>/ pick their layout by index). Each names the
// bug, fixed in package mbim, that it reproduced.
var regressions = []struct {
	name   string
	layout string
	hex    string
	check  func(*testing.T, int, []byte)
}{
	// json-wake-tlv: TLV.MarshalJSON renders WAKE_COMMAND and WAKE_PACKET
	// TLVs by their fields, which TLV.UnmarshalJSON does not accept.
	{"json-wake-command", "MsWakeReasonInfo", "0100000002000000100000001c000000a289cc33bcbb8b4fb6b0133ec2aae6df0b0000000000000000000000", checkJSONBuild},
	{"json-wake-packet", "MsWakeReasonInfo", "0200000002000000110000021a0000000b0000000c000000100000000a0000000102030405060708090a0000", checkJSONBuild},
	// json-wchar-tlv: a WCHAR_STR TLV in a TLV list is rendered as
	// "string" even when its data is not valid UTF-16: an odd byte is
	// dropped, a lone surrogate becomes U+FFFD.
	{"json-wchar-tlv-odd", "ConnectInfoV3", "000000000000000000000000000000000000000000000000000000000000000000000000000000000a000000000000000a0000030100000078000000", checkJSONBuild},
	{"json-wchar-tlv-surrogate", "ConnectInfoV3", "000000000000000000000000000000000000000000000000000000000000000000000000000000000a000000000000000a0000020200000000d80000", checkJSONBuild},
	// json-tlv-values-append: TLV.UnmarshalJSON appends "values" to the
	// Data already there (the JSON is unmarshalled twice into one value).
	{"json-tlv-u16-values-twice", "ConnectInfoV3", "000000000000000000000000000000000000000000000000000000000000000000000000000000000a000000000000000b0000000400000001000200", checkJSONBuild},
	// json-prefix-length: an IPv4/IPv6 element with a prefix length over
	// 32/128 marshals as "addr/33", which UnmarshalText refuses.
	{"json-ipv4-prefix-33", "IPConfigurationInfo", "000000000000000000000000010000003c0000000000000000000000000000000000000000000000000000000000000000000000000000000000000021000000c0000201", checkJSONBuild},
	{"json-ipv6-prefix-129", "IPConfigurationInfo", "0000000000000000000000000000000000000000010000003c00000000000000000000000000000000000000000000000000000000000000000000008100000020010db8000000000000000000000001", checkJSONBuild},
	// json-utf8-invalid: a string_utf8 field is not checked for valid
	// UTF-8, and its JSON string replaces the bad bytes with U+FFFD.
	{"json-utf8-invalid", "UiccApplicationListInfo", "0000000001000000000000000000000018000000240000000000000000000000000000002000000001000000000000000000000000000000ff000000", checkJSONBuild},
}

func TestRegressions(t *testing.T) {
	for _, r := range regressions {
		t.Run(r.name, func(t *testing.T) {
			r.check(t, layoutByName(t, r.layout), unhex(t, r.hex))
		})
	}
}
