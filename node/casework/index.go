package casework

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cpx-node/cpx/node/store"
)

// Derived indexes: what is due, waits for approval or is flagged on open
// cases, kept up to date by putRecord in the transaction that writes the
// case, so that lists never open a case. Each entry holds only core
// attributes (case number, owner, kind, dates), never form data or free
// text.
var (
	prefixTask     = []byte("c/t/")  // due/id/kind/row → Task
	prefixApproval = []byte("c/ap/") // id/type → approvalEntry
	prefixFlag     = []byte("c/fl/") // id/flag id → flagEntry
	prefixDerived  = []byte("c/ix/") // id → the keys above the case has, JSON
)

// approvalEntry is a pending approval in the index.
type approvalEntry struct {
	CaseID      string `json:"case_id"`
	CaseNumber  string `json:"case_number"`
	Owner       string `json:"owner"`
	OwnerGroup  string `json:"owner_group,omitempty"`
	Type        string `json:"type"`
	RequestedBy string `json:"requested_by"`
	RequestedAt string `json:"requested_at"`
}

// flagEntry is an open flag in the index.
type flagEntry struct {
	CaseID     string `json:"case_id"`
	CaseNumber string `json:"case_number"`
	Owner      string `json:"owner"`
	OwnerGroup string `json:"owner_group,omitempty"`
	ID         int    `json:"id"`
	FlaggedBy  string `json:"flagged_by"`
	FlaggedAt  string `json:"flagged_at"`
	Date       string `json:"date,omitempty"`
}

func derivedKey(id string) []byte { return append(append([]byte{}, prefixDerived...), id...) }

// reindex replaces the derived index entries of c by those of its
// current state.
func (s *Service) reindex(w store.Writer, c *Case) error {
	dk := derivedKey(c.ID)
	var old []string
	switch b, err := w.Get(dk); {
	case err == nil:
		if err := json.Unmarshal(b, &old); err != nil {
			return fmt.Errorf("corrupt derived index of case %s: %w", c.ID, err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	for _, k := range old {
		if err := w.Delete([]byte(k)); err != nil {
			return err
		}
	}
	var keys []string
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		keys = append(keys, k)
		return w.Set([]byte(k), b)
	}
	if c.Status == StatusOpen {
		for _, t := range DeriveTasks(c, s.dueFields) {
			if err := set(string(prefixTask)+t.Due+"/"+c.ID+"/"+t.Kind+"/"+strconv.Itoa(t.Row), t); err != nil {
				return err
			}
		}
		for _, a := range c.Approvals {
			if a.Status != ApprovalPending {
				continue
			}
			e := approvalEntry{CaseID: c.ID, CaseNumber: c.Number, Owner: c.Owner, OwnerGroup: c.OwnerGroup,
				Type: a.Type, RequestedBy: a.RequestedBy, RequestedAt: a.RequestedAt.Format("2006-01-02T15:04:05Z07:00")}
			if err := set(string(prefixApproval)+c.ID+"/"+a.Type, e); err != nil {
				return err
			}
		}
		for _, f := range c.OpenFlags() {
			e := flagEntry{CaseID: c.ID, CaseNumber: c.Number, Owner: c.Owner, OwnerGroup: c.OwnerGroup,
				ID: f.ID, FlaggedBy: f.FlaggedBy, FlaggedAt: f.FlaggedAt.Format("2006-01-02T15:04:05Z07:00"), Date: f.Date}
			if err := set(fmt.Sprintf("%s%s/%06d", prefixFlag, c.ID, f.ID), e); err != nil {
				return err
			}
		}
	}
	if len(keys) == 0 {
		if len(old) == 0 {
			return nil
		}
		return w.Delete(dk)
	}
	b, err := json.Marshal(keys)
	if err != nil {
		return err
	}
	return w.Set(dk, b)
}
