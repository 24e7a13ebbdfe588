package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpx-node/cpx/node/config"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// demoCoordinationAgency is the demo's coordination body.
const demoCoordinationAgency = "cp-subcluster-so"

// demoReport is the managed report the demo's agencies send.
const demoReport = "case_characteristics"

// demoAggregateISP lets the demo's three agencies send the coordination
// body their monthly case characteristics, with k 3.
const demoAggregateISP = `format = "cpx-isp/1"
id = "so-demo-aggregate"
version = 1
title = "Demo ISP: monthly case figures to the CP Sub-Cluster Somalia"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2030-01-01T00:00:00Z

` + demoAgencyParties + `
[[party]]
agency = "cp-subcluster-so"
name = "CP Sub-Cluster Somalia"
signing_key = "%s"

# Disclosure-controlled aggregates only: no count from 1 to 2 leaves a node,
# and no suppressed count can be narrowed to less than 3.
[[purpose]]
name = "aggregate"
from = ["save-the-children-so", "irc-so", "unicef-so"]
to = ["cp-subcluster-so"]
reports = ["case_characteristics"]
threshold = 3
protection_interval = 3
frequency = "monthly"
`

// demoIntake is who an agency registers this month. Each agency's node
// publishes counts of 3 and more (the ISP's k); the coordination node
// controls the sum again with k 5: Save the Children's 3 girls at low risk
// are published by it and suppressed in the merged table, IRC's single boy
// at medium risk never leaves IRC's node.
var demoIntake = map[string][]demoGroup{
	"save-the-children-so": {{"female", "9", "high", 3}, {"male", "9", "high", 3}, {"female", "14", "high", 3}, {"male", "14", "high", 3}, {"female", "7", "low", 3}},
	"irc-so":               {{"female", "9", "high", 3}, {"male", "9", "high", 3}, {"female", "14", "high", 3}, {"male", "14", "high", 3}, {"male", "15", "medium", 1}},
	"unicef-so":            {{"female", "9", "high", 3}, {"male", "9", "high", 3}, {"male", "14", "high", 3}},
}

// demoGroup is n children of one sex, age and risk level.
type demoGroup struct {
	sex, age, risk string
	n              int
}

// demoReporter is an agency of the demo as the coordination body sees it:
// its node, a caseworker who registers cases and a user who may count the
// whole agency (role coordinator) and so push its figures.
type demoReporter struct {
	node       *demoNode
	caseworker *conn
	counter    *conn
}

// demoCoordination starts the coordination body's node, has all parties
// sign an aggregate ISP, registers this month's children at each agency,
// pushes each agency's report and prints the submissions and the merged,
// controlled table with each suppressed cell and why.
func demoCoordination(ctx context.Context, say func(string, ...any), step func(string), base string, pass []byte, reporters []demoReporter) (err error) {
	step("12. The CP Sub-Cluster runs a coordination node; the agencies send it their monthly figures")
	co, err := startDemoNode(ctx, base, demoCoordinationAgency, "CP Sub-Cluster Somalia", "CPSC", pass, func(c *config.Config) { c.Agency.Coordination = true })
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, co.stop()) }()
	coID, err := co.admin.Fed.NodeID(ctx, connect.NewRequest(&localv1.NodeIDRequest{}))
	if err != nil {
		return err
	}
	var fps []any
	for _, r := range reporters {
		id, err := r.node.admin.Fed.NodeID(ctx, connect.NewRequest(&localv1.NodeIDRequest{}))
		if err != nil {
			return err
		}
		fps = append(fps, id.Msg.KeyFingerprint)
		if _, err := r.node.admin.Fed.AddPeer(ctx, connect.NewRequest(&localv1.AddPeerRequest{Addr: coID.Msg.Addrs[0], Agency: demoCoordinationAgency})); err != nil {
			return fmt.Errorf("%s adds %s: %w", r.node.agency, demoCoordinationAgency, err)
		}
		if _, err := co.admin.Fed.AddPeer(ctx, connect.NewRequest(&localv1.AddPeerRequest{Addr: id.Msg.Addrs[0], Agency: r.node.agency})); err != nil {
			return fmt.Errorf("%s adds %s: %w", demoCoordinationAgency, r.node.agency, err)
		}
	}
	_, err = co.admin.Cases.ListCases(ctx, connect.NewRequest(&localv1.ListCasesRequest{}))
	say("cpx init --coordination: %s's node receives only aggregates and holds no case files;", demoCoordinationAgency)
	say("asked for cases, it answers: %s", Message(err))
	say("It and the three agencies become peers.")

	doc := []byte(fmt.Sprintf(demoAggregateISP, append(fps, coID.Msg.KeyFingerprint)...))
	admins := []*conn{co.admin}
	for _, r := range reporters {
		admins = append(admins, r.node.admin)
	}
	for _, a := range admins {
		resp, err := a.Fed.SignPolicy(ctx, connect.NewRequest(&localv1.SignPolicyRequest{Document: doc}))
		if err != nil {
			return fmt.Errorf("signing so-demo-aggregate: %w", err)
		}
		doc = resp.Msg.Document
	}
	for _, a := range admins {
		resp, err := a.Fed.ApplyPolicy(ctx, connect.NewRequest(&localv1.ApplyPolicyRequest{Document: doc}))
		if err != nil {
			return err
		}
		if !resp.Msg.Policy.InForce {
			return fmt.Errorf("so-demo-aggregate is not in force: %s", resp.Msg.Policy.Problem)
		}
	}
	say("ISP so-demo-aggregate v1, signed by all four parties and in force on every node:")
	say("  aggregate  the three agencies → %s, report %s, monthly, k 3, protection interval 3", demoCoordinationAgency, demoReport)

	now := time.Now().UTC()
	period, today := now.Format("2006-01"), now.Format(time.DateOnly)
	names := []string{"Asha", "Hamza", "Ubah", "Abdi", "Hibo", "Farah", "Sagal", "Omar", "Nimco", "Liban"}
	var intake []string
	for _, r := range reporters {
		n := 0
		for _, g := range demoIntake[r.node.agency] {
			for range g.n {
				f, _ := structpb.NewStruct(map[string]any{
					"name_first": names[n%len(names)], "sex": g.sex, "age": g.age, "risk_level": g.risk, "registration_date": today,
				})
				if _, err := r.caseworker.Cases.CreateCase(ctx, connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: f})); err != nil {
					return fmt.Errorf("registering at %s: %w", r.node.agency, err)
				}
				n++
			}
		}
		intake = append(intake, fmt.Sprintf("%s %d", r.node.agency, n))
	}
	say("This month the agencies register children: %s.", strings.Join(intake, ", "))

	step("13. Each agency pushes its monthly report through the outbox")
	for _, r := range reporters {
		resp, err := r.counter.Reports.PushReport(ctx, connect.NewRequest(&localv1.PushReportRequest{Name: demoReport, To: demoCoordinationAgency, Period: period}))
		if err != nil {
			return fmt.Errorf("%s pushes %s: %w", r.node.agency, demoReport, err)
		}
		state := "delivered, receipt signed"
		if !resp.Msg.Delivered {
			state = "waiting in the outbox: " + resp.Msg.Waiting
		}
		say("  %-22s cpx report push %s --to %s --period %s: %d suppressed cells, %s", r.node.agency, demoReport, demoCoordinationAgency, period,
			countSuppressed(resp.Msg.Result), state)
	}
	say("Each node ran the report over its own agency, suppressed counts of 1 and 2 (and cells that would")
	say("reveal them) before sealing the table: suppressed counts never leave the node.")

	var subs *localv1.ListSubmissionsResponse
	if err := demoWait(ctx, func() bool {
		resp, err := co.admin.Reports.ListSubmissions(ctx, connect.NewRequest(&localv1.ListSubmissionsRequest{Period: period, Report: demoReport}))
		if err != nil {
			return false
		}
		subs = resp.Msg
		return len(subs.Missing) == 0 && len(subs.Submissions) == len(reporters)
	}); err != nil {
		return fmt.Errorf("the coordination node did not receive every agency's report: %w", err)
	}
	say("cpx report submissions --period %s on the coordination node:", period)
	for _, s := range subs.Submissions {
		say("  %-22s %s v%d, received %s, pushed by %s", s.Agency, s.Report, s.Version, s.ReceivedAt.AsTime().UTC().Format("15:04:05Z"), s.Actor)
	}
	say("  missing: none")

	step("14. The coordination body prints the merged table, controlled again across agencies")
	merged, err := co.admin.Reports.RunReport(ctx, connect.NewRequest(&localv1.RunReportRequest{Name: demoReport, Period: period, Merged: true}))
	if err != nil {
		return err
	}
	res := merged.Msg.Result
	say("The coordination node adds up the agencies' current tables and applies disclosure control again,")
	say("with k %d and protection interval %d (the ISP's terms, never below the node's default k of 5):", res.K, res.Protection)
	say("a cell an agency suppressed stays suppressed, and sums from 1 to %d are suppressed too.", res.K-1)
	say("cpx report run %s --period %s --merged:\n", demoReport, period)
	var b strings.Builder
	if err := writeReportText(&b, res); err != nil {
		return err
	}
	say("%s", strings.TrimRight(b.String(), "\n"))
	say("\nSuppressed cells and why:")
	sup := suppressedCells(res)
	for _, line := range sup {
		say("  %s", line)
	}
	if len(sup) == 0 {
		say("  none")
	}
	say("No published count lies from 1 to %d, and no suppressed cell can be worked out from the totals", res.K-1)
	say("and the other cells to a range narrower than %d.", res.Protection)
	return nil
}

// countSuppressed counts the suppressed cells of r, margins included.
func countSuppressed(r *localv1.ReportResult) int {
	return len(suppressedCells(r))
}

// suppressedCells describes each suppressed cell of r, margins included:
// where it is and why.
func suppressedCells(r *localv1.ReportResult) []string {
	why := map[string]string{
		"primary":   "a count below k",
		"secondary": "would reveal another suppressed cell",
		"sender":    "suppressed by the sending agency",
	}
	var out []string
	add := func(t *localv1.ReportTable, where string, c *localv1.ReportCell) {
		if c.GetSuppressed() == "" {
			return
		}
		if p := pageTitle(t); p != "" {
			where = p + ", " + where
		}
		out = append(out, fmt.Sprintf("%-40s %s", where, or(why[c.GetSuppressed()], c.GetSuppressed())))
	}
	for _, t := range r.GetTables() {
		nc := max(1, len(t.GetCols()))
		for i, rh := range t.GetRows() {
			for j := range nc {
				where := headerLabel(rh)
				if len(t.GetCols()) > 0 {
					where += " × " + headerLabel(t.GetCols()[j])
				}
				add(t, where, t.GetCells()[i*nc+j])
			}
			if i < len(t.GetRowTotals()) {
				add(t, headerLabel(rh)+" × Total", t.GetRowTotals()[i])
			}
		}
		for j, c := range t.GetColTotals() {
			if j < len(t.GetCols()) {
				add(t, "Total × "+headerLabel(t.GetCols()[j]), c)
			}
		}
		add(t, "Total", t.GetTotal())
	}
	return out
}
