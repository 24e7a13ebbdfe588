package forms

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/cpx-node/cpx/crypto/features"
)

var (
	// namePattern is the syntax of field, form and lookup ids.
	namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	// codePattern is the syntax of option ids and location codes.
	codePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)
)

// reserved are record attributes owned by the case model, not by forms.
var reserved = map[string]bool{
	"id": true, "case_number": true, "status": true, "workflow_stage": true,
	"owner": true, "owner_group": true, "agency": true, "created_at": true,
	"updated_at": true, "version": true, "close_reason": true,
}

// IsReserved reports whether name is a record attribute that no form field
// may use.
func IsReserved(name string) bool { return reserved[name] }

var knownTypes = map[FieldType]bool{
	Text: true, TextArea: true, Number: true, Date: true, Select: true,
	MultiSelect: true, TickBox: true, LocationRef: true, Subform: true,
}

// Check verifies the consistency of the configuration and rebuilds the
// indexes used by Form, Field and Normalize. The error joins one error per
// problem, each naming the form (and its file when loaded from one), field,
// lookup or location concerned.
func (c *Config) Check() error {
	ix := c.buildIndex()
	var errs []error
	problem := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	formSeen := make(map[string]bool)
	topField := make(map[string]string) // field name → form id
	for _, f := range c.Forms {
		where := fmt.Sprintf("form %q", f.ID)
		if s := c.source(f.ID); s != "" {
			where += " (" + s + ")"
		}
		if !namePattern.MatchString(f.ID) {
			problem("%s: id must match %s", where, namePattern)
		}
		if formSeen[f.ID] {
			problem("%s: duplicate form id", where)
			continue
		}
		formSeen[f.ID] = true
		if f.Name == "" {
			problem("%s: missing name", where)
		}
		inForm := make(map[string]bool)
		for _, fd := range f.Fields {
			fw := fmt.Sprintf("%s: field %q", where, fd.Name)
			switch {
			case !namePattern.MatchString(fd.Name):
				problem("%s: name must match %s", fw, namePattern)
			case reserved[fd.Name]:
				problem("%s: name is reserved for the case record", fw)
			}
			if inForm[fd.Name] {
				problem("%s: duplicate field name in form", fw)
			} else if other, dup := topField[fd.Name]; dup && !f.Nested {
				problem("%s: field name also used in form %q", fw, other)
			}
			inForm[fd.Name] = true
			if !f.Nested {
				if _, dup := topField[fd.Name]; !dup {
					topField[fd.Name] = f.ID
				}
			}
			c.checkField(fw, f, fd, ix, problem)
		}
	}

	lookupSeen := make(map[string]bool)
	for _, l := range c.Lookups {
		where := fmt.Sprintf("lookup %q", l.ID)
		if !namePattern.MatchString(l.ID) {
			problem("%s: id must match %s", where, namePattern)
		}
		if lookupSeen[l.ID] {
			problem("%s: duplicate lookup id", where)
			continue
		}
		lookupSeen[l.ID] = true
		if len(l.Options) == 0 {
			problem("%s: no options", where)
		}
		optSeen := make(map[string]bool)
		for _, o := range l.Options {
			if !codePattern.MatchString(o.ID) {
				problem("%s: option id %q must match %s", where, o.ID, codePattern)
			}
			if optSeen[o.ID] {
				problem("%s: duplicate option id %q", where, o.ID)
			}
			optSeen[o.ID] = true
		}
	}

	locSeen := make(map[string]bool)
	keySeen := make(map[string]string) // features.LocationCode → the code it belongs to
	for _, l := range c.Locations {
		where := fmt.Sprintf("location %q", l.Code)
		if !codePattern.MatchString(l.Code) {
			problem("%s: code must match %s", where, codePattern)
		}
		if l.ISO != "" && !codePattern.MatchString(l.ISO) {
			problem("%s: iso code %q must match %s", where, l.ISO, codePattern)
		}
		for _, code := range []string{l.Code, l.ISO} {
			k := features.LocationCode(code)
			if k == "" {
				continue
			}
			if other, dup := keySeen[k]; dup && other != l.Code {
				problem("%s: %q reads the same as location %q (codes are compared without case and hyphens)", where, code, other)
			}
			keySeen[k] = l.Code
		}
		if locSeen[l.Code] {
			problem("%s: duplicate location code", where)
			continue
		}
		locSeen[l.Code] = true
		if l.AdminLevel < 0 {
			problem("%s: negative admin_level %d", where, l.AdminLevel)
		}
		if l.Parent == "" {
			continue
		}
		pi, ok := ix.locations[l.Parent]
		if !ok {
			problem("%s: unknown parent %q", where, l.Parent)
			continue
		}
		if p := c.Locations[pi]; p.AdminLevel >= l.AdminLevel {
			// Strictly increasing levels also rule out parent cycles.
			problem("%s: admin_level %d not greater than parent %q's %d", where, l.AdminLevel, p.Code, p.AdminLevel)
		}
	}

	c.ix = ix
	return errors.Join(errs...)
}

func (c *Config) checkField(fw string, f Form, fd Field, ix *index, problem func(string, ...any)) {
	if !knownTypes[fd.Type] {
		problem("%s: unknown type %q", fw, fd.Type)
		return
	}
	switch fd.Type {
	case Select, MultiSelect:
		if fd.Lookup == "" {
			problem("%s: %s field without lookup", fw, fd.Type)
		} else if _, ok := ix.lookups[fd.Lookup]; !ok {
			problem("%s: unknown lookup %q", fw, fd.Lookup)
		}
	default:
		if fd.Lookup != "" {
			problem("%s: lookup set on %s field", fw, fd.Type)
		}
	}
	if fd.Type == Subform {
		if f.Nested {
			problem("%s: subform inside nested form (subforms do not nest)", fw)
		}
		if fd.Subform == "" {
			problem("%s: subform field without subform id", fw)
		} else if i, ok := ix.forms[fd.Subform]; !ok {
			problem("%s: unknown subform %q", fw, fd.Subform)
		} else if !c.Forms[i].Nested {
			problem("%s: subform %q is not a nested form", fw, fd.Subform)
		}
	} else if fd.Subform != "" {
		problem("%s: subform set on %s field", fw, fd.Type)
	}
	if fd.Type == Number {
		if fd.Min != nil && fd.Max != nil && *fd.Min > *fd.Max {
			problem("%s: min %v greater than max %v", fw, *fd.Min, *fd.Max)
		}
	} else if fd.Min != nil || fd.Max != nil {
		problem("%s: min/max set on %s field", fw, fd.Type)
	}
	if fd.MaxLength < 0 {
		problem("%s: negative max_length", fw)
	} else if fd.MaxLength > 0 && fd.Type != Text && fd.Type != TextArea {
		problem("%s: max_length set on %s field", fw, fd.Type)
	}
	if fd.NotFuture && fd.Type != Date {
		problem("%s: not_future set on %s field", fw, fd.Type)
	}
	if fd.Due && fd.Type != Date {
		problem("%s: due set on %s field", fw, fd.Type)
	}
	if fd.DoneBy != "" && !fd.Due {
		problem("%s: done_by set without due", fw)
	}
	if fd.Class != "" && !fd.Class.Valid() {
		problem("%s: unknown class %q (identifying, sensitive or ordinary)", fw, fd.Class)
	}
}
