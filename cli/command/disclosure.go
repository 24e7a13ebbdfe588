package command

import (
	"fmt"
	"io"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

const kindDisclosure = "disclosure"

func disclosureCommand() *cli.Command {
	return &cli.Command{
		Name:  "disclosure",
		Usage: "list, show and answer requests to disclose a case found by federated tracing",
		Description: "Another agency that got a band and a handle from this node's tracing answers\n" +
			"may ask to see the case behind it (cpx trace request-details). A caseworker who\n" +
			"may read the case accepts (what the ISP's tracing rule lets go is sent) or\n" +
			"rejects it with a reason.",
		Subcommands: []*cli.Command{
			exchangeListCommand(kindDisclosure),
			exchangeShowCommand(kindDisclosure),
			respondCommand(kindDisclosure, "accept", "disclose the case to the asking agency",
				"Accepts incoming disclosure request ID: the fields the ISP's tracing rule lets\ngo are sent to the asking agency.",
				"cpx disclosure accept ex-5d21"),
			respondCommand(kindDisclosure, "reject", "refuse to disclose the case (--reason required)",
				"Rejects incoming disclosure request ID. The reason is sent to the asking agency.",
				"cpx disclosure reject ex-5d21 --reason \"not the same child\""),
		},
	}
}

func traceRequestDetailsCommand() *cli.Command {
	return &cli.Command{
		Name:      "request-details",
		Usage:     "ask the agency behind a federated match to disclose the case",
		ArgsUsage: "HANDLE",
		Description: "Sends agency AGENCY a request to disclose the case behind HANDLE (from\n" +
			"cpx trace match --federated). Its caseworker accepts or rejects it; follow it\n" +
			"with cpx disclosure list --outgoing and cpx disclosure show ID.\n\n" +
			"Example:\n   cpx trace request-details 9f2c... --agency irc-so --note \"mother waiting in Dadaab\"",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "agency", Usage: "the agency that gave the handle (required)"},
			&cli.StringFlag{Name: "note", Usage: "a note for the other agency's caseworker"},
		}, clientFlags()...),
		Action: func(c *cli.Context) error {
			return callWith(c, 1, 1, func([]string) error {
				if c.String("agency") == "" {
					return usageErrorf("--agency is required: the agency that gave the handle")
				}
				return nil
			}, func(cn *conn, a []string) (*connect.Response[localv1.RequestTracingDetailsResponse], error) {
				return cn.Trace.RequestTracingDetails(c.Context, connect.NewRequest(&localv1.RequestTracingDetailsRequest{
					Agency: c.String("agency"), Handle: a[0], Note: c.String("note"),
				}))
			}, func(w io.Writer, r *localv1.RequestTracingDetailsResponse) error {
				_, err := fmt.Fprintf(w, "disclosure request %s sent to %s (status %s)\n", r.Exchange.Id, c.String("agency"), r.Exchange.Status)
				return err
			}, nil)
		},
	}
}
