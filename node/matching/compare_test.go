package matching_test

import (
	"testing"

	"github.com/cpx-node/cpx/node/matching"
)

// level returns the level of one field of Compare(q, c).
func level(t *testing.T, q, c matching.Person, field string) (int, string) {
	t.Helper()
	for _, x := range matching.Compare(q, c) {
		if x.Field == field {
			return x.Level, x.Why
		}
	}
	t.Fatalf("no %s comparison", field)
	return 0, ""
}

func TestNameExtendedIsAnotherName(t *testing.T) {
	for _, tc := range []struct {
		q, c string
		want int
	}{
		{"Gul Ahmadzai", "Gul Ahmadzai", 6},
		{"Gul Ahmadzai", "Gul Ahmadzay", 6}, // a spelling
		{"Gul Ahmadzai", "Gul Ahmad", 3},    // a tribal name is not the given name
		{"Gul Yusufzai", "Gul Yusuf", 3},
		{"Ali Nuradin", "Ali Nur", 3},
		{"Ali Hassan", "Ali Hasan", 6},
		{"Ali Hassan", "Ali Hassann", 6}, // one letter more is a typo
	} {
		got, why := level(t, matching.Person{Names: []string{tc.q}}, matching.Person{Names: []string{tc.c}}, matching.FieldName)
		if got != tc.want {
			t.Errorf("%q vs %q: name level %d (%s), want %d", tc.q, tc.c, got, why, tc.want)
		}
	}
}

func TestRelativesConflict(t *testing.T) {
	// the request: the father asks, and names the mother without a relation
	q := matching.Person{Names: []string{"Muhammad Hashimi"}, Father: "Hamid Hashimi",
		Relatives: []string{"Hamid Hashimi", "Fatema Ahmadzai"}}
	for _, tc := range []struct {
		name string
		c    matching.Person
		want int
	}{
		{"both parents agree", matching.Person{Father: "Hamid Hashemi", Mother: "Fatima Ahmadzai",
			Relatives: []string{"Hamid Hashemi", "Fatima Ahmadzai"}}, 6},
		{"the father agrees, the mother is another woman", matching.Person{Father: "Hamid Hashemi", Mother: "Fatima Karimi",
			Relatives: []string{"Hamid Hashemi", "Fatima Karimi"}}, 4},
		{"the father agrees, no mother recorded", matching.Person{Father: "Hamid Hashemi",
			Relatives: []string{"Hamid Hashemi"}}, 5},
		{"the father agrees, an uncle of unknown relation", matching.Person{Father: "Hamid Hashemi",
			Relatives: []string{"Hamid Hashemi", "Wali Hashemi"}}, 5},
		{"another father", matching.Person{Father: "Wali Karimi", Relatives: []string{"Wali Karimi"}}, 1},
		{"the father's given name alone", matching.Person{Father: "Hamid", Relatives: []string{"Hamid"}}, 3},
		{"the mother's given name alone", matching.Person{Relatives: []string{"Fatema"}}, 3},
		{"a one-part name that is another", matching.Person{Relatives: []string{"Wali"}}, 1},
		{"no relatives on the case", matching.Person{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Names = []string{"Muhammad Hashemi"}
			if got, why := level(t, q, tc.c, matching.FieldRelatives); got != tc.want {
				t.Errorf("relatives level %d (%s), want %d", got, why, tc.want)
			}
		})
	}
}

func TestNameLevel(t *testing.T) {
	for _, tc := range []struct {
		name, q, c string
		want       int
	}{
		{"same chain", "Ahmed Yusuf Bassam", "Ahmed Yusuf Bassam", 7},
		{"case written family first", "Ahmed Yusuf Bassam", "Bassam Ahmed Yusuf", 7},
		{"request written family first", "Bassam Ahmed Yusuf", "Ahmed Yusuf Bassam", 7},
		{"order crossed", "Ahmed Yusuf Bassam", "Ahmed Bassam Yusuf", 4},
		{"a sister, request written family first", "Sa'ad Fatema Ahmed", "Hoda Ahmed Sa'ad", 1},
		{"a sister", "Fatema Ahmed Sa'ad", "Hoda Ahmed Sa'ad", 1},
		{"a typo of the given name", "Ahmed Hassan Ali", "Ahmde Hassan Ali", 7},
		{"a given name far misspelt", "Ahmed Hassan Ali", "Ahkned Hassan Ali", 2},
		{"a brother whose name is misspelt", "Ahmed Hassan Ali", "Mohmamad Hassan Ali", 1},
		{"a leading e is i", "Iman Hassan", "Eman Hassan", 6},
		{"transliteration", "محمد حسن", "Mohammed Hasan", 6},
		{"a typo of the given name, which the grandfather bears", "Faisla Ibraheem Faisal", "Faysal Ebrahim", 6},
		{"request written family first, typos", "Faisal Muhammad Muhamemd", "Muhammad Meohammad Faissal", 5},
		{"a short name with letters swapped", "Ayl Omar", "Aly Omar Omer", 2},
		{"Abdo is a nickname, not a compound", "Abdo Aly Ahmat", "Abd Allah Aly Ahmed", 7},
		{"Abdu Rahman is a compound", "Abdu Rahman Ali", "Abdulrahman Ali", 6},
		{"Abdou Kareem is a compound", "Abdou Kareem Ali", "Abdulkarim Ali", 6},
		{"a typo of a variant spelling", "Fadumo Daheer Ibrahim", "Faduao Daahir Ibrahimm", 7},
		{"a brother named after the father: no rotation", "Bashiir Mohamed Mehad", "Mohamed Maxamed Mahad", 1},
		{"the same, the case's side", "Mohamed Maxamed Mahad", "Bashiir Mohamed Mehad", 1},
		{"request written family first, grandfather left out of the case", "Mahad Mohamed Maxamed", "Mohamed Maxamed", 6},
		{"case written family first, father left out of the request", "Karim Ahmed", "Karim Ahmed Yusuf", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := level(t, matching.Person{Names: []string{tc.q}}, matching.Person{Names: []string{tc.c}}, matching.FieldName)
			if got != tc.want {
				t.Errorf("%q vs %q: name level %d (%s), want %d", tc.q, tc.c, got, why, tc.want)
			}
		})
	}
}

func TestCompareLineage(t *testing.T) {
	for _, tc := range []struct {
		name string
		q, c matching.Person
		want int
		why  string
	}{
		{"the request's relative is the case's chain: father and grandfather",
			matching.Person{Names: []string{"Hoden Dehir"}, Mother: "Caasha Mohamad", Relatives: []string{"Caasha Mohamad", "Dahir Cawil Daahir"}},
			matching.Person{Names: []string{"Hodan Daahir Cawil"}}, 3, "daahir cawil ~ dahir cawil daahir (a relative on the request)"},
		{"the case's father is the request's chain",
			matching.Person{Names: []string{"Xaawo Faarax"}},
			matching.Person{Names: []string{"Hawa Faafax Yusuf"}, Father: "Fearax Yuusuf Gula", Relatives: []string{"Fearax Yuusuf Gula"}}, 2, "faarax ~ fearax yuusuf gula (the case's father)"},
		{"a family name is the father's",
			matching.Person{Names: []string{"Ahmad Karimi"}},
			matching.Person{Names: []string{"Ahmad Karimi"}, Father: "Wali Kareemi", Relatives: []string{"Wali Kareemi"}}, 2, ""},
		{"the grandfather agrees, not the father",
			matching.Person{Names: []string{"Amina Yusuf Bashir"}},
			matching.Person{Names: []string{"Amina Ali"}, Father: "Omar Bashir Ahmed", Relatives: []string{"Omar Bashir Ahmed"}}, 1, ""},
		{"another father",
			matching.Person{Names: []string{"Amina Yusuf Bashir"}},
			matching.Person{Names: []string{"Amina Ali"}, Father: "Omar Ahmed", Relatives: []string{"Omar Ahmed"}}, 0, ""},
		{"a mother is not compared with the chain",
			matching.Person{Names: []string{"Amina Yusuf Bashir"}},
			matching.Person{Names: []string{"Amina"}, Mother: "Yusuf Bashir", Relatives: []string{"Yusuf Bashir"}}, -1, ""},
		{"no chain: one-part names", matching.Person{Names: []string{"Amina"}},
			matching.Person{Names: []string{"Amina"}, Father: "Omar Ahmed", Relatives: []string{"Omar Ahmed"}}, -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, why := level(t, tc.q, tc.c, matching.FieldLineage); got != tc.want || tc.why != "" && why != tc.why {
				t.Errorf("lineage level %d (%s), want %d (%s)", got, why, tc.want, tc.why)
			}
		})
	}
}

func TestCompareAge(t *testing.T) {
	age := func(a float64) *float64 { return &a }
	for _, tc := range []struct {
		name string
		q, c matching.Person
		want int
	}{
		{"the same date of birth", matching.Person{DateOfBirth: "2016-12-01"}, matching.Person{DateOfBirth: "2016-12-01"}, 4},
		{"the same 1 January: an estimate", matching.Person{DateOfBirth: "2016-01-01"}, matching.Person{DateOfBirth: "2016-01-01"}, 3},
		{"born within a year", matching.Person{DateOfBirth: "2016-12-01"}, matching.Person{DateOfBirth: "2016-06-01"}, 2},
		{"born within three years", matching.Person{DateOfBirth: "2016-12-01"}, matching.Person{DateOfBirth: "2014-06-01"}, 1},
		{"born further apart", matching.Person{DateOfBirth: "2016-12-01"}, matching.Person{DateOfBirth: "2010-06-01"}, 0},
		{"the same stated age", matching.Person{Age: age(9)}, matching.Person{Age: age(9)}, 3},
		{"an estimate within its tolerance", matching.Person{Age: age(9)}, matching.Person{Age: age(11), AgeEstimated: true}, 2},
		{"no age on one side", matching.Person{Age: age(9)}, matching.Person{}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Names, tc.c.Names = []string{"Amina"}, []string{"Amina"}
			if got, why := level(t, tc.q, tc.c, matching.FieldAge); got != tc.want {
				t.Errorf("age level %d (%s), want %d", got, why, tc.want)
			}
		})
	}
}

func TestAgeAgainstDateOfBirth(t *testing.T) {
	age := func(a float64) *float64 { return &a }
	for _, tc := range []struct {
		name string
		q, c matching.Person
		want int // -1: blank
	}{
		{"estimated age within tolerance of the date of birth",
			matching.Person{Age: age(8), AgeEstimated: true, RecordedOn: "2026-03-01"},
			matching.Person{DateOfBirth: "2018-05-03", RecordedOn: "2024-01-10"}, 2},
		{"the same stated age",
			matching.Person{Age: age(7), RecordedOn: "2026-03-01"},
			matching.Person{DateOfBirth: "2018-05-03"}, 3},
		{"stated age two years off", matching.Person{Age: age(5), RecordedOn: "2026-03-01"},
			matching.Person{DateOfBirth: "2018-05-03"}, 1},
		{"a date of birth on the request", matching.Person{DateOfBirth: "2018-05-03", RecordedOn: "2026-03-01"},
			matching.Person{Age: age(14), RecordedOn: "2025-01-01"}, 0},
		{"no day for the age", matching.Person{Age: age(8), AgeEstimated: true},
			matching.Person{DateOfBirth: "2018-05-03"}, -1},
		{"a case's age moves on to the request's day",
			matching.Person{Age: age(10), RecordedOn: "2026-03-01"},
			matching.Person{Age: age(8), RecordedOn: "2024-02-01"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Names, tc.c.Names = []string{"Hodan"}, []string{"Hodan"}
			got, why := level(t, tc.q, tc.c, matching.FieldAge)
			if got != tc.want {
				t.Errorf("age level %d (%s), want %d", got, why, tc.want)
			}
			if got >= 0 && (why == "" || why == "not recorded on both sides") {
				t.Errorf("explanation %q, want the ages compared", why)
			}
		})
	}
}

func TestLocationCodeForms(t *testing.T) {
	q := matching.Person{Names: []string{"Hodan"}, Locations: []string{"so-bn"}}
	c := matching.Person{Names: []string{"Hodan"}, Locations: []string{"SOBN"}}
	if got, why := level(t, q, c, matching.FieldLocation); got != 3 {
		t.Errorf("SO-BN vs SOBN: location level %d (%s), want 3", got, why)
	}
}

func TestMuhammadIsNotMahmoud(t *testing.T) {
	cs := matching.Compare(matching.Person{Names: []string{"محمد علي"}}, matching.Person{Names: []string{"Mahmoud Ali"}})
	if cs[0].Level >= 3 {
		t.Errorf("محمد علي vs Mahmoud Ali: got level %d (%s), want < 3", cs[0].Level, cs[0].Why)
	}
	cs = matching.Compare(matching.Person{Names: []string{"محمد علي"}}, matching.Person{Names: []string{"Mohammed Ali"}})
	if cs[0].Level < 4 {
		t.Errorf("محمد علي vs Mohammed Ali: got level %d (%s), want ≥ 4", cs[0].Level, cs[0].Why)
	}
}

func TestNicknameOnly(t *testing.T) {
	q := matching.Person{Names: []string{"Dhoore"}}
	c := matching.Person{Nicknames: []string{"Dhoore"}}
	if got, why := level(t, q, c, matching.FieldName); got < 4 {
		t.Errorf("Dhoore against a case known only as Dhoore: name level %d (%s), want ≥ 4", got, why)
	}
	ix := matching.NewIndex()
	ix.Add(matching.Candidate{ID: "c1", Person: c})
	if res := ix.Match(q, 0); len(res) != 1 {
		t.Errorf("got %d candidates, want the case known by its nickname", len(res))
	}
}
