package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cpx-node/cpx/node/casereports"
	"github.com/cpx-node/cpx/node/reporting"
	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// Disclosure-control defaults of a report run.
const (
	DefaultReportK = 5
)

type reportDef struct {
	def    *reporting.Definition
	origin string
}

// reports returns the managed reports and the node's own, by name; a
// node report with a managed report's name replaces it.
func (s *Server) reports() []reportDef {
	var out []reportDef
	for _, d := range reporting.Managed() {
		out = append(out, reportDef{d, "managed"})
	}
	if s.reportsDir == "" {
		return out
	}
	names, _ := filepath.Glob(filepath.Join(s.reportsDir, "*.toml"))
	slices.Sort(names)
	for _, n := range names {
		src, err := os.ReadFile(n)
		if err == nil && len(src) > reporting.MaxDefinitionBytes {
			err = fmt.Errorf("larger than %d bytes", reporting.MaxDefinitionBytes)
		}
		var d *reporting.Definition
		if err == nil {
			d, err = reporting.Parse(src)
		}
		if err != nil {
			s.log.Warn("skipping report definition", "file", n, "err", err)
			continue
		}
		if i := slices.IndexFunc(out, func(r reportDef) bool { return r.def.Name == d.Name }); i >= 0 {
			out[i] = reportDef{d, "node"}
		} else {
			out = append(out, reportDef{d, "node"})
		}
	}
	return out
}

func (s *Server) findReport(name string) (reportDef, error) {
	for _, r := range s.reports() {
		if r.def.Name == name {
			return r, nil
		}
	}
	return reportDef{}, connect.NewError(connect.CodeNotFound, fmt.Errorf("no report %q: cpx report list shows the reports", name))
}

func reportInfo(r reportDef) *localv1.ReportInfo {
	return &localv1.ReportInfo{Name: r.def.Name, Title: r.def.Title, Description: strings.TrimSpace(r.def.Description), Record: r.def.Record, Origin: r.origin, Definition: string(r.def.Source())}
}

// ListReports lists the managed reports and the node's own.
func (s *Server) ListReports(ctx context.Context, req *connect.Request[localv1.ListReportsRequest]) (*connect.Response[localv1.ListReportsResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceForm, policy.ActionRead, "report.list", "report"); err != nil {
		return nil, err
	}
	resp := &localv1.ListReportsResponse{}
	for _, r := range s.reports() {
		resp.Reports = append(resp.Reports, reportInfo(r))
	}
	return connect.NewResponse(resp), nil
}

// ShowReport returns one report.
func (s *Server) ShowReport(ctx context.Context, req *connect.Request[localv1.ShowReportRequest]) (*connect.Response[localv1.ShowReportResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceForm, policy.ActionRead, "report.show", "report/"+req.Msg.Name); err != nil {
		return nil, err
	}
	r, err := s.findReport(req.Msg.Name)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.ShowReportResponse{Report: reportInfo(r)}), nil
}

// parseDefinition parses and checks a definition sent by a caller.
func (s *Server) parseDefinition(src string) (*reporting.Definition, error) {
	d, err := reporting.Parse([]byte(src))
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	sc, err := s.reportRunner().Schema(d.Record)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if err := d.Check(sc); err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	return d, nil
}

// ValidateReport checks a definition against the node's forms.
func (s *Server) ValidateReport(ctx context.Context, req *connect.Request[localv1.ValidateReportRequest]) (*connect.Response[localv1.ValidateReportResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, sub, policy.ResourceForm, policy.ActionRead, "report.validate", "report"); err != nil {
		return nil, err
	}
	d, err := s.parseDefinition(req.Msg.Definition)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&localv1.ValidateReportResponse{Report: reportInfo(reportDef{d, "file"})}), nil
}

func (s *Server) reportRunner() *casereports.Runner {
	return &casereports.Runner{Cases: s.cases, Exchanges: s.ex, Now: s.now}
}

func parseDay(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: %q is not a date (YYYY-MM-DD)", name, v))
	}
	return t, nil
}

// RunReport runs a report over the records the caller may list, with
// disclosure control unless the caller turns it off.
func (s *Server) RunReport(ctx context.Context, req *connect.Request[localv1.RunReportRequest]) (*connect.Response[localv1.RunReportResponse], error) {
	sub, err := s.authenticate(ctx, req.Header(), req.Spec().Procedure)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if m.Merged {
		rep, err := s.mergedReport(ctx, sub, m)
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(&localv1.RunReportResponse{Result: s.reportWire(rep)}), nil
	}
	var def *reporting.Definition
	switch {
	case m.Name != "" && m.Definition != "":
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("a report name or a definition, not both"))
	case m.Name != "":
		r, err := s.findReport(m.Name)
		if err != nil {
			return nil, err
		}
		def = r.def
	default:
		if def, err = s.parseDefinition(m.Definition); err != nil {
			return nil, err
		}
	}
	var p reporting.Params
	if p.From, err = parseDay("--from", m.From); err != nil {
		return nil, err
	}
	if p.To, err = parseDay("--to", m.To); err != nil {
		return nil, err
	}
	if m.Period != "" {
		if m.From != "" || m.To != "" {
			return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("--period or --from/--to, not both"))
		}
		if p.From, p.To, err = anyPeriod(m.Period); err != nil {
			return nil, err
		}
	}
	if !p.From.IsZero() && !p.To.IsZero() && p.To.Before(p.From) {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("--to %s is before --from %s", m.To, m.From))
	}
	p.By = m.By
	for _, f := range m.Filters {
		field, vals, ok := strings.Cut(f, "=")
		if !ok || field == "" || vals == "" {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("--filter %q: want FIELD=VALUE[,VALUE...]", f))
		}
		p.Filters = append(p.Filters, reporting.Filter{Field: field, Values: strings.Split(vals, ",")})
	}
	rep, err := s.reportRunner().Run(ctx, sub, def, p)
	switch {
	case errors.Is(err, casereports.ErrUnavailable):
		return nil, connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, reporting.ErrInvalid):
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	case err != nil:
		return nil, s.fail(err)
	}
	if !m.NoSuppression {
		k := int(m.K)
		if k <= 0 {
			k = DefaultReportK
		}
		prot := int(m.Protection)
		if prot <= 0 {
			prot = k
		}
		if err := rep.Protect(k, prot); err != nil {
			return nil, s.fail(err)
		}
	}
	return connect.NewResponse(&localv1.RunReportResponse{Result: s.reportWire(rep)}), nil
}

func cellWire(c reporting.Cell) *localv1.ReportCell {
	if c.Mark != reporting.Published {
		return &localv1.ReportCell{Suppressed: c.Mark.String()}
	}
	return &localv1.ReportCell{Count: int64(c.Count)}
}

func headersWire(hs []reporting.Header) []*localv1.ReportHeader {
	out := make([]*localv1.ReportHeader, len(hs))
	for i, h := range hs {
		out[i] = &localv1.ReportHeader{Key: h.Key, Label: h.Label}
	}
	return out
}

func (s *Server) reportWire(r *reporting.Report) *localv1.ReportResult {
	day := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	w := &localv1.ReportResult{
		Name: r.Name, Title: r.Title, Description: strings.TrimSpace(r.Description), Record: r.Record,
		From: day(r.From), To: day(r.To), Agency: s.agency, NodeName: s.name,
		GeneratedAt: timestamppb.New(s.now()), K: int32(r.K), Protection: int32(r.Protection),
	}
	for _, t := range r.Tables {
		tw := &localv1.ReportTable{RowField: t.RowField, ColField: t.ColField, Rows: headersWire(t.Rows), Cols: headersWire(t.Cols), Total: cellWire(t.Total)}
		if r.PageField != "" {
			tw.PageField, tw.Page = r.PageField, &localv1.ReportHeader{Key: t.Page.Key, Label: t.Page.Label}
		}
		for _, row := range t.Cells {
			for _, c := range row {
				tw.Cells = append(tw.Cells, cellWire(c))
			}
		}
		for _, c := range t.RowTotals {
			tw.RowTotals = append(tw.RowTotals, cellWire(c))
		}
		for _, c := range t.ColTotals {
			tw.ColTotals = append(tw.ColTotals, cellWire(c))
		}
		w.Tables = append(w.Tables, tw)
	}
	return w
}
