package mbim

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.Name != "basic_connect_subscriber_ready_status" {
			continue
		}
		m, err := ParseMessage(unhexT(t, v.HexLengthsFixed))
		if err != nil {
			t.Fatal(err)
		}
		d, err := DecodeMessage(m, MBIMEx1)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := json.Marshal(d)
		d.Redact = true
		masked, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"310410000110761", "89010104054601100612", "11111111111"} {
			if !bytes.Contains(plain, []byte(secret)) {
				t.Fatalf("plain JSON lacks %s", secret)
			}
			if bytes.Contains(masked, []byte(secret)) {
				t.Errorf("redacted JSON shows %s: %s", secret, masked)
			}
		}
		if !bytes.Contains(masked, []byte(`"ready_state":{"value":1,"name":"INITIALIZED"}`)) {
			t.Errorf("redacted JSON lost the other fields: %s", masked)
		}
		var tree strings.Builder
		if err := d.WriteTree(&tree, true); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(tree.String(), "310410000110761") {
			t.Errorf("redacted tree shows the IMSI:\n%s", tree.String())
		}
		return
	}
	t.Fatal("vector not found")
}
