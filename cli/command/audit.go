package command

import (
	"fmt"
	"strconv"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "check, read and export the node's hash-chained audit log",
		Subcommands: []*cli.Command{
			{
				Name:  "verify",
				Usage: "check the audit log's hash chain",
				Description: "Asks the node to recompute the audit log's hash chain. Prints the number of\n" +
					"entries and the head hash, or where the chain breaks and what is wrong, and\n" +
					"then exits with code 1.\n\n" +
					"Example:\n   cpx audit verify --dir ./node",
				Flags:  clientFlags(),
				Action: runAuditVerify,
			},
			{
				Name:  "tail",
				Usage: "show the latest audit entries",
				Description: "Shows the last N audit entries, oldest first. Entry details stay on the\n" +
					"node; only their hash is shown.\n\n" +
					"Example:\n   cpx audit tail -n 50",
				Flags: append([]cli.Flag{
					&cli.IntFlag{Name: "n", Value: 20, Usage: "number of entries (`N`)"},
				}, clientFlags()...),
				Action: runAuditTail,
			},
			{
				Name:      "export",
				Usage:     "export the whole audit log as JSON Lines",
				ArgsUsage: "FILE",
				Description: "Streams every audit entry into FILE (\"-\" for stdout), one JSON AuditEntry\n" +
					"per line, written under a temporary name and renamed when complete.\n\n" +
					"Example:\n   cpx audit export audit-2025-06.jsonl",
				Flags:  clientFlags(),
				Action: runAuditExport,
			},
		},
	}
}

func runAuditVerify(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Audit.VerifyAudit(c.Context, connect.NewRequest(&localv1.VerifyAuditRequest{}))
	if err != nil {
		return err
	}
	v := resp.Msg
	if asJSON {
		if err := printJSON(c.App.Writer, v); err != nil {
			return err
		}
	} else if v.GetOk() {
		fmt.Fprintf(c.App.Writer, "ok: %d entries, head %s\n", v.GetEntries(), v.GetHeadHash())
	}
	if !v.GetOk() {
		return fmt.Errorf("the audit chain is broken at entry %d: %s (checked %d entries)", v.GetBrokenAt(), v.GetProblem(), v.GetEntries())
	}
	return nil
}

func runAuditTail(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	n := c.Int("n")
	if n < 1 || n > 100000 {
		return usageErrorf("-n must be between 1 and 100000")
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Audit.TailAudit(c.Context, connect.NewRequest(&localv1.TailAuditRequest{N: int32(n)}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	tw := newTable(c.App.Writer)
	row(tw, "SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "OUTCOME", "HASH")
	for _, e := range resp.Msg.GetEntries() {
		row(tw, strconv.FormatUint(e.GetSeq(), 10), ts(e.GetTime()), e.GetActor(), e.GetAction(), e.GetObject(), e.GetOutcome(), short(e.GetHash()))
	}
	return tw.Flush()
}

// short abbreviates a hex hash for tables.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func runAuditExport(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	if _, err := jsonOutput(c); err != nil {
		return err
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	out, err := createOut(a[0], c.App.Writer)
	if err != nil {
		return err
	}
	defer out.Abort()
	stream, err := cn.Audit.ExportAudit(c.Context, connect.NewRequest(&localv1.ExportAuditRequest{}))
	if err != nil {
		return err
	}
	defer stream.Close()
	bar := progressBar(c, false, nil, "exporting audit log")
	var counter adder
	if bar != nil {
		counter = bar
	}
	var n int64
	for stream.Receive() {
		b, err := marshalJSON(stream.Msg().GetEntry(), "")
		if err != nil {
			return err
		}
		if _, err := out.Write(append(b, '\n')); err != nil {
			return err
		}
		n++
		tick(counter)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if err := stream.Err(); err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	if a[0] != "-" {
		fmt.Fprintf(c.App.ErrWriter, "exported %d audit entries to %s\n", n, a[0])
	}
	return nil
}
