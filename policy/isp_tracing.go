package policy

// Terms of the tracing purpose.
const (
	// DefaultQueriesPerMinute is the tracing query rate a receiving node
	// allows each peer when the ISP's tracing rule sets none.
	DefaultQueriesPerMinute = 30
	// MaxQueriesPerMinute bounds [TracingTerms.QueriesPerMinute].
	MaxQueriesPerMinute = 6000
)

// TracingTerms are the terms of the tracing purpose; zero on the others.
type TracingTerms struct {
	// QueriesPerMinute is how many tracing queries a party answers for
	// each other party per minute (with a burst of as many); 0 means
	// [DefaultQueriesPerMinute].
	QueriesPerMinute int
}

func (t TracingTerms) set() bool { return t.QueriesPerMinute != 0 }

// Rate returns the query rate in force: QueriesPerMinute or
// [DefaultQueriesPerMinute].
func (t TracingTerms) Rate() int {
	if t.QueriesPerMinute == 0 {
		return DefaultQueriesPerMinute
	}
	return t.QueriesPerMinute
}

// validate checks the terms of a rule; tracing says whether it is the
// tracing rule.
func (t TracingTerms) validate(ps *problems, key string, tracing bool) {
	if !tracing {
		if t.set() {
			ps.add(key+".queries_per_minute", "applies to the tracing purpose only")
		}
		return
	}
	if t.QueriesPerMinute < 0 || t.QueriesPerMinute > MaxQueriesPerMinute {
		ps.add(key+".queries_per_minute", "%d: use 1 to %d (0 or absent: %d)", t.QueriesPerMinute, MaxQueriesPerMinute, DefaultQueriesPerMinute)
	}
}

// TracingRate returns the tracing query rate (per minute) the ISP sets:
// that of its tracing rule, or [DefaultQueriesPerMinute] without one.
func (p *ISP) TracingRate() int {
	if r, ok := p.rule(PurposeTracing); ok {
		return r.Tracing.Rate()
	}
	return DefaultQueriesPerMinute
}
