package command

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	"github.com/cpx-node/cpx/node/forms"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func formsCommand() *cli.Command {
	return &cli.Command{
		Name:  "forms",
		Usage: "show and check forms configurations",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list the forms a running node uses",
				Description: "Lists the node's top-level forms with their number of fields.\n\n" +
					"Example:\n   cpx forms list --dir ./node",
				Flags:  clientFlags(),
				Action: runFormsList,
			},
			{
				Name:      "show",
				Usage:     "show a form's fields, their types and option lists",
				ArgsUsage: "FORM|LOOKUP",
				Description: "Lists the fields of FORM (a top-level or nested form) with their type,\n" +
					"whether they are required, their label and what values they take, then\n" +
					"the options of every option list the form uses. Given the id of an\n" +
					"option list instead (e.g. sex), lists its options. Fields your role may\n" +
					"not see are left out. -o json prints a ListFormsResponse holding the form\n" +
					"and its option lists.\n\n" +
					"Example:\n   cpx forms show registration\n   cpx forms show protection_concern",
				Flags:  clientFlags(),
				Action: runFormsShow,
			},
			{
				Name:  "locations",
				Usage: "look up location codes",
				Description: "Lists the node's locations: code, ISO 3166-2 code, level, name and\n" +
					"enclosing location. --search keeps those whose code or ISO code begins\n" +
					"with TEXT (case and hyphens ignored: so-bn is SO-BN) or whose name\n" +
					"contains it; --level keeps one administrative level (0 for countries).\n" +
					"A location field takes the code or the ISO code. -o json prints a\n" +
					"ListFormsResponse holding the locations found.\n\n" +
					"Example:\n   cpx forms locations --search Hargeisa\n   cpx forms locations --level 1",
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "search", Usage: "keep locations whose code begins with or whose name contains `TEXT`"},
					&cli.IntFlag{Name: "level", Usage: "keep one administrative `LEVEL` (0: countries)", Value: -1},
				),
				Action: runFormsLocations,
			},
			{
				Name:      "validate",
				Usage:     "check a forms configuration directory (no node needed)",
				ArgsUsage: "DIR",
				Description: "Loads the forms configuration in DIR (forms/*.json, lookups.json,\n" +
					"locations.json, applied over the standard forms) and checks it. Prints\n" +
					"\"ok: N forms, M fields\", or every problem found and exits with code 1.\n" +
					"A field without a class (identifying, sensitive, ordinary) is reported\n" +
					"as a warning on standard error: it is treated as identifying.\n\n" +
					"Example:\n   cpx forms validate ./node/forms",
				Action: runFormsValidate,
			},
		},
	}
}

func runFormsList(c *cli.Context) error {
	return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.ListFormsResponse], error) {
		return cn.Forms.ListForms(c.Context, connect.NewRequest(&localv1.ListFormsRequest{}))
	}, func(w io.Writer, r *localv1.ListFormsResponse) error {
		tw := newTable(w)
		row(tw, "ID", "NAME", "FIELDS")
		for _, f := range r.GetForms() {
			row(tw, f.GetId(), f.GetName(), strconv.Itoa(int(f.GetFields())))
		}
		return tw.Flush()
	})
}

// runFormsShow prints, and with -o json answers, a ListFormsResponse
// holding only the form asked for and the option lists it uses, or only
// the option list asked for.
func runFormsShow(c *cli.Context) error {
	return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.ListFormsResponse], error) {
		resp, err := cn.Forms.ListForms(c.Context, connect.NewRequest(&localv1.ListFormsRequest{Details: true}))
		if err != nil {
			return nil, err
		}
		one, err := formOrLookup(resp.Msg, a[0])
		if err != nil {
			return nil, err
		}
		return connect.NewResponse(one), nil
	}, func(w io.Writer, r *localv1.ListFormsResponse) error {
		if f := r.GetForms(); len(f) > 0 {
			return printForm(w, f[0], r.GetLookups())
		}
		if f := r.GetSubforms(); len(f) > 0 {
			return printForm(w, f[0], r.GetLookups())
		}
		return printLookup(w, r.GetLookups()[0])
	})
}

// formOrLookup returns the form id of all (top-level or nested) with the
// option lists it uses, or else the option list id.
func formOrLookup(all *localv1.ListFormsResponse, id string) (*localv1.ListFormsResponse, error) {
	lookups := make(map[string]*localv1.FormLookup, len(all.GetLookups()))
	for _, l := range all.GetLookups() {
		lookups[l.GetId()] = l
	}
	var form *localv1.Form
	for _, f := range append(slices.Clone(all.GetForms()), all.GetSubforms()...) {
		if f.GetId() == id {
			form = f
			break
		}
	}
	if form == nil {
		l, ok := lookups[id]
		if !ok {
			var ids []string
			for _, f := range all.GetForms() {
				ids = append(ids, f.GetId())
			}
			return nil, &exitError{code: ExitNotFound, err: fmt.Errorf("no form or option list %q; the forms are %s (cpx forms list)", id, strings.Join(ids, ", "))}
		}
		return &localv1.ListFormsResponse{Lookups: []*localv1.FormLookup{l}}, nil
	}
	var used []*localv1.FormLookup
	seen := make(map[string]bool)
	for _, f := range form.GetFieldDefs() {
		if l, ok := lookups[f.GetLookup()]; ok && !seen[l.GetId()] {
			seen[l.GetId()] = true
			used = append(used, l)
		}
	}
	out := &localv1.ListFormsResponse{Lookups: used}
	if form.GetNested() {
		out.Subforms = []*localv1.Form{form}
	} else {
		out.Forms = []*localv1.Form{form}
	}
	return out, nil
}

// printForm lists the fields of form, then the options of the option
// lists it uses.
func printForm(w io.Writer, form *localv1.Form, used []*localv1.FormLookup) error {
	kind := "form"
	if form.GetNested() {
		kind = "nested form (the rows of a subform field)"
	}
	fmt.Fprintf(w, "%s: %s, %s, %d fields\n\n", form.GetId(), form.GetName(), kind, len(form.GetFieldDefs()))
	tw := newTable(w)
	row(tw, "FIELD", "TYPE", "REQUIRED", "LABEL", "VALUES")
	for _, f := range form.GetFieldDefs() {
		req := ""
		if f.GetRequired() {
			req = "yes"
		}
		row(tw, f.GetName(), f.GetType(), req, f.GetLabel(), fieldValues(f))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range used {
		fmt.Fprintln(w)
		if err := printLookup(w, l); err != nil {
			return err
		}
	}
	return nil
}

// fieldValues says in a few words what values field f takes.
func fieldValues(f *localv1.FormField) string {
	var parts []string
	switch f.GetType() {
	case "select":
		parts = append(parts, "one option of "+f.GetLookup())
	case "multi_select":
		parts = append(parts, "options of "+f.GetLookup()+", comma-separated")
	case "number":
		switch {
		case f.Min != nil && f.Max != nil:
			parts = append(parts, fmt.Sprintf("%v to %v", f.GetMin(), f.GetMax()))
		case f.Min != nil:
			parts = append(parts, fmt.Sprintf("at least %v", f.GetMin()))
		case f.Max != nil:
			parts = append(parts, fmt.Sprintf("at most %v", f.GetMax()))
		}
	case "date":
		parts = append(parts, "YYYY-MM-DD")
		if f.GetNotFuture() {
			parts = append(parts, "not after today")
		}
	case "tick_box":
		parts = append(parts, "true/false, yes/no or 1/0")
	case "location":
		parts = append(parts, "a location code (cpx forms locations)")
	case "subform":
		parts = append(parts, "rows of "+f.GetSubform()+" (cpx forms show "+f.GetSubform()+")")
	case "text", "textarea":
		if f.GetMaxLength() > 0 {
			parts = append(parts, fmt.Sprintf("at most %d characters", f.GetMaxLength()))
		}
	}
	if f.GetReadOnly() {
		parts = append(parts, "set by the node")
	}
	return strings.Join(parts, ", ")
}

// printLookup lists the options of l.
func printLookup(w io.Writer, l *localv1.FormLookup) error {
	fmt.Fprintf(w, "options of %s (%s):\n", l.GetId(), l.GetName())
	tw := newTable(w)
	for _, o := range l.GetOptions() {
		row(tw, "  "+o.GetId(), o.GetLabel())
	}
	return tw.Flush()
}

// runFormsLocations prints, and with -o json answers, a ListFormsResponse
// holding only the locations found.
func runFormsLocations(c *cli.Context) error {
	var byCode map[string]forms.Location // every location, to name the enclosing ones
	return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.ListFormsResponse], error) {
		resp, err := cn.Forms.ListForms(c.Context, connect.NewRequest(&localv1.ListFormsRequest{IncludeLocations: true}))
		if err != nil {
			return nil, err
		}
		all := make([]forms.Location, 0, len(resp.Msg.GetLocations()))
		byCode = make(map[string]forms.Location, len(resp.Msg.GetLocations()))
		for _, l := range resp.Msg.GetLocations() {
			fl := forms.Location{Code: l.GetCode(), Parent: l.GetParent(), Name: l.GetName(), AdminLevel: int(l.GetAdminLevel()), ISO: l.GetIso()}
			all = append(all, fl)
			byCode[fl.Code] = fl
		}
		found := forms.SearchLocations(all, c.String("search"))
		if level := c.Int("level"); level >= 0 {
			found = slices.DeleteFunc(found, func(l forms.Location) bool { return l.AdminLevel != level })
		}
		out := &localv1.ListFormsResponse{Locations: []*localv1.FormLocation{}}
		for _, l := range found {
			out.Locations = append(out.Locations, &localv1.FormLocation{Code: l.Code, Parent: l.Parent, Name: l.Name, AdminLevel: int32(l.AdminLevel), Iso: l.ISO})
		}
		return connect.NewResponse(out), nil
	}, func(w io.Writer, r *localv1.ListFormsResponse) error {
		if len(r.GetLocations()) == 0 {
			fmt.Fprintln(c.App.ErrWriter, "no location matches")
			return nil
		}
		tw := newTable(w)
		row(tw, "CODE", "ISO", "LEVEL", "NAME", "IN")
		for _, l := range r.GetLocations() {
			row(tw, l.GetCode(), l.GetIso(), strconv.Itoa(int(l.GetAdminLevel())), l.GetName(), locationPath(byCode, l.GetParent()))
		}
		return tw.Flush()
	})
}

// locationPath names the location code and its ancestors, innermost first:
// "Woqooyi Galbeed, Somalia".
func locationPath(byCode map[string]forms.Location, code string) string {
	var names []string
	for seen := 0; code != "" && seen < 16; seen++ {
		l, ok := byCode[code]
		if !ok {
			names = append(names, code)
			break
		}
		names = append(names, l.Name)
		code = l.Parent
	}
	return strings.Join(names, ", ")
}

func runFormsValidate(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	dir := a[0]
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	cfg, err := forms.LoadDir(dir)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "forms: load "+dir+": ")
		lines := strings.Split(strings.TrimSpace(msg), "\n")
		return fmt.Errorf("%s is not valid (%d problems):\n  %s", dir, len(lines), strings.Join(lines, "\n  "))
	}
	top := cfg.TopForms()
	fields := 0
	for _, f := range top {
		fields += len(f.Fields)
	}
	for _, f := range cfg.Unclassified() {
		fmt.Fprintf(c.App.ErrWriter, "warning: field %s has no class; it is treated as identifying\n", f)
	}
	fmt.Fprintf(c.App.Writer, "ok: %d forms, %d fields\n", len(top), fields)
	return nil
}
