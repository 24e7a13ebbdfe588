package forms

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/cpx-node/cpx/crypto/features"
	"github.com/cpx-node/cpx/policy"
)

// FieldType is the kind of value a field holds.
type FieldType string

// Field types.
const (
	Text        FieldType = "text"         // one line of text
	TextArea    FieldType = "textarea"     // free text; may contain \n and \t
	Number      FieldType = "number"       // float64, optionally bounded by Min/Max
	Date        FieldType = "date"         // "YYYY-MM-DD"
	Select      FieldType = "select"       // one option id of Lookup
	MultiSelect FieldType = "multi_select" // option ids of Lookup
	TickBox     FieldType = "tick_box"     // bool
	LocationRef FieldType = "location"     // a Location code
	Subform     FieldType = "subform"      // rows of the nested form Field.Subform
)

// Default length limits (in characters) when Field.MaxLength is zero.
const (
	DefaultTextMaxLength     = 2000
	DefaultTextAreaMaxLength = 20000
)

// Option is one choice of a Lookup.
type Option struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// Lookup is a named list of options for select and multi_select fields.
type Lookup struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Options []Option `json:"options"`
}

// Location is one node of the administrative location hierarchy.
// AdminLevel 0 is a country; children have a higher level than their parent.
// A location is given by its Code (e.g. an OCHA P-code such as SO01) or by
// its ISO 3166-2 code (SO-BN), in any case and with or without hyphens.
type Location struct {
	Code       string `json:"code"`
	Parent     string `json:"parent,omitempty"`
	Name       string `json:"name"`
	AdminLevel int    `json:"admin_level"`
	// ISO is the ISO 3166-2 subdivision code, if any (e.g. "SO-BN").
	ISO string `json:"iso,omitempty"`
}

// Field is one field of a form.
type Field struct {
	Name     string    `json:"name"`
	Label    string    `json:"label"`
	Type     FieldType `json:"type"`
	Required bool      `json:"required,omitempty"`
	// Lookup is the id of the options list of a select or multi_select field.
	Lookup string `json:"lookup,omitempty"`
	// NotFuture rejects dates after the day of "now" (date fields).
	NotFuture bool `json:"not_future,omitempty"`
	// Min and Max bound number fields when set.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// MaxLength limits text and textarea fields, in characters. Zero means
	// DefaultTextMaxLength or DefaultTextAreaMaxLength.
	MaxLength int `json:"max_length,omitempty"`
	// Subform is the id of the nested form whose rows a subform field holds.
	Subform string `json:"subform,omitempty"`
	// ReadOnly fields are written by the node itself (e.g. the tracing
	// request a case was matched to, set by `cpx trace confirm`), never
	// by an update or an import.
	ReadOnly bool `json:"read_only,omitempty"`
	// Due marks a top-level date field as a due date: while it is set (and
	// the field DoneBy, if named, is empty) the case has a task due then,
	// in `cpx task list`.
	Due    bool   `json:"due,omitempty"`
	DoneBy string `json:"done_by,omitempty"`
	// Class says how much the field tells about a person: identifying,
	// sensitive or ordinary. Roles see the classes they name; a field
	// without a class is treated as identifying. A subform field's class
	// covers its rows.
	Class policy.FieldClass `json:"class,omitempty"`
}

// Form is a form section: a top-level form of the case record, or a nested
// form describing the rows of a subform field.
type Form struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Order  int     `json:"order"`
	Nested bool    `json:"nested,omitempty"`
	Fields []Field `json:"fields"`
}

// Config is a complete forms configuration. Configs returned by Standard,
// LoadDir and LoadFS are checked and indexed; do not modify them. A Config
// built or modified by hand must pass Check (which rebuilds the indexes)
// before it is used; until then lookups fall back to slow linear indexes.
type Config struct {
	Forms     []Form     `json:"forms"`
	Lookups   []Lookup   `json:"lookups"`
	Locations []Location `json:"locations"`

	ix  *index
	src map[string]string // form id → file it was loaded from (for messages)
}

// index holds the lookups Normalize and the accessors need.
type index struct {
	forms     map[string]int            // form id → position in Forms (first wins)
	fields    map[string]fieldRef       // top-level field name → where (first wins)
	lookups   map[string]map[string]int // lookup id → option id → position
	lookupPos map[string]int            // lookup id → position in Lookups
	locations map[string]int            // location code → position
	locKeys   map[string]int            // features.LocationCode of a code or ISO code → position
}

type fieldRef struct{ form, field int }

func (c *Config) buildIndex() *index {
	ix := &index{
		forms:     make(map[string]int, len(c.Forms)),
		fields:    make(map[string]fieldRef),
		lookups:   make(map[string]map[string]int, len(c.Lookups)),
		lookupPos: make(map[string]int, len(c.Lookups)),
		locations: make(map[string]int, len(c.Locations)),
		locKeys:   make(map[string]int, 2*len(c.Locations)),
	}
	for i, f := range c.Forms {
		if _, dup := ix.forms[f.ID]; !dup {
			ix.forms[f.ID] = i
		}
	}
	for i, f := range c.Forms {
		if f.Nested || ix.forms[f.ID] != i {
			continue
		}
		for j, fd := range f.Fields {
			if _, dup := ix.fields[fd.Name]; !dup {
				ix.fields[fd.Name] = fieldRef{i, j}
			}
		}
	}
	for i, l := range c.Lookups {
		if _, dup := ix.lookups[l.ID]; dup {
			continue
		}
		opts := make(map[string]int, len(l.Options))
		for j, o := range l.Options {
			if _, dup := opts[o.ID]; !dup {
				opts[o.ID] = j
			}
		}
		ix.lookups[l.ID] = opts
		ix.lookupPos[l.ID] = i
	}
	for i, l := range c.Locations {
		if _, dup := ix.locations[l.Code]; !dup {
			ix.locations[l.Code] = i
		}
	}
	for i, l := range c.Locations {
		for _, code := range []string{l.Code, l.ISO} {
			if k := features.LocationCode(code); k != "" {
				if _, dup := ix.locKeys[k]; !dup {
					ix.locKeys[k] = i
				}
			}
		}
	}
	return ix
}

// idx returns the index built by Check, or a fresh one when Check has not run.
func (c *Config) idx() *index {
	if c.ix != nil {
		return c.ix
	}
	return c.buildIndex()
}

// Form returns the form (top-level or nested) with the given id.
func (c *Config) Form(id string) (*Form, bool) {
	i, ok := c.idx().forms[id]
	if !ok {
		return nil, false
	}
	return &c.Forms[i], true
}

// TopForms returns the non-nested forms sorted by Order, then id.
func (c *Config) TopForms() []Form {
	var out []Form
	for _, f := range c.Forms {
		if !f.Nested {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b Form) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Field returns the top-level field with the given name, looked up across
// all non-nested forms, and the id of the form holding it.
func (c *Config) Field(name string) (Field, string, bool) {
	r, ok := c.idx().fields[name]
	if !ok {
		return Field{}, "", false
	}
	f := &c.Forms[r.form]
	return f.Fields[r.field], f.ID, true
}

// FieldClass returns the class of the top-level field name, for
// [policy.Role.Redact]: [policy.ClassIdentifying] when the field is
// unknown or unclassified.
func (c *Config) FieldClass(name string) policy.FieldClass {
	if c == nil {
		return policy.ClassIdentifying
	}
	f, _, ok := c.Field(name)
	if !ok || !f.Class.Valid() {
		return policy.ClassIdentifying
	}
	return f.Class
}

// Unclassified lists the fields (top-level and nested) without a class,
// as "form.field"; they are treated as identifying.
func (c *Config) Unclassified() []string {
	var out []string
	for _, f := range c.Forms {
		for _, fd := range f.Fields {
			if fd.Class == "" {
				out = append(out, f.ID+"."+fd.Name)
			}
		}
	}
	return out
}

//go:embed standard
var standardFS embed.FS

// standard parses the embedded files once; Standard hands out copies.
var standard = sync.OnceValues(func() (*Config, error) {
	sub, err := fs.Sub(standardFS, "standard")
	if err != nil {
		return nil, err
	}
	return overlay(&Config{}, sub)
})

// Standard returns a fresh copy of the embedded standard configuration
// (the files under node/forms/standard/, laid out as for LoadDir).
func Standard() *Config {
	c, err := standard()
	if err != nil {
		// The embedded files are checked by the tests.
		panic("forms: embedded standard config: " + err.Error())
	}
	return c.clone()
}

// clone returns a deep copy of c sharing nothing mutable with it.
func (c *Config) clone() *Config {
	d := &Config{
		Forms:     slices.Clone(c.Forms),
		Lookups:   slices.Clone(c.Lookups),
		Locations: slices.Clone(c.Locations),
		src:       maps.Clone(c.src),
	}
	for i := range d.Forms {
		d.Forms[i].Fields = slices.Clone(d.Forms[i].Fields)
		for j := range d.Forms[i].Fields {
			f := &d.Forms[i].Fields[j]
			if f.Min != nil {
				f.Min = new(*f.Min)
			}
			if f.Max != nil {
				f.Max = new(*f.Max)
			}
		}
	}
	for i := range d.Lookups {
		d.Lookups[i].Options = slices.Clone(d.Lookups[i].Options)
	}
	d.ix = d.buildIndex()
	return d
}

// LoadDir returns the standard configuration overridden from dir:
//
//   - dir/forms/*.json: one Form per file; a form with the id of a standard
//     form replaces it, a new id adds a form;
//   - dir/lookups.json: a JSON array of Lookup; the same id replaces, a new
//     id adds;
//   - dir/locations.json: a JSON array of Location that replaces all
//     locations when present.
//
// Every file is optional. The result has passed Check; the error lists
// every problem found, naming the file and field.
func LoadDir(dir string) (*Config, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("forms: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("forms: %s is not a directory", dir)
	}
	c, err := LoadFS(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("forms: load %s: %w", dir, err)
	}
	return c, nil
}

// LoadFS is LoadDir reading from fsys instead of a directory.
func LoadFS(fsys fs.FS) (*Config, error) {
	return overlay(Standard(), fsys)
}

// Files of a configuration directory.
const (
	formsGlob     = "forms/*.json"
	lookupsFile   = "lookups.json"
	locationsFile = "locations.json"
)

// maxFileSize bounds every configuration file read.
const maxFileSize = 8 << 20

// overlay applies the files of fsys on top of base (which it modifies) and
// checks the result.
func overlay(base *Config, fsys fs.FS) (*Config, error) {
	c := base
	if c.src == nil {
		c.src = make(map[string]string)
	}
	var errs []error
	names, err := fs.Glob(fsys, formsGlob)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	seen := make(map[string]string) // form id → file, within fsys
	for _, name := range names {
		data, err := readFile(fsys, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f, err := ParseForm(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if prev, dup := seen[f.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: form id %q also defined in %s", name, f.ID, prev))
			continue
		}
		seen[f.ID] = name
		c.src[f.ID] = name
		if i := slices.IndexFunc(c.Forms, func(g Form) bool { return g.ID == f.ID }); i >= 0 {
			c.Forms[i] = f
		} else {
			c.Forms = append(c.Forms, f)
		}
	}

	if data, err := readFile(fsys, lookupsFile); err == nil {
		var ls []Lookup
		if err := decodeStrict(data, &ls); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", lookupsFile, err))
		} else {
			inFile := make(map[string]bool)
			for _, l := range ls {
				if inFile[l.ID] {
					errs = append(errs, fmt.Errorf("%s: duplicate lookup id %q", lookupsFile, l.ID))
					continue
				}
				inFile[l.ID] = true
				if i := slices.IndexFunc(c.Lookups, func(g Lookup) bool { return g.ID == l.ID }); i >= 0 {
					c.Lookups[i] = l
				} else {
					c.Lookups = append(c.Lookups, l)
				}
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}

	if data, err := readFile(fsys, locationsFile); err == nil {
		var ls []Location
		if err := decodeStrict(data, &ls); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", locationsFile, err))
		} else {
			c.Locations = ls
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}

	if err := c.Check(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFileSize)
	}
	return data, nil
}

// ParseForm decodes the JSON of one form file. Unknown keys and trailing
// data are errors. The form is not checked against a Config.
func ParseForm(data []byte) (Form, error) {
	var f Form
	if err := decodeStrict(data, &f); err != nil {
		return Form{}, err
	}
	return f, nil
}

// decodeStrict decodes exactly one JSON value into v, rejecting unknown
// object keys and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// source names the file a form came from, for messages.
func (c *Config) source(formID string) string {
	return c.src[formID]
}
