package command

import (
	"fmt"
	"os"
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
				Name:      "validate",
				Usage:     "check a forms configuration directory (no node needed)",
				ArgsUsage: "DIR",
				Description: "Loads the forms configuration in DIR (forms/*.json, lookups.json,\n" +
					"locations.json, applied over the standard forms) and checks it. Prints\n" +
					"\"ok: N forms, M fields\", or every problem found and exits with code 1.\n\n" +
					"Example:\n   cpx forms validate ./node/forms",
				Action: runFormsValidate,
			},
		},
	}
}

func runFormsList(c *cli.Context) error {
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	asJSON, cn, err := outputAndDial(c)
	if err != nil {
		return err
	}
	resp, err := cn.Forms.ListForms(c.Context, connect.NewRequest(&localv1.ListFormsRequest{}))
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.App.Writer, resp.Msg)
	}
	tw := newTable(c.App.Writer)
	row(tw, "ID", "NAME", "FIELDS")
	for _, f := range resp.Msg.GetForms() {
		row(tw, f.GetId(), f.GetName(), strconv.Itoa(int(f.GetFields())))
	}
	return tw.Flush()
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
	fmt.Fprintf(c.App.Writer, "ok: %d forms, %d fields\n", len(top), fields)
	return nil
}
