package mbimtest

import (
	"context"
	"testing"

	"github.com/gowwan/wwan/mbim"
)

// BenchmarkQueryRoundTrip measures one DEVICE_CAPS query through the client
// (mbim.Device) over ServePipe: client encode, pipe, simulator framing,
// model and encode, pipe, client framing and typed decode.
func BenchmarkQueryRoundTrip(b *testing.B) {
	s := New()
	defer s.Close()
	d, err := mbim.Open(context.Background(), s.ServePipe())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	var caps mbim.DeviceCapsInfo
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Query(ctx, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, nil, &caps); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}

// BenchmarkRawRoundTrip is the same query with a bare host (no client):
// the simulator's own cost plus the pipe.
func BenchmarkRawRoundTrip(b *testing.B) {
	s := New()
	defer s.Close()
	tr := s.ServePipe()
	ctx := context.Background()
	if err := tr.WriteControl(ctx, mbim.AppendOpen(nil, 1, 4096)); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	read := func() {
		var got []byte
		for {
			n, err := tr.ReadControl(ctx, buf)
			if err != nil {
				b.Fatal(err)
			}
			got = append(got, buf[:n]...)
			if _, _, err := mbim.NextMessage(got); err == nil {
				return
			}
		}
	}
	read()
	req := mbim.AppendCommand(nil, 2, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.WriteControl(ctx, req); err != nil {
			b.Fatal(err)
		}
		read()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}
