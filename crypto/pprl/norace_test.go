//go:build !race

package pprl_test

const raceEnabled = false
