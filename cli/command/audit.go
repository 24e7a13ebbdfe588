package command

import (
	"fmt"
	"io"
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
				Usage: "check the audit log's keyed hash chain and the checkpoints peers hold",
				Description: "Asks the node to recompute the audit log's hash chain and its MACs under the\n" +
					"chain key, then asks every peer for the checkpoints of the chain it witnessed\n" +
					"and checks each against the local chain. Prints the number of entries, the\n" +
					"head hash and what each peer holds, or where the chain breaks and what is\n" +
					"wrong, and then exits with code 1. A peer that cannot be reached is reported,\n" +
					"not counted as a failure.\n\n" +
					"Example:\n   cpx audit verify --dir ./node",
				Flags:  clientFlags(),
				Action: runAuditVerify,
			},
			{
				Name:  "checkpoint",
				Usage: "sign a checkpoint of the audit chain now and send it to the peers to witness",
				Description: "The node signs the chain's head (sequence number and hash) with its agency key\n" +
					"and sends it to every peer, which keeps and countersigns it. The node does\n" +
					"this on its own every hour and every 1000 entries. Exits 1 if no peer\n" +
					"witnessed it while the node has peers.\n\n" +
					"Example:\n   cpx audit checkpoint --dir ./node",
				Flags: clientFlags(),
				Action: func(c *cli.Context) error {
					return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.CheckpointAuditResponse], error) {
						return cn.Audit.CheckpointAudit(c.Context, connect.NewRequest(&localv1.CheckpointAuditRequest{}))
					}, func(w io.Writer, r *localv1.CheckpointAuditResponse) error {
						if r.GetSeq() == 0 {
							fmt.Fprintln(w, "the audit log is empty: nothing to checkpoint")
							return nil
						}
						fmt.Fprintf(w, "checkpoint at entry %d, head %s, witnessed by %d peers\n", r.GetSeq(), r.GetHash(), len(r.GetWitnessedBy()))
						for _, p := range r.GetWitnessedBy() {
							fmt.Fprintf(w, "  %s: kept and countersigned\n", p)
						}
						for _, m := range r.GetMissed() {
							fmt.Fprintf(w, "  %s: %s\n", m.GetPeer(), m.GetProblem())
						}
						if len(r.GetWitnessedBy()) == 0 && len(r.GetMissed()) > 0 {
							return fmt.Errorf("no peer witnessed the checkpoint")
						}
						return nil
					})
				},
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
	return callWith(c, 0, 0, nil, func(cn *conn, _ []string) (*connect.Response[localv1.VerifyAuditResponse], error) {
		return cn.Audit.VerifyAudit(c.Context, connect.NewRequest(&localv1.VerifyAuditRequest{}))
	}, func(w io.Writer, v *localv1.VerifyAuditResponse) error {
		if v.GetOk() {
			keyed := ""
			if v.GetKeyed() {
				keyed = fmt.Sprintf(", keyed through entry %d", v.GetKeyedThrough())
			}
			fmt.Fprintf(w, "ok: %d entries, head %s%s\n", v.GetEntries(), v.GetHeadHash(), keyed)
		}
		for _, a := range v.GetAnchors() {
			switch {
			case a.GetProblem() != "":
				fmt.Fprintf(w, "peer %s: %s\n", a.GetPeer(), a.GetProblem())
			default:
				fmt.Fprintf(w, "peer %s: %d checkpoints match\n", a.GetPeer(), a.GetCheckpoints())
			}
		}
		return nil
	}, func(v *localv1.VerifyAuditResponse) error {
		if !v.GetOk() {
			return fmt.Errorf("the audit chain is broken at entry %d: %s (checked %d entries)", v.GetBrokenAt(), v.GetProblem(), v.GetEntries())
		}
		return nil
	})
}

func runAuditTail(c *cli.Context) error {
	return callWith(c, 0, 0, func([]string) error {
		if n := c.Int("n"); n < 1 || n > 100000 {
			return usageErrorf("-n must be between 1 and 100000")
		}
		return nil
	}, func(cn *conn, _ []string) (*connect.Response[localv1.TailAuditResponse], error) {
		return cn.Audit.TailAudit(c.Context, connect.NewRequest(&localv1.TailAuditRequest{N: int32(c.Int("n"))}))
	}, func(w io.Writer, r *localv1.TailAuditResponse) error {
		tw := newTable(w)
		row(tw, "SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "OUTCOME", "HASH")
		for _, e := range r.GetEntries() {
			row(tw, strconv.FormatUint(e.GetSeq(), 10), ts(e.GetTime()), e.GetActor(), e.GetAction(), e.GetObject(), e.GetOutcome(), short(e.GetHash()))
		}
		return tw.Flush()
	}, nil)
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
