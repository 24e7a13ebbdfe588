package casework_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/forms"
)

// BenchmarkTasksOverdue lists one group's overdue tasks on a node of
// 100,000 cases (10 groups) of which 10,000 have an assessment due, half
// of them overdue, in encrypted Badger: the task index, not a scan.
//
//	go test -run='^$' -bench=TasksOverdue -benchtime=200x ./node/casework/
func BenchmarkTasksOverdue(b *testing.B) {
	ctx := context.Background()
	s := openBench(b)
	svc := casework.New(casework.Options{Store: s, Forms: forms.Standard(), Agency: "agency-a", Now: func() time.Time { return now }})
	const cases, groups, batch = 100_000, 10, 1000
	for g := range groups {
		sub := subject(b, fmt.Sprintf("sup%d", g), fmt.Sprintf("g%d", g), "supervisor")
		for start := 0; start < cases/groups; start += batch {
			rows := make([]casework.ImportRow, batch)
			for i := range rows {
				f := benchRow(start + i)
				if (start+i)%10 == 0 { // one case in ten has an assessment due
					f["assessment_due_date"] = now.AddDate(0, 0, (start+i)%200-100).Format(time.DateOnly)
				}
				rows[i] = casework.ImportRow{Row: int64(i), Form: "registration", Fields: f}
			}
			if _, err := svc.Import(ctx, sub, rows, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	sup := subject(b, "sup3", "g3", "supervisor")
	var n int
	for b.Loop() {
		list, err := svc.Tasks(ctx, sup, casework.TaskFilter{Overdue: true})
		if err != nil {
			b.Fatal(err)
		}
		n = len(list)
	}
	b.ReportMetric(float64(n), "tasks")
}
