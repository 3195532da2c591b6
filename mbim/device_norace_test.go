//go:build !race

package mbim

const raceEnabled = false
