package reporting_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/reporting"
)

func schema() *reporting.Schema {
	return &reporting.Schema{
		Record: reporting.RecordCases,
		Fields: map[string]reporting.Field{
			"sex":                  {Name: "sex", Kind: reporting.KindSelect, Options: []reporting.Option{{ID: "female", Label: "Female"}, {ID: "male", Label: "Male"}}},
			"age":                  {Name: "age", Kind: reporting.KindNumber},
			"protection_concerns":  {Name: "protection_concerns", Kind: reporting.KindMulti, Options: []reporting.Option{{ID: "neglect"}, {ID: "caafag"}}},
			"registration_date":    {Name: "registration_date", Kind: reporting.KindDate},
			"location_current":     {Name: "location_current", Kind: reporting.KindLocation},
			"consent_for_services": {Name: "consent_for_services", Kind: reporting.KindTick},
			"name_first":           {Name: "name_first", Kind: reporting.KindOther, Identifying: true},
			"notes":                {Name: "notes", Kind: reporting.KindOther},
		},
		Locations: map[string]reporting.Location{
			"SO":     {Code: "SO", Name: "Somalia"},
			"SO01":   {Code: "SO01", Parent: "SO", Name: "Banadir", Level: 1},
			"SO0101": {Code: "SO0101", Parent: "SO01", Name: "Hodan", Level: 2},
			"SO02":   {Code: "SO02", Parent: "SO", Name: "Bay", Level: 1},
		},
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unknown key", "name = \"a\"\n[rows]\nfield = \"sex\"\nfeild = \"x\"\n", "line 4: rows.feild: unknown key"},
		{"bad type", "name = \"a\"\n[rows]\nfield = 3\n", "line 3: rows.field"},
		{"syntax", "name = \"a\"\n[rows\n", "line 2"},
		{"bad name", "name = \"A b\"\n[rows]\nfield = \"sex\"\n", "line 1: name: must match"},
		{"no rows", "name = \"a\"\n", "rows: missing"},
		{"bad group", "name = \"a\"\n[rows]\nfield = \"registration_date\"\ngroup = \"fortnight\"\n", "line 4: rows.group: unknown date grouping"},
		{"bad range", "name = \"a\"\n[rows]\nfield = \"age\"\nranges = [\"5-1\"]\n", "line 4: rows.ranges"},
		{"record", "name = \"a\"\nrecord = \"incidents\"\n[rows]\nfield = \"sex\"\n", "line 2: record: unknown record type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reporting.Parse([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unknown field", "name = \"a\"\n[rows]\nfield = \"sex\"\n[columns]\nfield = \"colour\"\n", "line 5: columns.field: unknown field \"colour\""},
		{"identifying", "name = \"a\"\n[rows]\nfield = \"name_first\"\n", "line 3: rows.field: \"name_first\" is an identifying field"},
		{"identifying by list", "name = \"a\"\n[rows]\nfield = \"sex\"\n[[filter]]\nfield = \"national_id_no\"\nvalues = [\"1\"]\n", "line 5: filter[0].field: \"national_id_no\" is an identifying field"},
		{"free text", "name = \"a\"\n[rows]\nfield = \"notes\"\n", "free text"},
		{"group on select", "name = \"a\"\n[rows]\nfield = \"sex\"\ngroup = \"month\"\n", "needs a date field"},
		{"age groups on date", "name = \"a\"\n[rows]\nfield = \"registration_date\"\nage_groups = true\n", "need a number field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := reporting.Parse([]byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			err = d.Check(schema())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func run(t *testing.T, src string, p reporting.Params, recs ...reporting.Record) *reporting.Report {
	t.Helper()
	d, err := reporting.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	q, err := reporting.Compile(d, schema(), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		q.Add(r)
	}
	return q.Result()
}

func flat(t reporting.Table) string {
	var b strings.Builder
	for i, r := range t.Rows {
		b.WriteString(r.Label + ":")
		for _, c := range t.Cells[i] {
			b.WriteString(" " + itoa(c.Count))
		}
		b.WriteString("; ")
	}
	b.WriteString("total " + itoa(t.Total.Count))
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestGrouping(t *testing.T) {
	recs := []reporting.Record{
		{"sex": "female", "age": 4.0, "registration_date": "2026-01-05", "location_current": "SO0101", "protection_concerns": []any{"neglect", "caafag"}, "consent_for_services": true},
		{"sex": "male", "age": 12.0, "registration_date": "2026-02-20", "location_current": "SO02", "protection_concerns": []any{"neglect"}},
		{"sex": "male", "age": 17.5, "registration_date": "2026-04-01", "location_current": "SO01"},
		{"age": 19.0},
	}
	for _, tc := range []struct {
		name, src string
		p         reporting.Params
		want      string
	}{
		{"select", "name = \"a\"\n[rows]\nfield = \"sex\"\n", reporting.Params{}, "Female: 1; Male: 2; (not recorded): 1; total 4"},
		{"select show empty", "name = \"a\"\nshow_empty = true\n[rows]\nfield = \"sex\"\n[[filter]]\nfield = \"sex\"\nvalues = [\"male\"]\n", reporting.Params{}, "Female: 0; Male: 2; total 2"},
		{"age groups", "name = \"a\"\n[rows]\nfield = \"age\"\nage_groups = true\n", reporting.Params{}, "0-5: 1; 12-17: 2; 18+: 1; total 4"},
		{"month", "name = \"a\"\n[rows]\nfield = \"registration_date\"\ngroup = \"month\"\n", reporting.Params{}, "2026-01: 1; 2026-02: 1; 2026-04: 1; (not recorded): 1; total 4"},
		{"quarter", "name = \"a\"\n[rows]\nfield = \"registration_date\"\ngroup = \"quarter\"\n", reporting.Params{}, "2026-Q1: 2; 2026-Q2: 1; (not recorded): 1; total 4"},
		{"week", "name = \"a\"\n[rows]\nfield = \"registration_date\"\ngroup = \"week\"\n", reporting.Params{}, "2026-W02: 1; 2026-W08: 1; 2026-W14: 1; (not recorded): 1; total 4"},
		{"year", "name = \"a\"\n[rows]\nfield = \"registration_date\"\ngroup = \"year\"\n", reporting.Params{}, "2026: 3; (not recorded): 1; total 4"},
		{"admin level 1", "name = \"a\"\n[rows]\nfield = \"location_current\"\nadmin_level = 1\n", reporting.Params{}, "Banadir: 2; Bay: 1; (not recorded): 1; total 4"},
		{"multi counts mentions", "name = \"a\"\n[rows]\nfield = \"protection_concerns\"\n", reporting.Params{}, "neglect: 2; caafag: 1; (not recorded): 2; total 5"},
		{"tick", "name = \"a\"\n[rows]\nfield = \"consent_for_services\"\n", reporting.Params{}, "Yes: 1; (not recorded): 3; total 4"},
		{"period", "name = \"a\"\n[rows]\nfield = \"sex\"\n", reporting.Params{From: day("2026-02-01"), To: day("2026-03-31")}, "Male: 1; total 1"},
		{"by override", "name = \"a\"\n[rows]\nfield = \"sex\"\n", reporting.Params{By: []string{"age"}}, "0-5: 1; 12-17: 2; 18+: 1; total 4"},
		{"2-D", "name = \"a\"\n[rows]\nfield = \"sex\"\n[columns]\nfield = \"age\"\nranges = [\"0-11\", \"12+\"]\n", reporting.Params{}, "Female: 1 0; Male: 0 2; (not recorded): 0 1; total 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.src, tc.p, recs...)
			if got := flat(r.Tables[0]); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPages(t *testing.T) {
	r := run(t, "name = \"a\"\n[rows]\nfield = \"sex\"\n[columns]\nfield = \"age\"\nage_groups = true\n[pages]\nfield = \"consent_for_services\"\n", reporting.Params{},
		reporting.Record{"sex": "male", "age": 3.0, "consent_for_services": true},
		reporting.Record{"sex": "female", "age": 3.0, "consent_for_services": false},
		reporting.Record{"sex": "female", "age": 9.0, "consent_for_services": false})
	if len(r.Tables) != 2 || r.Tables[0].Page.Key != "yes" || r.Tables[1].Total.Count != 2 {
		t.Fatalf("got %d tables (%+v), want yes (1) and no (2)", len(r.Tables), r.Tables)
	}
}

func day(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }
