package command

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	"github.com/cpx-node/cpx/policy"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "apply, sign, show and check information-sharing protocols (ISPs)",
		Description: "An ISP is a TOML document (docs/isp.md) signed by every agency it binds. The\n" +
			"workflow: one party drafts it, each party signs the same file in turn with\n" +
			"cpx policy sign FILE and passes it on, and each node applies the fully\n" +
			"signed file with cpx policy apply FILE. A node sends and accepts only what an\n" +
			"ISP in force allows.",
		Subcommands: []*cli.Command{
			{
				Name:      "apply",
				Usage:     "store an ISP document on the node",
				ArgsUsage: "FILE",
				Description: "Puts the ISP document FILE in force on the node. The node refuses it, and\n" +
					"changes nothing, unless every party has signed it, every signature verifies\n" +
					"with the keys the node knows, and its validity period has begun; cpx then\n" +
					"exits with 1 and says which party has not signed or whose signature does\n" +
					"not verify. The version in force stays in force until a newer one\n" +
					"verifies; an older version than the one in force is refused. With\n" +
					"--dry-run the node only says what would change and whether it would be\n" +
					"refused (exit 1 if so).\n\n" +
					"Examples:\n   cpx policy apply so-cp-isp.toml --dry-run\n   cpx policy apply so-cp-isp.toml --dir ./node",
				Flags: append([]cli.Flag{
					&cli.BoolFlag{Name: "dry-run", Usage: "say what applying FILE would change, and whether it would be refused; change nothing"},
				}, clientFlags()...),
				Action: runPolicyApply,
			},
			{
				Name:  "list",
				Usage: "list the ISPs stored on the node",
				Description: "Lists every ISP the node holds: id, version, title, signatures, whether it\n" +
					"is in force and, if not, why.\n\n" +
					"Example:\n   cpx policy list --dir ./node",
				Flags:  clientFlags(),
				Action: runPolicyList,
			},
			{
				Name:      "show",
				Usage:     "show an ISP, or print its document with --document",
				ArgsUsage: "ID",
				Description: "Shows ISP ID: version, title, parties, purposes, who has signed, validity\n" +
					"and whether it is in force. With --document it prints the TOML document\n" +
					"as the node holds it instead.\n\n" +
					"Examples:\n   cpx policy show so-cp-isp\n   cpx policy show so-cp-isp --document > so-cp-isp.toml",
				Flags: append([]cli.Flag{
					&cli.BoolFlag{Name: "document", Usage: "print the ISP's TOML document instead of the summary"},
				}, clientFlags()...),
				Action: runPolicyShow,
			},
			{
				Name:      "sign",
				Usage:     "add this agency's signature to an ISP document",
				ArgsUsage: "FILE",
				Description: "Sends the ISP document FILE to the node, which signs it with the agency's\n" +
					"signing key (the party's signing_key must be the fingerprint cpx node id\n" +
					"prints). The signed document replaces FILE (written under a temporary name\n" +
					"and renamed), or goes to --out FILE (- for stdout). cpx then says which\n" +
					"parties have signed so far and which have not. Signing does not apply the\n" +
					"ISP: run cpx policy apply once every party has signed.\n\n" +
					"Examples:\n   cpx policy sign so-cp-isp.toml\n   cpx policy sign draft.toml --out signed.toml",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "out", Usage: "write the signed document to `FILE` instead of replacing the input (- for stdout)"},
				}, clientFlags()...),
				Action: runPolicySign,
			},
			{
				Name:  "check",
				Usage: "dry-run a referral or transfer of a case against the ISPs in force",
				Description: "Asks the node whether case ID may be sent to agency AGENCY for the purpose\n" +
					"(referral or transfer), without sending anything, and which fields would be\n" +
					"sent, withheld or are not allowed, with the reason for each. Exits with 1\n" +
					"if the exchange would be refused.\n\n" +
					"Example:\n   cpx policy check --case CP-2025-0001 --to irc-so --purpose referral",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "case", Usage: "the case `ID` or case number (required)"},
					&cli.StringFlag{Name: "to", Usage: "the receiving `AGENCY` (required)"},
					&cli.StringFlag{Name: "purpose", Usage: "`PURPOSE`: referral or transfer (required)"},
					&cli.BoolFlag{Name: "override-consent", Usage: "check as if sending without the required consent (only roles the ISP names may)"},
				}, clientFlags()...),
				Action: runPolicyCheck,
			},
		},
	}
}

// readISP reads an ISP document, refusing files the node would refuse for
// their size alone.
func readISP(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, policy.MaxISPSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > policy.MaxISPSize {
		return nil, fmt.Errorf("%s is larger than an ISP document may be (%d bytes)", path, policy.MaxISPSize)
	}
	return b, nil
}

func runPolicyApply(c *cli.Context) error {
	var file string
	var doc []byte
	return callWith(c, 1, 1, func(a []string) error {
		var err error
		file = a[0]
		doc, err = readISP(file)
		return err
	}, func(cn *conn, _ []string) (*connect.Response[localv1.ApplyPolicyResponse], error) {
		return cn.Fed.ApplyPolicy(c.Context, connect.NewRequest(&localv1.ApplyPolicyRequest{Document: doc, DryRun: c.Bool("dry-run")}))
	}, func(w io.Writer, m *localv1.ApplyPolicyResponse) error {
		p, dry := m.GetPolicy(), c.Bool("dry-run")
		switch {
		case dry && m.GetRefusal() != "":
			fmt.Fprintf(w, "dry run: ISP %s version %d would be refused; nothing changed\n", p.GetId(), p.GetVersion())
		case dry:
			fmt.Fprintf(w, "dry run: ISP %s version %d would be applied; nothing changed\n", p.GetId(), p.GetVersion())
		default:
			fmt.Fprintf(w, "applied ISP %s version %d\n", p.GetId(), p.GetVersion())
		}
		tw := newTable(w)
		if prev := m.GetPrevious(); prev != nil {
			row(tw, "applied before:", fmt.Sprintf("version %d, in force: %s", prev.GetVersion(), inForce(prev)))
		} else {
			row(tw, "applied before:", "none")
		}
		row(tw, "in force:", inForce(p))
		signatureRows(tw, p)
		if err := tw.Flush(); err != nil {
			return err
		}
		if ch := m.GetChanges(); len(ch) > 0 {
			fmt.Fprintln(w, "changes:")
			for _, l := range ch {
				fmt.Fprintln(w, "  "+l)
			}
		} else if m.GetPrevious() != nil {
			fmt.Fprintln(w, "changes: none (the same agreement as applied)")
		}
		return nil
	}, func(m *localv1.ApplyPolicyResponse) error {
		if r := m.GetRefusal(); r != "" {
			return fmt.Errorf("applying %s would be refused: %s", file, r)
		}
		return nil
	})
}

// signatureRows writes who has signed (with a signature that verifies),
// who has not, and the signatures that do not count.
func signatureRows(tw *tabwriter.Writer, p *localv1.Policy) {
	who := strings.Join(p.GetSignedBy(), ", ")
	if who == "" {
		who = "nobody"
	}
	row(tw, "signed by:", fmt.Sprintf("%s (%d of %d parties; only signatures that verify count)", who, len(p.GetSignedBy()), len(p.GetParties())))
	if un := unsigned(p.GetParties(), p.GetSignedBy()); len(un) > 0 {
		row(tw, "not signed by:", strings.Join(un, ", "))
	}
	for i, b := range p.GetBadSignatures() {
		label := ""
		if i == 0 {
			label = "bad signatures:"
		}
		row(tw, label, b)
	}
}

// inForce describes whether p is in force, or why not.
func inForce(p *localv1.Policy) string {
	if p.GetInForce() {
		if u := ts(p.GetValidUntil()); u != "" {
			return "yes, until " + u
		}
		return "yes"
	}
	if p.GetProblem() != "" {
		return "no: " + p.GetProblem()
	}
	return "no"
}

// unsigned returns the parties that are not among signed.
func unsigned(parties, signed []string) []string {
	var out []string
	for _, p := range parties {
		if !slices.Contains(signed, p) {
			out = append(out, p)
		}
	}
	return out
}

func runPolicyList(c *cli.Context) error {
	return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.ListPoliciesResponse], error) {
		return cn.Fed.ListPolicies(c.Context, connect.NewRequest(&localv1.ListPoliciesRequest{}))
	}, func(w io.Writer, r *localv1.ListPoliciesResponse) error {
		tw := newTable(w)
		row(tw, "ID", "VERSION", "TITLE", "SIGNED", "VALID UNTIL", "IN FORCE")
		for _, p := range r.GetPolicies() {
			row(tw, p.GetId(), strconv.FormatUint(uint64(p.GetVersion()), 10), p.GetTitle(),
				fmt.Sprintf("%d of %d", len(p.GetSignedBy()), len(p.GetParties())), ts(p.GetValidUntil()), inForce(p))
		}
		return tw.Flush()
	})
}

func runPolicyShow(c *cli.Context) error {
	return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.ShowPolicyResponse], error) {
		return cn.Fed.ShowPolicy(c.Context, connect.NewRequest(&localv1.ShowPolicyRequest{Id: a[0]}))
	}, func(w io.Writer, r *localv1.ShowPolicyResponse) error {
		if c.Bool("document") {
			_, err := w.Write(r.GetDocument())
			return err
		}
		p := r.GetPolicy()
		tw := newTable(w)
		row(tw, "id:", p.GetId())
		row(tw, "version:", strconv.FormatUint(uint64(p.GetVersion()), 10))
		row(tw, "title:", p.GetTitle())
		row(tw, "parties:", strings.Join(p.GetParties(), ", "))
		row(tw, "purposes:", strings.Join(p.GetPurposes(), ", "))
		signatureRows(tw, p)
		row(tw, "valid from:", ts(p.GetValidFrom()))
		row(tw, "valid until:", ts(p.GetValidUntil()))
		row(tw, "in force:", inForce(p))
		row(tw, "applied:", ts(p.GetAppliedAt()))
		return tw.Flush()
	})
}

func runPolicySign(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	in, out := a[0], c.String("out")
	if out == "" {
		out = in
	}
	if out == "-" && asJSON {
		return usageErrorf("--out - and -o json both write to stdout: choose one")
	}
	doc, err := readISP(in)
	if err != nil {
		return err
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Fed.SignPolicy(c.Context, connect.NewRequest(&localv1.SignPolicyRequest{Document: doc}))
	if err != nil {
		return err
	}
	signed := resp.Msg.GetDocument()
	if len(signed) == 0 {
		return errors.New("the node returned an empty document; " + in + " is unchanged")
	}
	if out == "-" {
		if _, err := c.App.Writer.Write(signed); err != nil {
			return err
		}
	} else if err := writeFileAtomic(out, signed); err != nil {
		return fmt.Errorf("writing the signed document: %w", err)
	}
	// The summary goes to stderr when the document or JSON is on stdout.
	msg := c.App.Writer
	if out == "-" || asJSON {
		msg = c.App.ErrWriter
	}
	if asJSON {
		if err := printJSON(c.App.Writer, resp.Msg); err != nil {
			return err
		}
	}
	if out != "-" {
		fmt.Fprintf(msg, "wrote the signed document to %s\n", out)
	}
	isp, err := policy.ParseISP(signed)
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "warning: cannot read the signed document back: %v\n", err)
		return nil
	}
	// The node says which signatures verify; count only those.
	p := resp.Msg.GetPolicy()
	if p == nil {
		p = &localv1.Policy{Id: isp.ID, Version: isp.Version}
		for _, pt := range isp.Parties {
			p.Parties = append(p.Parties, pt.Agency)
		}
		for _, sg := range isp.Signatures { // a node too old to say which verify
			p.SignedBy = append(p.SignedBy, sg.Agency)
		}
	}
	tw := newTable(msg)
	row(tw, "ISP:", fmt.Sprintf("%s version %d", isp.ID, isp.Version))
	signatureRows(tw, p)
	if err := tw.Flush(); err != nil {
		return err
	}
	un := unsigned(p.GetParties(), p.GetSignedBy())
	switch {
	case len(p.GetBadSignatures()) > 0:
		fmt.Fprintln(msg, "warning: some signatures do not verify; the node will refuse to apply this document until they are redone")
	case len(un) > 0:
		fmt.Fprintf(msg, "next: pass the file to %s to sign\n", strings.Join(un, ", "))
	default:
		fmt.Fprintln(msg, "every party has signed: each node can now run cpx policy apply FILE")
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path, keeping the mode of an existing file (0644 for a new one:
// an ISP document holds no case data).
func writeFileAtomic(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func runPolicyCheck(c *cli.Context) error {
	var kase, to, purpose string
	return callWith(c, 0, 0, func([]string) error {
		kase, to, purpose = c.String("case"), c.String("to"), c.String("purpose")
		switch {
		case kase == "":
			return usageErrorf("--case is required (see cpx policy check --help)")
		case to == "":
			return usageErrorf("--to is required: the receiving agency (see cpx policy check --help)")
		case purpose == "":
			return usageErrorf("--purpose is required: referral or transfer (see cpx policy check --help)")
		case purpose != "referral" && purpose != "transfer":
			return usageErrorf("unknown purpose %q: want referral or transfer", purpose)
		}
		return nil
	}, func(cn *conn, _ []string) (*connect.Response[localv1.CheckPolicyResponse], error) {
		return cn.Fed.CheckPolicy(c.Context, connect.NewRequest(&localv1.CheckPolicyRequest{
			CaseId: kase, To: to, Purpose: purpose, OverrideConsent: c.Bool("override-consent"),
		}))
	}, func(w io.Writer, m *localv1.CheckPolicyResponse) error {
		verdict := "refused"
		if m.GetAllowed() {
			verdict = "allowed"
		}
		if m.GetReason() != "" {
			verdict += ": " + m.GetReason()
		}
		fmt.Fprintln(w, verdict)
		if m.GetConsentOverridden() {
			fmt.Fprintln(w, "consent overridden: the exchange would be audited as sent without the required consent")
		}
		if len(m.GetFields()) > 0 {
			fmt.Fprintln(w)
			tw := newTable(w)
			row(tw, "FIELD", "OUTCOME", "REASON")
			for _, f := range m.GetFields() {
				row(tw, f.GetField(), f.GetOutcome(), f.GetReason())
			}
			return tw.Flush()
		}
		return nil
	}, func(m *localv1.CheckPolicyResponse) error {
		if !m.GetAllowed() {
			return fmt.Errorf("the ISPs in force do not allow this %s of %s to %s", purpose, kase, to)
		}
		return nil
	})
}
