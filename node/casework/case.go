package casework

import (
	"slices"
	"time"
)

// Case statuses.
const (
	StatusOpen        = "open"
	StatusClosed      = "closed"
	StatusTransferred = "transferred"
	// StatusPurged marks the tombstone Purge leaves: core fields only.
	StatusPurged = "purged"
)

// Workflow stages, derived from the case's data as in Primero.
const (
	StageNew                 = "new"
	StageAssessment          = "assessment"
	StageCasePlan            = "case_plan"
	StageServices            = "services"
	StageServicesImplemented = "services_implemented"
	StageClosed              = "closed"
)

// Case is an electronic case file about one child.
type Case struct {
	ID          string         `json:"id"`
	Number      string         `json:"case_number"`
	Status      string         `json:"status"`
	Stage       string         `json:"workflow_stage"`
	Owner       string         `json:"owner"`
	OwnerGroup  string         `json:"owner_group,omitempty"`
	Agency      string         `json:"agency"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	Version     int64          `json:"version"`
	CloseReason string         `json:"close_reason,omitempty"`
	Fields      map[string]any `json:"fields"`

	// Assignments, Approvals and Flags are the case's day-to-day
	// casework, oldest first. They are stored sealed with the form data.
	Assignments []Assignment `json:"assignments,omitempty"`
	Approvals   []Approval   `json:"approvals,omitempty"`
	Flags       []Flag       `json:"flags,omitempty"`
}

// Consent is what the child or caregiver agreed to, as recorded on the
// data-confidentiality form (Primero's field names).
type Consent struct {
	ForServices         bool
	DisclosureOtherOrgs bool
	ForTracing          bool
	InterviewSubject    string
	WithholdingReasons  []string
}

// Field names that core accessors read.
const (
	FieldRiskLevel           = "risk_level"
	FieldConsentForServices  = "consent_for_services"
	FieldDisclosureOtherOrgs = "disclosure_other_orgs"
	FieldConsentForTracing   = "consent_for_tracing"
	FieldInterviewSubject    = "interview_subject"
	FieldWithholdingReasons  = "withholding_info_reason"
)

// ConsentFields lists the fields Consent is derived from.
var ConsentFields = []string{FieldConsentForServices, FieldDisclosureOtherOrgs, FieldConsentForTracing, FieldInterviewSubject, FieldWithholdingReasons}

// RiskLevel returns the case's risk level, or "".
func (c *Case) RiskLevel() string { s, _ := c.Fields[FieldRiskLevel].(string); return s }

// Consent returns the consent recorded on the case; absent means not given.
func (c *Case) Consent() Consent {
	b := func(k string) bool { v, _ := c.Fields[k].(bool); return v }
	s, _ := c.Fields[FieldInterviewSubject].(string)
	var reasons []string
	if l, ok := c.Fields[FieldWithholdingReasons].([]any); ok {
		for _, r := range l {
			if s, ok := r.(string); ok {
				reasons = append(reasons, s)
			}
		}
	}
	return Consent{
		ForServices:         b(FieldConsentForServices),
		DisclosureOtherOrgs: b(FieldDisclosureOtherOrgs),
		ForTracing:          b(FieldConsentForTracing),
		InterviewSubject:    s,
		WithholdingReasons:  reasons,
	}
}

// deriveStage computes the workflow stage from the case's data.
func deriveStage(c *Case) string {
	if c.Status == StatusClosed {
		return StageClosed
	}
	has := func(k string) bool { v, ok := c.Fields[k]; return ok && v != nil && v != "" }
	if services, ok := c.Fields["services_section"].([]any); ok && len(services) > 0 {
		implemented := true
		for _, s := range services {
			m, _ := s.(map[string]any)
			if v, ok := m["service_implemented_day_time"]; !ok || v == nil || v == "" {
				implemented = false
			}
		}
		if implemented {
			return StageServicesImplemented
		}
		return StageServices
	}
	switch {
	case has("date_case_plan"):
		return StageCasePlan
	case has("assessment_requested_on"):
		return StageAssessment
	}
	return StageNew
}

// Version is one entry of a case's history.
type Version struct {
	Version int64     `json:"version"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	// Changed holds the new value of every field this version changed (nil:
	// cleared), so any version can be rebuilt. It is never sent to clients;
	// they see ChangedFields.
	Changed map[string]any `json:"changed,omitempty"`
}

// ChangedFields returns the names of the fields this version changed, sorted.
func (v Version) ChangedFields() []string {
	out := make([]string, 0, len(v.Changed))
	for k := range v.Changed {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
