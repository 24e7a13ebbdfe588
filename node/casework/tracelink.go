package casework

import (
	"context"
	"time"

	"github.com/cpx-node/cpx/node/store"
)

// Fields a tracing decision writes on the case (Primero's names).
const (
	FieldTracingStatus           = "tracing_status"
	FieldMatchedTracingRequestID = "matched_tracing_request_id"
)

// Tracing statuses (the tracing_status lookup) a decision moves between.
const (
	TracingInProgress = "tracing_in_progress"
	TracingVerified   = "verified"
)

// LinkTrace records a caseworker's tracing decision on the case, within
// the caller's transaction w (the tracing request's own change): when
// linked, the case is the child sought by tracing request requestID, so
// matched_tracing_request_id names it and an open or in-progress
// tracing_status becomes verified; when not linked and the case was linked
// to that request, the link is removed and a verified status goes back to
// tracing in progress. A status a caseworker has moved on (reunified,
// closed) is left alone. It writes a case version and an audit entry
// (field names only), queues a tracing_match notice to the case's owner
// when a link is made, and returns the case as stored, or changed=false when
// there was nothing to record.
//
// Like ApplyTransfer it has no context of its own: the case's key comes
// from the key store's cache for a case read in the same flow.
func (s *Service) LinkTrace(w store.Writer, caseID, requestID string, linked bool, actor string, now time.Time) (c Case, changed bool, err error) {
	ss := s.sealers(context.Background())
	old, err := s.load(ss, w, caseID)
	if err != nil {
		return Case{}, false, err
	}
	x, err := ss.get(old.ID)
	if err != nil {
		return Case{}, false, err
	}
	c = old
	c.Fields = make(map[string]any, len(old.Fields)+2)
	for k, v := range old.Fields {
		c.Fields[k] = v
	}
	diff := map[string]any{}
	set := func(k string, v any) {
		if v == nil {
			if _, ok := c.Fields[k]; ok {
				delete(c.Fields, k)
				diff[k] = nil
			}
			return
		}
		if c.Fields[k] != v {
			c.Fields[k] = v
			diff[k] = v
		}
	}
	status, _ := old.Fields[FieldTracingStatus].(string)
	linkedTo, _ := old.Fields[FieldMatchedTracingRequestID].(string)
	action := "tracing.confirm"
	switch {
	case linked:
		set(FieldMatchedTracingRequestID, requestID)
		if status == "" || status == "open" || status == TracingInProgress {
			set(FieldTracingStatus, TracingVerified)
		}
	case linkedTo == requestID:
		action = "tracing.reject"
		set(FieldMatchedTracingRequestID, nil)
		if status == TracingVerified {
			set(FieldTracingStatus, TracingInProgress)
		}
	}
	if len(diff) == 0 {
		return old, false, nil
	}
	if err := s.commitChange(w, x, &old, &c, actor, "case."+action, diff, now); err != nil {
		return Case{}, false, err
	}
	if _, newLink := diff[FieldMatchedTracingRequestID]; linked && newLink {
		// The owner learns of the match; the notice names the case only.
		if err := s.emit(w, []Notice{{Kind: NoticeTracingMatch, To: c.Owner, CaseID: c.ID, CaseNumber: c.Number, Actor: actor, At: now}}); err != nil {
			return Case{}, false, err
		}
	}
	return c, true, nil
}
