//go:build race

package synth_test

// raceEnabled: the quality tests are long, single-threaded numeric runs
// that the race detector slows tenfold and learns nothing from; .ci/run
// runs them without it.
const raceEnabled = true
