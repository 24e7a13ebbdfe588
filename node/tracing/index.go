package tracing

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cpx-node/cpx/crypto/pprl"
	"github.com/cpx-node/cpx/node/casework"
	"github.com/cpx-node/cpx/node/matching"
	"github.com/cpx-node/cpx/policy"
)

// CasePerson describes a case's child for the matching engine, from the
// standard forms' fields: names from name_first, name_middle, name_last
// (one full name), name_other and name (more names) and name_nickname;
// sex, age, estimated, date_of_birth; locations location_current,
// location_separation and location_last; relatives from
// family_details_section[].relation_name; date_of_separation and
// location_separation. Values of the wrong type are ignored.
func CasePerson(fields map[string]any) matching.Person {
	str := func(k string) string { s, _ := fields[k].(string); return strings.TrimSpace(s) }
	var p matching.Person
	var full []string
	for _, k := range []string{"name_first", "name_middle", "name_last"} {
		if s := str(k); s != "" {
			full = append(full, s)
		}
	}
	if len(full) > 0 {
		p.Names = append(p.Names, strings.Join(full, " "))
	}
	for _, k := range []string{"name_other", "name"} {
		if s := str(k); s != "" {
			p.Names = append(p.Names, s)
		}
	}
	if s := str("name_nickname"); s != "" {
		p.Nicknames = []string{s}
	}
	switch s := str("sex"); s {
	case "female", "male", "other", "unknown":
		p.Sex = s
	}
	if a, ok := fields["age"].(float64); ok {
		p.Age = &a
	}
	p.AgeEstimated, _ = fields["estimated"].(bool)
	p.DateOfBirth = str("date_of_birth")
	for _, k := range []string{"location_current", "location_separation", "location_last"} {
		if s := str(k); s != "" {
			p.Locations = append(p.Locations, matching.LocationCode(s))
		}
	}
	if fam, ok := fields["family_details_section"].([]any); ok {
		for _, m := range fam {
			if m, ok := m.(map[string]any); ok {
				if s, _ := m["relation_name"].(string); strings.TrimSpace(s) != "" {
					s = strings.TrimSpace(s)
					p.Relatives = append(p.Relatives, s)
					switch m["relation"] {
					case "father":
						p.Father = s
					case "mother":
						p.Mother = s
					}
				}
			}
		}
	}
	p.SeparationDate = str("date_of_separation")
	p.SeparationLocation = matching.LocationCode(str("location_separation"))
	return p
}

// indexable reports whether a case belongs in the index, and its Person:
// it must have consent for tracing, be open or closed (not transferred or
// purged) and describe a child the engine can match (a name, valid values).
func (s *Service) indexable(c casework.Case) (matching.Person, bool) {
	if !c.Consent().ForTracing {
		return matching.Person{}, false
	}
	if c.Status != casework.StatusOpen && c.Status != casework.StatusClosed {
		return matching.Person{}, false
	}
	p := CasePerson(c.Fields)
	if !c.CreatedAt.IsZero() {
		p.RecordedOn = c.CreatedAt.UTC().Format(time.DateOnly)
	}
	if p.Validate(s.now()) != nil {
		return matching.Person{}, false
	}
	return p, true
}

// apply files or removes c in ix and meta.
func (s *Service) apply(ix *matching.Index, meta map[string]caseMeta, c casework.Case) bool {
	p, ok := s.indexable(c)
	if !ok {
		ix.Remove(c.ID)
		delete(meta, c.ID)
		s.changes.Add(1)
		return false
	}
	ix.Add(matching.Candidate{ID: c.ID, Person: p})
	gen := s.changes.Add(1)
	meta[c.ID] = caseMeta{number: c.Number, person: p, obj: policy.Object{Owner: c.Owner, OwnerGroup: c.OwnerGroup, Agency: c.Agency}, gen: gen}
	return true
}

// CaseChanged updates the index after a case was created or changed: it
// files the case, or removes it when it has no consent for tracing (any
// more), is transferred or purged, or cannot be matched. c must hold the
// case's full form data (not redacted). Casework is to call it on every
// write; until it does, Match rebuilds a stale index (see Options.MaxStale).
func (s *Service) CaseChanged(c casework.Case) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.building {
		s.pending = append(s.pending, c)
	}
	if s.ix != nil {
		s.apply(s.ix, s.meta, c)
	}
}

// Rebuild builds the index from the node's cases that consent to tracing
// (casework.ExportConsenting, under the system-tracing role, which
// casework audits as one export) and replaces the current one. Changes
// reported by CaseChanged while it runs are applied to the new index too.
func (s *Service) Rebuild(ctx context.Context) error {
	s.rebuild.Lock()
	defer s.rebuild.Unlock()
	s.BeginBuild()
	gen, err := s.cases.Count(ctx)
	if err != nil {
		s.mu.Lock()
		s.building, s.pending = false, nil
		s.mu.Unlock()
		return fmt.Errorf("tracing index: %w", err)
	}
	ix := matching.NewIndex()
	meta := map[string]caseMeta{}
	var total, filed int
	err = s.cases.ExportConsenting(ctx, s.system, func(c casework.Case) error {
		total++
		if s.apply(ix, meta, c) {
			filed++
		}
		return nil
	})
	if err == nil {
		s.adapt(ctx, ix)
	}
	s.mu.Lock()
	s.building = false
	pending := s.pending
	s.pending = nil
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("tracing index: %w", err)
	}
	for _, c := range pending {
		s.apply(ix, meta, c)
	}
	s.ix, s.meta, s.gen, s.builtAt = ix, meta, gen, s.now()
	s.builds++
	encoded := map[string]*pprl.RecordEncoder{}
	for key, es := range s.encoded {
		encoded[key] = es.enc
	}
	s.mu.Unlock()
	s.log.Info("tracing index rebuilt", "cases", total, "indexed", filed)
	// the encodings of the ISPs already asked under are renewed and
	// their models adapted now rather than at the next query
	for _, key := range slices.Sorted(maps.Keys(encoded)) {
		if _, err := s.encode(ctx, key, func() *pprl.RecordEncoder { return encoded[key] }); err != nil {
			s.log.Warn("federated tracing encodings not renewed", "isp", key, "err", err)
		}
	}
	return nil
}

// adapt re-estimates the index's model on this node's open requests
// (matching.Adapt: how often its true pairs show each field level,
// learnt without knowing the answers) when there are enough of them, and
// keeps the shipped model otherwise. It runs at every Rebuild, so the
// adaptation follows the register and needs no store of its own.
func (s *Service) adapt(ctx context.Context, ix *matching.Index) {
	reqs, err := s.scan(ctx, StatusOpen, 0)
	if err != nil {
		s.log.Warn("tracing model not adapted", "err", err)
		return
	}
	var vecs [][][]matching.Comparison
	for _, req := range reqs {
		for i := range req.Details.Traces {
			vecs = append(vecs, ix.Vectors(req.person(i, s.location)))
		}
	}
	m, err := matching.Adapt(ix.Model(), vecs, matching.AdaptOptions{})
	if err != nil {
		s.log.Info("tracing model: shipped weights", "requests", len(vecs), "reason", err)
		return
	}
	ix.SetModel(m)
	s.log.Info("tracing model adapted to the open requests", "requests", m.Adapted.Requests, "pairs", m.Adapted.Pairs, "rounds", m.Adapted.Rounds)
}

// BeginBuild marks the index as being built, before a Rebuild that runs
// in the background starts: until it is done, matches fail with
// ErrBuilding instead of waiting, and State says "building".
func (s *Service) BeginBuild() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.building {
		s.building, s.pending = true, nil
	}
}

// State describes the index for /healthz: "building", "ready" or
// "not built" (built by the first match), and the number of cases in it.
func (s *Service) State() (string, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.ix != nil:
		return "ready", len(s.meta)
	case s.building:
		return "building", 0
	}
	return "not built", 0
}

// fresh returns the index, rebuilt first if it is missing or stale: the
// number of cases issued changed (a cheap generation: casework.Count), or
// it is older than MaxStale.
func (s *Service) fresh(ctx context.Context) (*matching.Index, error) {
	var gen int64
	if !s.observed {
		var err error
		if gen, err = s.cases.Count(ctx); err != nil {
			return nil, err
		}
	}
	s.mu.RLock()
	if s.ix == nil && s.building {
		s.mu.RUnlock()
		return nil, errorf(ErrBuilding, "the tracing index is still being built since the node started; try again in a moment")
	}
	stale := s.ix == nil || !s.observed && (gen != s.gen || (s.maxStale > 0 && s.now().Sub(s.builtAt) > s.maxStale))
	ix := s.ix
	s.mu.RUnlock()
	if !stale {
		return ix, nil
	}
	if err := s.Rebuild(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ix, nil
}

// lookup returns what the index knows of case id.
func (s *Service) lookup(id string) (caseMeta, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.meta[id]
	return m, ok
}

// forget removes a case from the index (it was found gone or without
// consent when read).
func (s *Service) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ix != nil {
		s.ix.Remove(id)
		delete(s.meta, id)
	}
}
