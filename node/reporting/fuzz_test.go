package reporting_test

import (
	"testing"

	"github.com/cpx-node/cpx/node/reporting"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte("name = \"a\"\n[rows]\nfield = \"sex\"\n[columns]\nfield = \"age\"\nranges = [\"0-4\", \"5+\"]\n"))
	f.Add([]byte("name = \"b\"\nrecord = \"cases\"\nshow_empty = true\n[rows]\nfield = \"registration_date\"\ngroup = \"week\"\n[[filter]]\nfield = \"sex\"\nvalues = [\"male\"]\n"))
	f.Add([]byte("[rows\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := reporting.Parse(src)
		if err != nil {
			return
		}
		if d.Rows == nil {
			t.Fatal("Parse accepted a definition without rows")
		}
		if err := d.Check(schema()); err != nil {
			return
		}
		q, err := reporting.Compile(d, schema(), reporting.Params{})
		if err != nil {
			t.Fatalf("Check passed but Compile failed: %v", err)
		}
		q.Add(reporting.Record{"sex": "male", "age": 3.0})
		r := q.Result()
		for _, tb := range r.Tables {
			if tb.Total.Count > 1 && d.Rows.Field != "protection_concerns" {
				t.Fatalf("one record counted %d times", tb.Total.Count)
			}
		}
	})
}
