package mbimtest_test

import (
	"context"
	"fmt"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// A client opens the simulated modem, connects, and sees the operator drop
// the session; the next connection gets a new address.
func Example() {
	ctx := context.Background()
	sim := mbimtest.New()
	defer sim.Close()

	dev, err := mbim.Open(ctx, sim.ServePipe())
	if err != nil {
		panic(err)
	}
	defer dev.Close()
	fmt.Println("MBIMEx", dev.Version())

	if _, err := dev.Connect(ctx, mbim.ConnectRequest{AccessString: "internet"}); err != nil {
		panic(err)
	}
	ip, _ := dev.IPConfiguration(ctx, 0)
	fmt.Println("address", ip.IPv4Addresses[0])

	_ = sim.DropSession(0, 36) // regular deactivation
	c, _ := dev.ConnectState(ctx, 0)
	fmt.Println("after the drop:", c.ActivationState)

	_, _ = dev.Connect(ctx, mbim.ConnectRequest{AccessString: "internet"})
	ip, _ = dev.IPConfiguration(ctx, 0)
	fmt.Println("new address", ip.IPv4Addresses[0])

	c, err = dev.Connect(ctx, mbim.ConnectRequest{SessionID: 1, AccessString: "no.such.apn"})
	fmt.Println(err, c.NwError)
	// Output:
	// MBIMEx 3.0
	// address 198.51.100.2/30
	// after the drop: DEACTIVATED
	// new address 198.51.100.6/30
	// mbim: BASIC_CONNECT CONNECT (tid 9): FAILURE MISSING_OR_UNKNOWN_APN
}

// A Func overrides one CID; the rest is the model.
func ExampleSim_Handle() {
	sim := mbimtest.New()
	defer sim.Close()
	sim.Handle(mbim.ServiceBasicConnect, mbim.CIDRadioState, mbimtest.Status(mbim.StatusBusy))

	ctx := context.Background()
	dev, err := mbim.Open(ctx, sim.ServePipe())
	if err != nil {
		panic(err)
	}
	defer dev.Close()
	_, err = dev.RadioState(ctx)
	fmt.Println(err)
	for _, r := range sim.Requests() {
		fmt.Println(r)
	}
	// Output:
	// mbim: BASIC_CONNECT RADIO_STATE (tid 4): BUSY
	// OPEN tid 1
	// COMMAND BASIC_CONNECT/DEVICE_SERVICES query tid 2
	// COMMAND MS_BASIC_CONNECT_EXTENSIONS/VERSION query tid 3
	// COMMAND BASIC_CONNECT/RADIO_STATE query tid 4
}

// The simulator on a pty, for real clients such as mbimcli.
func ExampleSim_ServePTY() {
	sim := mbimtest.New()
	defer sim.Close()
	path, err := sim.ServePTY()
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = path // mbimcli -d <path> --query-device-caps
}
