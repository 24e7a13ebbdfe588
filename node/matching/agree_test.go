package matching_test

import (
	"testing"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/matching"
)

// TestMatchersAgreeFieldByField compares the same pairs with the local
// matcher and the federated encodings: both derive their fields in
// crypto/features, so a field one leaves blank the other encodes as
// absent, and a field one finds in agreement (an age against a date of
// birth, a hyphenated location code, a swapped name) the other finds
// close (Dice ≥ 0.9) and a disagreement farther (Dice < 0.95: a balanced
// group keeps about half its bits set whatever it encodes, so two
// different sexes or countries still share most of them; agreement is a
// Dice near 1).
func TestMatchersAgreeFieldByField(t *testing.T) {
	enc := pprl.NewRecordEncoder(pprl.DeriveKeys([]byte("agreement test secret, 32 bytes!"), "isp-1", pprl.RecordFields))
	age := func(a float64) *float64 { return &a }
	fields := []struct {
		local   string
		feature pprl.Feature
	}{
		{matching.FieldSex, pprl.FeatureSex},
		{matching.FieldAge, pprl.FeatureAge},
		{matching.FieldLocation, pprl.FeaturePlace},
		{matching.FieldSepDate, pprl.FeatureTime},
	}
	for _, tc := range []struct {
		name string
		q, c matching.Person
	}{
		{"age against date of birth",
			matching.Person{Names: []string{"Hodan Warsame"}, Age: age(8), AgeEstimated: true, RecordedOn: "2025-12-01", Sex: "female"},
			matching.Person{Names: []string{"Hodan Warsame"}, DateOfBirth: "2018-05-03", RecordedOn: "2024-01-10", Sex: "female"}},
		{"age recorded two years earlier",
			matching.Person{Names: []string{"Abdi Farah"}, Age: age(10), RecordedOn: "2025-12-01"},
			matching.Person{Names: []string{"Abdi Farah"}, Age: age(8), RecordedOn: "2023-11-01"}},
		{"another age", matching.Person{Names: []string{"Abdi Farah"}, Age: age(14), RecordedOn: "2025-12-01"},
			matching.Person{Names: []string{"Abdi Farah"}, DateOfBirth: "2019-02-01"}},
		{"hyphenated location code",
			matching.Person{Names: []string{"Ayaan"}, Locations: []string{"so-bn"}},
			matching.Person{Names: []string{"Ayaan"}, Locations: []string{"SOBN"}}},
		{"another country", matching.Person{Names: []string{"Ayaan"}, Locations: []string{"KE-01"}},
			matching.Person{Names: []string{"Ayaan"}, Locations: []string{"SOBN"}}},
		{"no sex on one side", matching.Person{Names: []string{"Farah"}, Sex: "male"},
			matching.Person{Names: []string{"Farah"}}},
		{"other sex", matching.Person{Names: []string{"Farah"}, Sex: "male"},
			matching.Person{Names: []string{"Farah"}, Sex: "female"}},
		{"separation dates", matching.Person{Names: []string{"Farah"}, SeparationDate: "2025-03-02"},
			matching.Person{Names: []string{"Farah"}, SeparationDate: "2025-03-05"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := map[string]matching.Comparison{}
			for _, c := range matching.Compare(tc.q, tc.c) {
				local[c.Field] = c
			}
			qr, cr := enc.EncodeRecord(tc.q), enc.EncodeRecord(tc.c)
			d := pprl.Compare(&qr, &cr)
			for _, f := range fields {
				l, fed := local[f.local], d[f.feature]
				switch {
				case l.Level < 0 && fed >= 0:
					t.Errorf("%s: local blank (%s), federated Dice %.2f, want absent", f.local, l.Why, fed)
				case l.Level >= 0 && fed < 0:
					t.Errorf("%s: local level %d (%s), federated absent", f.local, l.Level, l.Why)
				case l.Outcome == matching.Match && fed < 0.9:
					t.Errorf("%s: local match (%s), federated Dice %.3f, want ≥ 0.9", f.local, l.Why, fed)
				case l.Outcome == matching.Mismatch && fed >= 0.95:
					t.Errorf("%s: local mismatch (%s), federated Dice %.3f, want < 0.95", f.local, l.Why, fed)
				}
			}
		})
	}
}
