//go:build cpxtestclock

package daemon

import (
	"os"
	"time"
)

// clock is the node's time moved by CPX_TEST_CLOCK_OFFSET (a Go duration,
// e.g. 49h), for the conformance suite only: this file is compiled only
// with the cpxtestclock build tag.
func clock() func() time.Time {
	d, err := time.ParseDuration(os.Getenv("CPX_TEST_CLOCK_OFFSET"))
	if err != nil || d == 0 {
		return time.Now
	}
	return func() time.Time { return time.Now().Add(d) }
}
