//go:build !race

package algos_test

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
