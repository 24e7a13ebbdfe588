package api

import (
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/users"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// caseToWire converts a case (already redacted for role) to its wire form.
// Consent is present only when the role may see every consent field.
func caseToWire(c casework.Case, role policy.Role, cls policy.Classifier) (*localv1.Case, error) {
	fields, err := structpb.NewStruct(c.Fields)
	if err != nil {
		return nil, err
	}
	w := &localv1.Case{
		Id: c.ID, CaseNumber: c.Number, Status: c.Status, WorkflowStage: c.Stage,
		Owner: c.Owner, OwnerGroup: c.OwnerGroup, Agency: c.Agency,
		CreatedAt: timestamppb.New(c.CreatedAt), UpdatedAt: timestamppb.New(c.UpdatedAt),
		Version: c.Version, RiskLevel: c.RiskLevel(), Fields: fields, CloseReason: c.CloseReason,
	}
	visible := true
	for _, f := range casework.ConsentFields {
		if role.Hides(cls, f) {
			visible = false
		}
	}
	if visible {
		k := c.Consent()
		w.Consent = &localv1.Consent{
			ConsentForServices: k.ForServices, DisclosureOtherOrgs: k.DisclosureOtherOrgs,
			ConsentForTracing: k.ForTracing, InterviewSubject: k.InterviewSubject,
			WithholdingReasons: k.WithholdingReasons,
		}
	}
	return w, nil
}

func userToWire(u users.User) *localv1.User {
	return &localv1.User{Name: u.Name, Role: u.Role, Group: u.Group, Disabled: u.Disabled, CreatedAt: timestamppb.New(u.CreatedAt),
		RequestedBy: u.RequestedBy, Owner: u.Owner,
		Email: u.Email, Language: u.Language, NotifyOff: u.NotifyOff}
}

func entryToWire(e audit.Entry) *localv1.AuditEntry {
	return &localv1.AuditEntry{
		Seq: e.Seq, Time: timestamppb.New(e.Time), Actor: e.Actor, Action: e.Action, Object: e.Object,
		Outcome: e.Outcome, DetailsHash: e.DetailsHash.String(), PrevHash: e.PrevHash.String(), Hash: e.Hash.String(),
	}
}

// fieldsFromWire returns the fields of a request; absent means none.
func fieldsFromWire(s *structpb.Struct) map[string]any {
	if s == nil {
		return map[string]any{}
	}
	return s.AsMap()
}
