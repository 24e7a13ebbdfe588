package command

// The federation commands talk to the node's FederationService: node id,
// peer, outbox (this file), policy (policy.go), and referral, transfer and
// case refer/transfer (referral.go).

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func nodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "show how other agencies reach this node",
		Subcommands: []*cli.Command{
			{
				Name:  "id",
				Usage: "show the node's agency, peer id, addresses and key fingerprint",
				Description: "Shows what another agency needs to add this node as a peer: the agency id,\n" +
					"the libp2p peer id and the listen addresses, one per line, each ending in\n" +
					"/p2p/PEERID. Give one of the addresses and the agency id to the other\n" +
					"agency; they run cpx peer add ADDRESS --agency AGENCY_ID. The key\n" +
					"fingerprint is what ISP documents name as this agency's signing_key.\n\n" +
					"Example:\n   cpx node id --dir ./node",
				Flags:  clientFlags(),
				Action: runNodeID,
			},
		},
	}
}

func runNodeID(c *cli.Context) error {
	return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.NodeIDResponse], error) {
		return cn.Fed.NodeID(c.Context, connect.NewRequest(&localv1.NodeIDRequest{}))
	}, func(w io.Writer, m *localv1.NodeIDResponse) error {
		tw := newTable(w)
		row(tw, "agency:", m.GetAgencyId())
		row(tw, "peer id:", m.GetPeerId())
		row(tw, "key fingerprint:", m.GetKeyFingerprint())
		row(tw, "key version:", strconv.FormatUint(uint64(m.GetKeyVersion()), 10))
		row(tw, "key valid until:", ts(m.GetKeyNotAfter()))
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(m.GetAddrs()) == 0 {
			fmt.Fprintln(w, "addresses: none (the node does not listen for peers)")
			return nil
		}
		fmt.Fprintln(w, "addresses (for cpx peer add on the other node):")
		for _, a := range m.GetAddrs() {
			fmt.Fprintf(w, "  %s\n", fullAddr(a, m.GetPeerId()))
		}
		return nil
	})
}

// fullAddr returns addr ending in /p2p/PEERID, which is what peer add
// needs; the node normally sends it that way already.
func fullAddr(addr, peerID string) string {
	if peerID == "" || strings.Contains(addr, "/p2p/") {
		return addr
	}
	return strings.TrimRight(addr, "/") + "/p2p/" + peerID
}

func peerCommand() *cli.Command {
	return &cli.Command{
		Name:  "peer",
		Usage: "manage the other agencies' nodes this node exchanges with",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "allow another agency's node and tell this node where to reach it",
				ArgsUsage: "MULTIADDR/p2p/PEERID",
				Description: "Adds the node of agency AGENCY_ID as a peer: only peers may connect to this\n" +
					"node, and referrals and transfers go only to peers. The address is one of\n" +
					"the lines the other agency's cpx node id prints; it must end in /p2p/PEERID.\n" +
					"The node greets the peer at once to exchange agency keys; if it cannot be\n" +
					"reached yet, that happens when the nodes first connect. Adding an agency\n" +
					"again replaces its address.\n\n" +
					"Example:\n   cpx peer add /ip4/10.0.0.7/tcp/7071/p2p/12D3KooWQ... --agency irc-so",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "agency", Usage: "the peer's `AGENCY_ID` (required), as in the ISP documents"},
				}, clientFlags()...),
				Action: runPeerAdd,
			},
			{
				Name:  "list",
				Usage: "list the peers, the addresses this node dials and whether they answer",
				Description: "Lists every peer: agency, peer id, its state, the last contact, every\n" +
					"address this node dials it at, the fingerprints of its keys and the last\n" +
					"error. STATE is connected (a connection is open), reachable (the last\n" +
					"contact succeeded), unreachable (the last attempt failed: see LAST ERROR)\n" +
					"or never seen. The addresses the peer announced itself (signed, when the\n" +
					"nodes connect) come first, then the one given to cpx peer add; every one\n" +
					"is tried. A peer that restarts at a new address tells this node when it\n" +
					"next connects; nothing needs to be done here.\n\n" +
					"Example:\n   cpx peer list --dir ./node",
				Flags:  clientFlags(),
				Action: runPeerList,
			},
			{
				Name:      "remove",
				Usage:     "stop exchanging with an agency's node",
				ArgsUsage: "AGENCY_ID",
				Description: "Removes the peer of agency AGENCY_ID: it may no longer connect, and\n" +
					"nothing more is sent to it. Exchanges already recorded are kept.\n\n" +
					"Example:\n   cpx peer remove irc-so --dir ./node",
				Flags:  clientFlags(),
				Action: runPeerRemove,
			},
			{
				Name:      "rekey",
				Usage:     "take a peer's new keys after its identity changed",
				ArgsUsage: "AGENCY_ID",
				Description: "A peer's new keys are normally certified by its previous keys, and taken\n" +
					"without asking anyone. When they are not (the agency rebuilt its node, lost\n" +
					"its keys), the node refuses them and audits it. Check the new fingerprint\n" +
					"with the agency out of band (phone, meeting; `cpx keys list` on their node),\n" +
					"then take it: the node greets the peer and stores its keys only if the newest\n" +
					"has that fingerprint. Audited.\n\n" +
					"Example:\n   cpx peer rekey --fingerprint abcdefg-... --dir ./node irc-so",
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "fingerprint", Required: true, Usage: "the peer's new key fingerprint, checked out of band"},
				),
				Action: runPeerRekey,
			},
		},
	}
}

func runPeerAdd(c *cli.Context) error {
	return callWith(c, 1, 1, func(a []string) error {
		if c.String("agency") == "" {
			return usageErrorf("--agency is required: the peer's agency id (see cpx peer add --help)")
		}
		if addr := a[0]; !strings.HasPrefix(addr, "/") || !strings.Contains(addr, "/p2p/") {
			return usageErrorf("bad address %q: want a multiaddr ending in /p2p/PEERID, as printed by cpx node id on the peer", addr)
		}
		return nil
	}, func(cn *conn, a []string) (*connect.Response[localv1.AddPeerResponse], error) {
		return cn.Fed.AddPeer(c.Context, connect.NewRequest(&localv1.AddPeerRequest{Addr: a[0], Agency: c.String("agency")}))
	}, func(w io.Writer, r *localv1.AddPeerResponse) error {
		p := r.GetPeer()
		fmt.Fprintf(w, "added peer %s (peer id %s)\n", p.GetAgency(), p.GetPeerId())
		if len(p.GetKeyFingerprints()) > 0 {
			fmt.Fprintf(w, "keys: %s\n", strings.Join(p.GetKeyFingerprints(), ", "))
		} else {
			msg := "not reachable yet: keys are exchanged when the nodes first connect"
			if p.GetLastError() != "" {
				msg += " (" + p.GetLastError() + ")"
			}
			fmt.Fprintln(w, msg)
		}
		return nil
	}, nil)
}

func runPeerList(c *cli.Context) error {
	return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.ListPeersResponse], error) {
		return cn.Fed.ListPeers(c.Context, connect.NewRequest(&localv1.ListPeersRequest{}))
	}, func(w io.Writer, r *localv1.ListPeersResponse) error {
		tw := newTable(w)
		row(tw, "AGENCY", "PEER ID", "STATE", "LAST CONTACT", "ADDRESSES", "KEYS", "LAST ERROR")
		for _, p := range r.GetPeers() {
			state := p.GetReachability()
			if state == "" {
				state = "connected"
				if !p.GetConnected() {
					state = "-"
				}
			}
			row(tw, p.GetAgency(), p.GetPeerId(), state, ts(p.GetLastSeen()), strings.Join(p.GetAddrs(), ", "),
				strings.Join(p.GetKeyFingerprints(), ", "), p.GetLastError())
		}
		return tw.Flush()
	})
}

func runPeerRemove(c *cli.Context) error {
	var agency string
	return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.RemovePeerResponse], error) {
		agency = a[0]
		return cn.Fed.RemovePeer(c.Context, connect.NewRequest(&localv1.RemovePeerRequest{Agency: agency}))
	}, func(w io.Writer, _ *localv1.RemovePeerResponse) error {
		_, err := fmt.Fprintf(w, "removed peer %s\n", agency)
		return err
	})
}

func runPeerRekey(c *cli.Context) error {
	var agency string
	return call(c, 1, 1, func(cn *conn, a []string) (*connect.Response[localv1.RekeyPeerResponse], error) {
		agency = a[0]
		return cn.Fed.RekeyPeer(c.Context, connect.NewRequest(&localv1.RekeyPeerRequest{Agency: agency, Fingerprint: c.String("fingerprint")}))
	}, func(w io.Writer, r *localv1.RekeyPeerResponse) error {
		_, err := fmt.Fprintf(w, "peer %s re-keyed: %s\n", agency, strings.Join(r.GetPeer().GetKeyFingerprints(), ", "))
		return err
	})
}

func outboxCommand() *cli.Command {
	return &cli.Command{
		Name:  "outbox",
		Usage: "show what is waiting for delivery to other agencies",
		Description: "Lists the sealed envelopes (referrals, transfers and responses) the node has\n" +
			"not yet delivered: the exchange each belongs to, the peer, how many delivery\n" +
			"attempts failed, when the next one is due and the last error. The node keeps\n" +
			"retrying until an envelope expires; the exchange is then marked failed.\n" +
			"It also retries at once when the peer connects; cpx outbox retry retries now.\n\n" +
			"Example:\n   cpx outbox --dir ./node",
		Flags:  clientFlags(),
		Action: runOutbox,
		Subcommands: []*cli.Command{
			{
				Name:      "retry",
				Usage:     "try to deliver now what waits for a peer (or for every peer)",
				ArgsUsage: "[AGENCY_ID]",
				Description: "Makes the envelopes waiting for the peer of AGENCY_ID (all peers without\n" +
					"one) due now, instead of at their next attempt, and wakes the deliverer.\n" +
					"The command does not wait for the deliveries: follow them with cpx outbox\n" +
					"and cpx peer list (the last error).\n\n" +
					"Example:\n   cpx outbox retry irc-so --dir ./node",
				Flags:  clientFlags(),
				Action: runOutboxRetry,
			},
		},
	}
}

func runOutboxRetry(c *cli.Context) error {
	to := "every peer"
	return call(c, 0, 1, func(cn *conn, a []string) (*connect.Response[localv1.RetryOutboxResponse], error) {
		peer := ""
		if len(a) == 1 {
			peer, to = a[0], a[0]
		}
		return cn.Fed.RetryOutbox(c.Context, connect.NewRequest(&localv1.RetryOutboxRequest{Peer: peer}))
	}, func(w io.Writer, r *localv1.RetryOutboxResponse) error {
		n := r.GetWaiting()
		if n == 0 {
			_, err := fmt.Fprintf(w, "nothing is waiting for %s\n", to)
			return err
		}
		_, err := fmt.Fprintf(w, "retrying now: %d envelope(s) waiting for %s (see cpx outbox)\n", n, to)
		return err
	})
}

func runOutbox(c *cli.Context) error {
	return call(c, 0, 0, func(cn *conn, _ []string) (*connect.Response[localv1.OutboxResponse], error) {
		return cn.Fed.Outbox(c.Context, connect.NewRequest(&localv1.OutboxRequest{}))
	}, func(w io.Writer, r *localv1.OutboxResponse) error {
		if len(r.GetEntries()) == 0 {
			_, err := fmt.Fprintln(w, "nothing is waiting for delivery")
			return err
		}
		tw := newTable(w)
		row(tw, "ENVELOPE", "EXCHANGE", "KIND", "PEER", "ATTEMPTS", "NEXT ATTEMPT", "EXPIRES", "LAST ERROR")
		for _, e := range r.GetEntries() {
			row(tw, e.GetEnvelopeId(), e.GetExchange(), e.GetKind(), e.GetPeer(), strconv.Itoa(int(e.GetAttempts())),
				ts(e.GetNextAttempt()), ts(e.GetExpires()), e.GetLastError())
		}
		return tw.Flush()
	})
}
