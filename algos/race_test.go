//go:build race

package algos_test

// raceEnabled reports whether the tests run under the race detector, which makes the large
// cases of the test matrix slow without finding anything more: the simulator is single-threaded.
const raceEnabled = true
