package command

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// writeReportXLSX writes a workbook: one sheet per table (header row,
// frozen panes, totals, a column chart of the counts) and a sheet "About"
// saying what was counted, over which period, on which node, and which
// cells were suppressed and why.
//
// excelize is the one maintained Go library that writes native charts and
// frozen panes into a standard .xlsx that Excel, LibreOffice and openpyxl
// read; writing the OOXML by hand would be a second format to maintain.
func writeReportXLSX(w io.Writer, r *localv1.ReportResult) error {
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	type suppressed struct{ sheet, cell, row, col, why string }
	var supp []suppressed
	used := map[string]bool{"About": true}
	var sheets []string
	for i, t := range r.GetTables() {
		name := sheetName(pageLabelOr(t, fmt.Sprintf("Table %d", i+1)), used)
		sheets = append(sheets, name)
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return err
			}
		} else if _, err := f.NewSheet(name); err != nil {
			return err
		}
		g := grid(t)
		nc := max(1, len(t.GetCols()))
		for y, line := range g {
			for x, s := range line {
				ref, _ := excelize.CoordinatesToCellName(x+1, y+1)
				var v any = s
				if y > 0 && x > 0 {
					if n, err := strconv.ParseInt(s, 10, 64); err == nil {
						v = n
					}
				}
				if str, ok := v.(string); ok {
					v = csvSafe(str)
				}
				if err := f.SetCellValue(name, ref, v); err != nil {
					return err
				}
			}
		}
		last, _ := excelize.CoordinatesToCellName(len(g[0]), len(g))
		if err := f.SetCellStyle(name, "A1", mustCell(len(g[0]), 1), bold); err != nil {
			return err
		}
		if err := f.SetCellStyle(name, mustCell(1, len(g)), last, bold); err != nil {
			return err
		}
		if err := f.SetColWidth(name, "A", "A", 28); err != nil {
			return err
		}
		if err := f.SetPanes(name, &excelize.Panes{Freeze: true, XSplit: 1, YSplit: 1, TopLeftCell: "B2", ActivePane: "bottomRight"}); err != nil {
			return err
		}
		// Suppressed cells, for About.
		for ri, h := range t.GetRows() {
			for ci := range nc {
				c := t.GetCells()[ri*nc+ci]
				if c.GetSuppressed() == "" {
					continue
				}
				col := ""
				if len(t.GetCols()) > 0 {
					col = headerLabel(t.GetCols()[ci])
				}
				supp = append(supp, suppressed{name, mustCell(ci+2, ri+2), headerLabel(h), col, c.GetSuppressed()})
			}
		}
		for ri, c := range t.GetRowTotals() {
			if c.GetSuppressed() != "" {
				supp = append(supp, suppressed{name, mustCell(nc+2, ri+2), headerLabel(t.GetRows()[ri]), "Total", c.GetSuppressed()})
			}
		}
		for ci, c := range t.GetColTotals() {
			if c.GetSuppressed() != "" {
				supp = append(supp, suppressed{name, mustCell(ci+2, len(g)), "Total", headerLabel(t.GetCols()[ci]), c.GetSuppressed()})
			}
		}
		if c := t.GetTotal(); c.GetSuppressed() != "" {
			supp = append(supp, suppressed{name, last, "Total", "Total", c.GetSuppressed()})
		}
		// A clustered column chart: categories are the rows, one series
		// per column (without totals).
		if len(t.GetRows()) > 0 {
			ch := &excelize.Chart{Type: excelize.Col, Title: excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: or(pageTitle(t), r.GetTitle())}}},
				Legend: excelize.ChartLegend{Position: "bottom"}, ShowBlanksAs: "gap"}
			rows := len(t.GetRows())
			for ci := range nc {
				colName, _ := excelize.ColumnNumberToName(ci + 2)
				ch.Series = append(ch.Series, excelize.ChartSeries{
					Name:       fmt.Sprintf("'%s'!$%s$1", name, colName),
					Categories: fmt.Sprintf("'%s'!$A$2:$A$%d", name, rows+1),
					Values:     fmt.Sprintf("'%s'!$%s$2:$%s$%d", name, colName, colName, rows+1),
				})
			}
			anchor, _ := excelize.CoordinatesToCellName(len(g[0])+2, 2)
			if err := f.AddChart(name, anchor, ch); err != nil {
				return fmt.Errorf("chart: %w", err)
			}
		}
	}
	if _, err := f.NewSheet("About"); err != nil {
		return err
	}
	period := "all records"
	if r.GetFrom() != "" || r.GetTo() != "" {
		period = or(r.GetFrom(), "the start") + " to " + or(r.GetTo(), "today")
	}
	control := "none: every count is shown as it is (for the agency's own use)"
	if r.GetK() > 0 {
		control = fmt.Sprintf("counts from 1 to %d are suppressed (primary); further cells are suppressed (secondary) so that no suppressed count can be worked out from the totals and the other cells to within less than %d", r.GetK()-1, r.GetProtection())
	}
	about := [][]string{
		{"Report", r.GetName()},
		{"Title", r.GetTitle()},
		{"What was counted", r.GetDescription()},
		{"Records", r.GetRecord() + " the user who ran the report may see"},
		{"Period", period},
		{"Node", r.GetNodeName() + " (" + r.GetAgency() + ")"},
		{"Generated", ts(r.GetGeneratedAt())},
		{"Disclosure control", control},
		{"Tables", strings.Join(sheets, ", ")},
		{},
		{"Suppressed cells (x)", "Cell", "Row", "Column", "Why"},
	}
	for _, s := range supp {
		why := "secondary: suppressed so that another suppressed cell cannot be worked out"
		switch s.why {
		case "primary":
			why = fmt.Sprintf("primary: count below %d", r.GetK())
		case "sender":
			why = "sender: an agency suppressed its count of this cell before sending it"
		}
		about = append(about, []string{s.sheet, s.cell, s.row, s.col, why})
	}
	if len(supp) == 0 {
		about = append(about, []string{"none"})
	}
	for y, line := range about {
		for x, s := range line {
			if err := f.SetCellValue("About", mustCell(x+1, y+1), csvSafe(s)); err != nil {
				return err
			}
		}
	}
	if err := f.SetColWidth("About", "A", "A", 24); err != nil {
		return err
	}
	if err := f.SetColWidth("About", "B", "B", 80); err != nil {
		return err
	}
	if err := f.SetCellStyle("About", "A1", mustCell(1, len(about)), bold); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}

func mustCell(x, y int) string {
	s, _ := excelize.CoordinatesToCellName(x, y)
	return s
}

func pageLabelOr(t *localv1.ReportTable, def string) string {
	if t.GetPageField() == "" {
		return def
	}
	return headerLabel(t.GetPage())
}

// sheetName makes a valid, unique sheet name: at most 31 characters,
// none of []:*?/\.
func sheetName(s string, used map[string]bool) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\'`, r) {
			return '_'
		}
		return r
	}, s)
	if s == "" {
		s = "Table"
	}
	r := []rune(s)
	if len(r) > 28 {
		r = r[:28]
	}
	name := string(r)
	for i := 2; used[strings.ToLower(name)] || used[name]; i++ {
		name = fmt.Sprintf("%s %d", string(r), i)
	}
	used[name], used[strings.ToLower(name)] = true, true
	return name
}
