//go:build race

package mbim

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation counts through pools are not meaningful.
const raceEnabled = true
