package usbtransport

import (
	"context"
	"time"
)

// aLongTimeAgo is a deadline in the past: setting it makes a blocked read
// or write return at once.
var aLongTimeAgo = time.Unix(1, 0)

// deadlineOnDone makes a blocked read or write on a pollable file return
// when ctx is done, by moving its deadline into the past. The returned stop
// must be called when the operation returns; if the deadline was moved, it
// waits for that and clears it again, so the next operation starts clean.
func deadlineOnDone(ctx context.Context, set func(time.Time) error) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	fired := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		_ = set(aLongTimeAgo)
		close(fired)
	})
	return func() {
		if !cancel() {
			<-fired
			_ = set(time.Time{})
		}
	}
}
