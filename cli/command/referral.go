package command

import (
	"fmt"
	"io"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

// Exchange kinds, as the FederationService names them.
const (
	kindReferral = "referral"
	kindTransfer = "transfer"
)

func sendFlags(service bool) []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "to", Usage: "the receiving `AGENCY` (required); it must be a peer and a party to an ISP in force"},
	}
	if service {
		flags = append(flags, &cli.StringFlag{Name: "service", Usage: "the `SERVICE` the child is referred for (required), e.g. health, education"})
	}
	flags = append(flags,
		&cli.StringFlag{Name: "note", Usage: "a note for the receiving caseworker (`TEXT`)"},
		&cli.BoolFlag{Name: "override-consent", Usage: "send without the consent the ISP requires (only roles the ISP names may; audited)"},
	)
	return append(flags, clientFlags()...)
}

func caseReferCommand() *cli.Command {
	return &cli.Command{
		Name:      "refer",
		Usage:     "refer a case to another agency for a service",
		ArgsUsage: "ID",
		Description: "Refers case ID to agency AGENCY for SERVICE. The node sends only the fields\n" +
			"the ISP in force allows (see cpx policy check), sealed for the receiving\n" +
			"agency; it is queued in the outbox until delivered. Follow it with\n" +
			"cpx referral show EXCHANGE_ID.\n\n" +
			"Example:\n   cpx case refer CP-2025-0001 --to irc-so --service health --note \"urgent\"",
		Flags:  sendFlags(true),
		Action: func(c *cli.Context) error { return runSend(c, kindReferral) },
	}
}

func caseTransferCommand() *cli.Command {
	return &cli.Command{
		Name:      "transfer",
		Usage:     "transfer a case to another agency",
		ArgsUsage: "ID",
		Description: "Offers case ID to agency AGENCY, which becomes its owner once it accepts. The\n" +
			"node sends only the fields the ISP in force allows (see cpx policy check);\n" +
			"what this node keeps after acceptance is set by the ISP's retention. Follow\n" +
			"it with cpx transfer show EXCHANGE_ID.\n\n" +
			"Example:\n   cpx case transfer CP-2025-0001 --to irc-so --note \"family moved to Baidoa\"",
		Flags:  sendFlags(false),
		Action: func(c *cli.Context) error { return runSend(c, kindTransfer) },
	}
}

func runSend(c *cli.Context, kind string) error {
	return callWith(c, 1, 1, func([]string) error {
		if c.String("to") == "" {
			return usageErrorf("--to is required: the receiving agency (see %s --help)", helpName(c))
		}
		if kind == kindReferral && strings.TrimSpace(c.String("service")) == "" {
			return usageErrorf("--service is required: the service the child is referred for (see %s --help)", helpName(c))
		}
		return nil
	}, func(cn *conn, a []string) (*connect.Response[localv1.SendResponse], error) {
		req := &localv1.SendRequest{
			Kind: kind, CaseId: a[0], To: c.String("to"), Note: c.String("note"), OverrideConsent: c.Bool("override-consent"),
		}
		if kind == kindReferral {
			req.Service = c.String("service")
		}
		return cn.Fed.Send(c.Context, connect.NewRequest(req))
	}, func(w io.Writer, r *localv1.SendResponse) error {
		x := r.GetExchange()
		fmt.Fprintf(w, "%s %s of case %s to %s: %s\n", x.GetKind(), x.GetId(), caseLabel(x), x.GetPeer(), x.GetStatus())
		if x.GetConsentOverridden() {
			fmt.Fprintln(w, "consent overridden: this is recorded in the audit log")
		}
		return nil
	}, nil)
}

func caseLabel(x *localv1.Exchange) string {
	if x.GetCaseNumber() != "" {
		return x.GetCaseNumber()
	}
	return x.GetCaseId()
}

func referralCommand() *cli.Command {
	return &cli.Command{
		Name:  "referral",
		Usage: "list, show and answer referrals to and from other agencies",
		Description: "Referrals are sent with cpx case refer. An incoming referral is accepted or\n" +
			"rejected by this agency, then marked done when the service was provided; the\n" +
			"sender may revoke an outgoing referral until it is done.",
		Subcommands: []*cli.Command{
			exchangeListCommand(kindReferral),
			exchangeShowCommand(kindReferral),
			respondCommand(kindReferral, "accept", "accept an incoming referral",
				"Accepts incoming referral ID: this agency will provide the service.",
				"cpx referral accept ex-7f3a"),
			respondCommand(kindReferral, "reject", "reject an incoming referral (--reason required)",
				"Rejects incoming referral ID. The reason is required and sent to the referring\nagency.",
				"cpx referral reject ex-7f3a --reason \"no capacity in this district\""),
			respondCommand(kindReferral, "done", "mark an accepted incoming referral as done",
				"Marks accepted incoming referral ID as done: the service was provided. The\nreferring agency is told.",
				"cpx referral done ex-7f3a --reason \"medical check completed\""),
			respondCommand(kindReferral, "revoke", "withdraw an outgoing referral",
				"Revokes outgoing referral ID (pending, delivered or accepted). The receiving\nagency is told.",
				"cpx referral revoke ex-7f3a --reason \"sent to the wrong agency\""),
			resyncCommand(kindReferral),
		},
	}
}

func transferCommand() *cli.Command {
	return &cli.Command{
		Name:  "transfer",
		Usage: "list, show and answer case transfers to and from other agencies",
		Description: "Transfers are sent with cpx case transfer. Accepting an incoming transfer\n" +
			"creates the case on this node, owned by the user who accepts it.",
		Subcommands: []*cli.Command{
			exchangeListCommand(kindTransfer),
			exchangeShowCommand(kindTransfer),
			respondCommand(kindTransfer, "accept", "accept an incoming transfer and create the case here",
				"Accepts incoming transfer ID: the received case is created on this node,\n"+
					"owned by you, and must pass this node's forms.",
				"cpx transfer accept ex-91bc"),
			respondCommand(kindTransfer, "reject", "reject an incoming transfer (--reason required)",
				"Rejects incoming transfer ID. The reason is required and sent to the sending\nagency.",
				"cpx transfer reject ex-91bc --reason \"the child is not in our area\""),
			resyncCommand(kindTransfer),
		},
	}
}

func exchangeListCommand(kind string) *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list " + kind + "s",
		Description: "Lists " + kind + "s sent and received, optionally only incoming or outgoing\n" +
			"ones, or those with status S (pending, delivered, accepted, rejected, done,\n" +
			"revoked, failed).\n\n" +
			"Example:\n   cpx " + kind + " list --incoming --status delivered",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "incoming", Usage: "only " + kind + "s received from other agencies"},
			&cli.BoolFlag{Name: "outgoing", Usage: "only " + kind + "s sent by this agency"},
			&cli.StringFlag{Name: "status", Usage: "only " + kind + "s with this `STATUS`"},
		}, clientFlags()...),
		Action: func(c *cli.Context) error { return runExchangeList(c, kind) },
	}
}

func runExchangeList(c *cli.Context, kind string) error {
	var direction string
	return callWith(c, 0, 0, func([]string) error {
		switch {
		case c.Bool("incoming") && c.Bool("outgoing"):
			return usageErrorf("--incoming and --outgoing exclude each other; pass neither to list both")
		case c.Bool("incoming"):
			direction = "incoming"
		case c.Bool("outgoing"):
			direction = "outgoing"
		}
		return nil
	}, func(cn *conn, _ []string) (*connect.Response[localv1.ListExchangesResponse], error) {
		return cn.Fed.ListExchanges(c.Context, connect.NewRequest(&localv1.ListExchangesRequest{
			Kind: kind, Direction: direction, Status: c.String("status"),
		}))
	}, func(w io.Writer, r *localv1.ListExchangesResponse) error {
		tw := newTable(w)
		if kind == kindReferral {
			row(tw, "ID", "DIRECTION", "PEER", "CASE NUMBER", "SERVICE", "STATUS", "SYNC", "UPDATED")
		} else {
			row(tw, "ID", "DIRECTION", "PEER", "CASE NUMBER", "STATUS", "SYNC", "UPDATED")
		}
		var errs []string
		for _, x := range r.GetExchanges() {
			if kind == kindReferral {
				row(tw, x.GetId(), x.GetDirection(), x.GetPeer(), x.GetCaseNumber(), x.GetService(), x.GetStatus(), syncText(x), ts(x.GetUpdatedAt()))
			} else {
				row(tw, x.GetId(), x.GetDirection(), x.GetPeer(), x.GetCaseNumber(), x.GetStatus(), syncText(x), ts(x.GetUpdatedAt()))
			}
			if e := x.GetSyncError(); e != "" && x.GetSync() != "in_sync" {
				errs = append(errs, x.GetId()+": "+e)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(errs) > 0 {
			fmt.Fprintln(w)
			fmt.Fprintln(w, "last errors (cpx "+kind+" resync ID sends the latest state again):")
			for _, e := range errs {
				fmt.Fprintln(w, "  "+e)
			}
		}
		return nil
	}, nil)
}

func exchangeShowCommand(kind string) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show a " + kind + ", its history and, if incoming, the fields received",
		ArgsUsage: "ID",
		Description: "Shows " + kind + " ID: the peer, the case, the ISP it went under, its status and\n" +
			"history and, for an incoming " + kind + " not yet accepted, the fields received.\n" +
			"Viewing the received fields is audited.\n\n" +
			"Example:\n   cpx " + kind + " show ex-7f3a",
		Flags:  clientFlags(),
		Action: runExchangeShow,
	}
}

func runExchangeShow(c *cli.Context) error {
	return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.GetExchangeResponse], error) {
		return cn.Fed.GetExchange(c.Context, connect.NewRequest(&localv1.GetExchangeRequest{Id: a[0]}))
	}, func(w io.Writer, r *localv1.GetExchangeResponse) error { return printExchange(w, r.GetExchange()) })
}

// printExchange writes an exchange as "key: value" lines, its history and
// the fields received.
func printExchange(w io.Writer, x *localv1.Exchange) error {
	tw := newTable(w)
	row(tw, "id:", x.GetId())
	row(tw, "kind:", x.GetKind())
	row(tw, "direction:", x.GetDirection())
	if x.GetDirection() == "incoming" {
		row(tw, "from:", x.GetPeer())
	} else {
		row(tw, "to:", x.GetPeer())
	}
	row(tw, "case number:", x.GetCaseNumber())
	row(tw, "case id:", x.GetCaseId())
	if x.GetLocalCase() != "" {
		row(tw, "local case:", x.GetLocalCase())
	}
	if x.GetKind() == kindReferral {
		row(tw, "service:", x.GetService())
	}
	row(tw, "note:", x.GetNote())
	row(tw, "status:", x.GetStatus())
	row(tw, "sync:", syncText(x))
	if x.GetSyncError() != "" {
		row(tw, "last error:", x.GetSyncError())
	}
	isp := x.GetIsp()
	if isp != "" && x.GetIspVersion() != 0 {
		isp = fmt.Sprintf("%s version %d", isp, x.GetIspVersion())
	}
	row(tw, "ISP:", isp)
	if x.GetRetention() != "" {
		row(tw, "retention:", x.GetRetention())
	}
	if x.GetConsentOverridden() {
		row(tw, "consent:", "overridden")
	}
	row(tw, "created by:", x.GetCreatedBy())
	row(tw, "created:", ts(x.GetCreatedAt()))
	row(tw, "updated:", ts(x.GetUpdatedAt()))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(x.GetHistory()) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		row(tw, "AT", "STATUS", "ACTOR", "REASON")
		for _, e := range x.GetHistory() {
			row(tw, ts(e.GetAt()), e.GetStatus(), e.GetActor(), e.GetReason())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fields := x.GetFields().GetFields()
	if len(fields) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "FIELD RECEIVED", "VALUE")
	for _, name := range sortedKeys(fields) {
		row(tw, name, valueText(fields[name]))
	}
	return tw.Flush()
}

func respondCommand(kind, response, usage, desc, example string) *cli.Command {
	reason := "why (sent to the other agency)"
	if response == "reject" {
		reason += "; required"
	}
	return &cli.Command{
		Name:        response,
		Usage:       usage,
		ArgsUsage:   "ID",
		Description: desc + "\n\nExample:\n   " + example,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "`TEXT` saying " + reason},
		}, clientFlags()...),
		Action: func(c *cli.Context) error { return runRespond(c, kind, response) },
	}
}

func runRespond(c *cli.Context, kind, response string) error {
	return callWith(c, 1, 1, func([]string) error {
		if response == "reject" && strings.TrimSpace(c.String("reason")) == "" {
			return usageErrorf("--reason is required: say why the %s is rejected (see %s --help)", kind, helpName(c))
		}
		return nil
	}, func(cn *conn, a []string) (*connect.Response[localv1.RespondResponse], error) {
		return cn.Fed.Respond(c.Context, connect.NewRequest(&localv1.RespondRequest{
			Id: a[0], Response: response, Reason: c.String("reason"),
		}))
	}, func(w io.Writer, r *localv1.RespondResponse) error {
		x := r.GetExchange()
		fmt.Fprintf(w, "%s %s of case %s: %s\n", x.GetKind(), x.GetId(), caseLabel(x), x.GetStatus())
		if x.GetKind() == kindTransfer && response == "accept" && x.GetLocalCase() != "" {
			fmt.Fprintf(w, "the case is now case %s on this node (cpx case get %s)\n", x.GetLocalCase(), x.GetLocalCase())
		}
		notDelivered(c, x, r.GetDelivered(), r.GetDeliveryError())
		return nil
	}, nil)
}

// notDelivered tells, on stderr, that a change waits in the outbox.
func notDelivered(c *cli.Context, x *localv1.Exchange, delivered bool, why string) {
	if delivered {
		return
	}
	if why == "" {
		why = "not attempted yet"
	}
	fmt.Fprintf(c.App.ErrWriter, "not yet delivered to %s (%s): it waits in the outbox and is retried; cpx %s list shows when it arrives\n", x.GetPeer(), why, x.GetKind())
}

// syncText says whether the peer holds this node's latest state.
func syncText(x *localv1.Exchange) string {
	switch x.GetSync() {
	case "":
		return "-"
	case "in_sync":
		return "in sync"
	case "out_of_sync":
		return "OUT OF SYNC"
	}
	return x.GetSync()
}

func resyncCommand(kind string) *cli.Command {
	return &cli.Command{
		Name:      "resync",
		Usage:     "send this agency's latest state of a " + kind + " to the other agency again",
		ArgsUsage: "ID",
		Description: "Reconciles " + kind + " ID when the two agencies' states differ (cpx " + kind + " list\n" +
			"shows OUT OF SYNC, or failed after an answer of this agency never arrived):\n" +
			"delivers what waits in the outbox for it now, or seals this agency's latest\n" +
			"answer (accept, reject, done, revoke) again under the ISP in force, and\n" +
			"says whether the other agency took it. The other agency takes a state it\n" +
			"already holds as a no-op. Exits with 1 if the other agency refused it.\n\n" +
			"Example:\n   cpx " + kind + " resync ex-7f3a",
		Flags: clientFlags(),
		Action: func(c *cli.Context) error {
			return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.ResyncExchangeResponse], error) {
				return cn.Fed.ResyncExchange(c.Context, connect.NewRequest(&localv1.ResyncExchangeRequest{Id: a[0]}))
			}, func(w io.Writer, r *localv1.ResyncExchangeResponse) error {
				x := r.GetExchange()
				fmt.Fprintf(w, "%s %s of case %s: %s, %s\n", x.GetKind(), x.GetId(), caseLabel(x), x.GetStatus(), syncText(x))
				notDelivered(c, x, r.GetDelivered(), r.GetDeliveryError())
				return nil
			})
		},
	}
}
