package forms_test

import (
	"fmt"
	"time"

	"github.com/cpx-node/cpx/node/forms"
)

func ExampleConfig_Normalize() {
	c := forms.Standard()
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

	// A row from a CSV import: every value is a string.
	out, err := c.Normalize("registration", map[string]any{
		"name_first":          "Ali",
		"sex":                 "Male",
		"age":                 "9",
		"estimated":           "yes",
		"protection_concerns": "separated, child_labour",
	}, now, false)
	fmt.Println(out, err)

	_, err = c.Normalize("registration", map[string]any{"name_first": "Ali", "sex": "x", "age": "old"}, now, false)
	fmt.Println(err)
	// Output:
	// map[age:9 estimated:true name_first:Ali protection_concerns:[separated child_labour] sex:male] <nil>
	// field "age": must be a number, not "old" (rule type); field "sex": "x" is not an option of lookup sex; the options are female, male, other, unknown (rule lookup)
}
