//go:build !cpxtestclock

package daemon

import "time"

// clock is the node's time. Binaries built with the cpxtestclock tag (the
// conformance suite's) read an offset from CPX_TEST_CLOCK_OFFSET instead,
// to test what happens days later (retention); release builds cannot.
func clock() func() time.Time { return time.Now }
