package command

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/types/known/structpb"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func caseCommand() *cli.Command {
	setFlag := &cli.StringSliceFlag{
		Name: "set",
		Usage: "set a field: `field=value` sends the value as a string (the node converts it to the field's type);\n" +
			"\tfield:=JSON sends a JSON value (field:=3, field:=true, field:=null to clear, field:='[\"a\",\"b\"]'). Repeatable",
	}
	fileFlag := &cli.StringFlag{Name: "file", Usage: "read fields from `FILE`, a JSON object of field names to values; --set applies after it"}
	return &cli.Command{
		Name:  "case",
		Usage: "create, read, update, close, import and export case files",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "create a case from --set fields or a JSON file",
				Description: "Creates a case with fields entered on form FORM. Fields come from --file\n" +
					"(a JSON object) and/or --set; the node validates them against the form.\n\n" +
					"Examples:\n" +
					"   cpx case create --set name=Amina --set age=12 --set sex=female\n" +
					"   cpx case create --set 'languages:=[\"en\",\"fr\"]' --set consent_for_services:=true\n" +
					"   cpx case create --file case.json --form registration",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "form", Value: "registration", Usage: "the `FORM` the fields are entered on"},
					setFlag, fileFlag,
				}, clientFlags()...),
				Action: runCaseCreate,
			},
			{
				Name:      "get",
				Usage:     "show a case",
				ArgsUsage: "ID",
				Description: "Shows case ID (a case id or a case number): its core attributes, consent and\n" +
					"the form fields your role may see.\n\n" +
					"Example:\n   cpx case get CP-2025-0001",
				Flags:  clientFlags(),
				Action: runCaseGet,
			},
			{
				Name:  "list",
				Usage: "list cases, optionally filtered",
				Description: "Lists the cases you may read, most recent first as the node orders them.\n\n" +
					"Example:\n   cpx case list --status open --owner amina --query kibera --limit 50",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "status", Usage: "only cases with this `STATUS` (e.g. open, closed)"},
					&cli.StringFlag{Name: "owner", Usage: "only cases owned by `USER`"},
					&cli.StringFlag{Name: "assigned-to", Usage: "only cases assigned to `USER` (me: yourself)"},
					&cli.StringFlag{Name: "query", Usage: "a case number, or `WORDS` that must all be in the case's text fields (whole words, any case and accents)"},
					&cli.IntFlag{Name: "limit", Usage: "at most `N` cases (0: the node's default)"},
				}, clientFlags()...),
				Action: runCaseList,
			},
			{
				Name:      "update",
				Usage:     "change fields of a case",
				ArgsUsage: "ID",
				Description: "Sets fields of case ID. A JSON null (--set field:=null) clears a field. With\n" +
					"--expected-version N the update fails if someone else changed the case since\n" +
					"you read version N.\n\n" +
					"Example:\n   cpx case update CP-2025-0001 --set risk_level=high --expected-version 3",
				Flags: append([]cli.Flag{
					setFlag, fileFlag,
					&cli.Int64Flag{Name: "expected-version", Usage: "fail unless the case is at version `N`"},
				}, clientFlags()...),
				Action: runCaseUpdate,
			},
			{
				Name:      "close",
				Usage:     "close a case with a reason",
				ArgsUsage: "ID",
				Description: "Closes case ID. The reason is required and kept with the case.\n\n" +
					"Example:\n   cpx case close CP-2025-0001 --reason \"reunified with family\"",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "reason", Usage: "why the case is closed (required)"},
				}, clientFlags()...),
				Action: runCaseClose,
			},
			{
				Name:      "history",
				Usage:     "show the versions of a case",
				ArgsUsage: "ID",
				Description: "Lists every version of case ID: when, who, what action and which fields\n" +
					"changed (not their values).\n\n" +
					"Example:\n   cpx case history CP-2025-0001",
				Flags:  clientFlags(),
				Action: runCaseHistory,
			},
			casePurgeCommand(),
			caseImportCommand(),
			caseExportCommand(),
			caseReferCommand(),
			caseTransferCommand(),
			caseMatchCommand(),
			caseAssignCommand(),
			caseWorkCommand(),
			caseApprovalCommand(),
			caseFlagCommand(),
			caseUnflagCommand("unflag"),
			caseUnflagCommand("resolve"),
		},
	}
}

func runCaseCreate(c *cli.Context) error {
	var fields *structpb.Struct
	return callWith(c, 0, 0, func([]string) error {
		if c.String("file") == "" && len(c.StringSlice("set")) == 0 {
			return usageErrorf("no fields: pass --set field=value or --file FILE (see cpx case create --help)")
		}
		if c.String("form") == "" {
			return usageErrorf("--form must not be empty")
		}
		var err error
		fields, err = caseFields(c.String("file"), c.StringSlice("set"))
		return err
	}, func(cn *conn, _ []string) (*connect.Response[localv1.CreateCaseResponse], error) {
		return cn.Cases.CreateCase(c.Context, connect.NewRequest(&localv1.CreateCaseRequest{Form: c.String("form"), Fields: fields}))
	}, func(w io.Writer, r *localv1.CreateCaseResponse) error {
		k := r.GetCase()
		_, err := fmt.Fprintf(w, "created case %s (id %s, version %d)\n", k.GetCaseNumber(), k.GetId(), k.GetVersion())
		return err
	}, nil)
}

func runCaseGet(c *cli.Context) error {
	return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.GetCaseResponse], error) {
		return cn.Cases.GetCase(c.Context, connect.NewRequest(&localv1.GetCaseRequest{Id: a[0]}))
	}, func(w io.Writer, r *localv1.GetCaseResponse) error { return printCase(w, r.GetCase()) })
}

// printCase writes one case as "key: value" lines followed by its fields.
func printCase(w io.Writer, k *localv1.Case) error {
	tw := newTable(w)
	row(tw, "id:", k.GetId())
	row(tw, "case number:", k.GetCaseNumber())
	row(tw, "status:", k.GetStatus())
	if k.GetCloseReason() != "" {
		row(tw, "close reason:", k.GetCloseReason())
	}
	row(tw, "workflow stage:", k.GetWorkflowStage())
	row(tw, "risk level:", k.GetRiskLevel())
	row(tw, "owner:", k.GetOwner())
	row(tw, "owner group:", k.GetOwnerGroup())
	row(tw, "agency:", k.GetAgency())
	row(tw, "created:", ts(k.GetCreatedAt()))
	row(tw, "updated:", ts(k.GetUpdatedAt()))
	row(tw, "version:", strconv.FormatInt(k.GetVersion(), 10))
	if cs := k.GetConsent(); cs != nil {
		row(tw, "consent:", fmt.Sprintf("services=%t other orgs=%t tracing=%t", cs.GetConsentForServices(), cs.GetDisclosureOtherOrgs(), cs.GetConsentForTracing()))
		if cs.GetInterviewSubject() != "" {
			row(tw, "interview subject:", cs.GetInterviewSubject())
		}
		if len(cs.GetWithholdingReasons()) > 0 {
			row(tw, "withholding reasons:", strings.Join(cs.GetWithholdingReasons(), ", "))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fields := k.GetFields().GetFields()
	if len(fields) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "FIELD", "VALUE")
	for _, name := range sortedKeys(fields) {
		row(tw, name, valueText(fields[name]))
	}
	return tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func runCaseList(c *cli.Context) error {
	return callWith(c, 0, 0, func([]string) error {
		if limit := c.Int("limit"); limit < 0 || limit > 1<<31-1 {
			return usageErrorf("--limit must be between 0 and %d", 1<<31-1)
		}
		return nil
	}, func(cn *conn, _ []string) (*connect.Response[localv1.ListCasesResponse], error) {
		return cn.Cases.ListCases(c.Context, connect.NewRequest(&localv1.ListCasesRequest{
			Status: c.String("status"), Owner: c.String("owner"), Query: c.String("query"), Limit: int32(c.Int("limit")),
			AssignedTo: c.String("assigned-to"),
		}))
	}, func(w io.Writer, r *localv1.ListCasesResponse) error {
		tw := newTable(w)
		row(tw, "CASE NUMBER", "STATUS", "STAGE", "RISK", "OWNER", "UPDATED", "VERSION", "ID")
		for _, k := range r.GetCases() {
			row(tw, k.GetCaseNumber(), k.GetStatus(), k.GetWorkflowStage(), k.GetRiskLevel(), k.GetOwner(),
				ts(k.GetUpdatedAt()), strconv.FormatInt(k.GetVersion(), 10), k.GetId())
		}
		return tw.Flush()
	}, nil)
}

func runCaseUpdate(c *cli.Context) error {
	var fields *structpb.Struct
	return callWith(c, 1, 1, func([]string) error {
		if c.String("file") == "" && len(c.StringSlice("set")) == 0 {
			return usageErrorf("nothing to update: pass --set field=value or --file FILE (see cpx case update --help)")
		}
		if c.Int64("expected-version") < 0 {
			return usageErrorf("--expected-version must not be negative")
		}
		var err error
		fields, err = caseFields(c.String("file"), c.StringSlice("set"))
		return err
	}, func(cn *conn, a []string) (*connect.Response[localv1.UpdateCaseResponse], error) {
		return cn.Cases.UpdateCase(c.Context, connect.NewRequest(&localv1.UpdateCaseRequest{
			Id: a[0], Fields: fields, ExpectedVersion: c.Int64("expected-version"),
		}))
	}, func(w io.Writer, r *localv1.UpdateCaseResponse) error {
		k := r.GetCase()
		_, err := fmt.Fprintf(w, "updated case %s (id %s) to version %d\n", k.GetCaseNumber(), k.GetId(), k.GetVersion())
		return err
	}, nil)
}

func runCaseClose(c *cli.Context) error {
	return callWith(c, 1, 1, func([]string) error {
		if strings.TrimSpace(c.String("reason")) == "" {
			return usageErrorf("--reason is required: say why the case is closed (see cpx case close --help)")
		}
		return nil
	}, func(cn *conn, a []string) (*connect.Response[localv1.CloseCaseResponse], error) {
		return cn.Cases.CloseCase(c.Context, connect.NewRequest(&localv1.CloseCaseRequest{Id: a[0], Reason: c.String("reason")}))
	}, func(w io.Writer, r *localv1.CloseCaseResponse) error {
		k := r.GetCase()
		_, err := fmt.Fprintf(w, "closed case %s (id %s, version %d)\n", k.GetCaseNumber(), k.GetId(), k.GetVersion())
		return err
	}, nil)
}

func runCaseHistory(c *cli.Context) error {
	return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.CaseHistoryResponse], error) {
		return cn.Cases.CaseHistory(c.Context, connect.NewRequest(&localv1.CaseHistoryRequest{Id: a[0]}))
	}, func(w io.Writer, r *localv1.CaseHistoryResponse) error {
		tw := newTable(w)
		row(tw, "VERSION", "AT", "ACTOR", "ACTION", "CHANGED FIELDS")
		for _, v := range r.GetVersions() {
			row(tw, strconv.FormatInt(v.GetVersion(), 10), ts(v.GetAt()), v.GetActor(), v.GetAction(), strings.Join(v.GetChangedFields(), ", "))
		}
		return tw.Flush()
	})
}
