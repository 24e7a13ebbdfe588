package conformance_test

import (
	"strings"
	"testing"
)

// matchJSON is the part of `cpx trace match --json` these tests read.
type matchJSON struct {
	Candidates []struct {
		CaseID      string  `json:"case_id"`
		Band        string  `json:"band"`
		Probability float64 `json:"probability"`
		Comparisons []struct {
			Field   string `json:"field"`
			Outcome string `json:"outcome"`
			Why     string `json:"why"`
		} `json:"comparisons"`
	} `json:"candidates"`
}

// TestTracingFields drives the fields of real tracing data through the
// binary: a case with a date of birth only against a request's estimated
// age (compared at the request's day, not "blank"); a mother named by
// her given name alone against her full name on the case (agrees); the
// child's name written family name first (still likely); cases without
// sex, without a given name (a family name, a nickname) accepted and
// found; and location codes written as ISO 3166-2 codes with hyphens.
func TestTracingFields(t *testing.T) {
	dir := initNode(t, "agency-f")
	n := start(t, dir)
	token := addUser(t, dir, "amina", "caseworker")
	api := []string{"--api", n.url, "--token", token}
	newCase := func(sets ...string) string {
		t.Helper()
		args := []string{"case", "create", "--set", "consent_for_tracing:=true"}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		var c struct{ Case caseJSON }
		mustJSON(t, &c, append(args, api...)...)
		return c.Case.ID
	}
	hodan := newCase("name_first=Hodan", "name_last=Warsame", "sex=female", "date_of_birth=2018-05-03",
		`family_details_section:=[{"relation_name":"Fatima Warsame","relation":"mother"}]`)
	farah := newCase("name_last=Farah", "age:=6")                           // no sex, no given name
	nick := newCase("name_nickname=Dhoore", "sex=male", "age:=11")          // a nickname alone
	ayaan := newCase("name_first=Ayaan", "name_last=Mohamed", "sex=female", // an ISO code for a P-code
		"age:=9", "location_current=so-bn")
	newCase("name_first=Abdi", "name_last=Yusuf", "sex=male", "age:=12")

	match := func(sets ...string) matchJSON {
		t.Helper()
		args := []string{"trace", "create", "--set", "consent_for_tracing=true"}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		var created struct {
			Request struct{ ID string } `json:"request"`
		}
		mustJSON(t, &created, append(args, api...)...)
		var m matchJSON
		mustJSON(t, &m, append([]string{"trace", "match", created.Request.ID}, api...)...)
		return m
	}
	outcome := func(m matchJSON, field string) (string, string) {
		for _, c := range m.Candidates[0].Comparisons {
			if c.Field == field {
				return c.Outcome, c.Why
			}
		}
		return "", ""
	}

	t.Run("age against date of birth, one-part mother, swapped name", func(t *testing.T) {
		m := match("inquirer_name=Fatima", "relation=mother", "trace.name=Warsame Hodan", "trace.sex=female",
			"trace.age=8", "trace.estimated=true")
		if len(m.Candidates) == 0 || m.Candidates[0].CaseID != hodan {
			t.Fatalf("got candidates %+v, want %s first", m.Candidates, hodan)
		}
		if m.Candidates[0].Band != "likely" {
			t.Errorf("got band %s (p=%.3f), want likely", m.Candidates[0].Band, m.Candidates[0].Probability)
		}
		if o, why := outcome(m, "age"); o != "match" || strings.Contains(why, "not recorded") {
			t.Errorf("age: got %s (%s), want match (born 2018-05-03 is 7 or 8 now, estimated 8)", o, why)
		}
		if o, why := outcome(m, "relatives"); o != "match" {
			t.Errorf("relatives: got %s (%s), want match (Fatima is Fatima Warsame's given name)", o, why)
		}
	})
	t.Run("no sex, family name only", func(t *testing.T) {
		m := match("trace.name=Farah", "trace.age=6")
		if len(m.Candidates) == 0 || m.Candidates[0].CaseID != farah {
			t.Fatalf("got candidates %+v, want %s first", m.Candidates, farah)
		}
		if o, _ := outcome(m, "sex"); o != "blank" {
			t.Errorf("sex: got %s, want blank", o)
		}
	})
	t.Run("nickname only", func(t *testing.T) {
		m := match("trace.name=Dhoore", "trace.sex=male", "trace.age=11")
		if len(m.Candidates) == 0 || m.Candidates[0].CaseID != nick {
			t.Fatalf("got candidates %+v, want %s first", m.Candidates, nick)
		}
	})
	t.Run("hyphenated ISO 3166-2 location", func(t *testing.T) {
		m := match("trace.name=Ayaan Mohamed", "trace.sex=female", "trace.age=9", "trace.location_origin=SO-BN")
		if len(m.Candidates) == 0 || m.Candidates[0].CaseID != ayaan {
			t.Fatalf("got candidates %+v, want %s first", m.Candidates, ayaan)
		}
		if o, why := outcome(m, "location"); o != "match" {
			t.Errorf("location: got %s (%s), want match (SO-BN is SO01)", o, why)
		}
	})
}
