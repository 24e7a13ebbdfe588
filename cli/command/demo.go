package command

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/daemon"
	"github.com/cpx-node/cpx/node/nodedir"
	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a narrated tour on a temporary node (embedded defaults, nothing to set up)",
		Description: `Creates a temporary agency node (its own directory, keyring with a generated
passphrase, encrypted store), starts it on a free loopback port, and walks
through a caseworker's day through the real local API: users and roles,
registering and updating cases, what a supervisor and a read-only
coordinator may see, refusals, history and the audit log. Two more
agencies' nodes join over libp2p under a signed ISP for a referral, a
transfer and a family-tracing query; then a coordination body's node
receives the agencies' monthly report and prints the merged table after
disclosure control. The nodes are removed at the end unless --keep is given.

Example:
   cpx demo
   cpx demo --keep   # then explore with: cpx case list --dir DIR`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep", Usage: "keep the node directory (and print how to start it again)"},
		},
		Action: func(c *cli.Context) error {
			if _, err := args(c, 0, 0); err != nil {
				return err
			}
			return runDemo(c.Context, c.App.Writer, c.Bool("keep"))
		},
	}
}

// demoKDF keeps the demo's keyring quick to open; real nodes use the
// defaults.
var demoKDF = keyring.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

func runDemo(ctx context.Context, out io.Writer, keep bool) (err error) {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	step := func(title string) { fmt.Fprintf(out, "\n── %s\n", title) }

	base, err := os.MkdirTemp("", "cpx-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(base)
	}
	var secret [16]byte
	rand.Read(secret[:])
	pass := []byte(hex.EncodeToString(secret[:]))

	step("1. An agency sets up its node")
	a, err := startDemoNode(ctx, base, "save-the-children-so", "Save the Children Somalia", "SCSO", pass)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, a.stop()) }()
	dir, url, creds := a.dir, a.url, a.creds
	say("cpx init created %s: config, a keyring protected by a passphrase (Argon2id),", dir)
	say("an encrypted Badger store, and the administrator %q.", creds.User)
	say("The node serves its local API at %s (Connect over HTTP, loopback only).", url)

	admin := newConn(url, creds.Token, "")
	step("2. The administrator adds staff, each with a role")
	tokens := map[string]string{}
	for _, u := range []struct{ name, role, group, who string }{
		{"amina", "caseworker", "hargeisa", "caseworker, Hargeisa team"},
		{"yusuf", "caseworker", "mogadishu", "caseworker, Mogadishu team"},
		{"hodan", "supervisor", "hargeisa", "supervisor of the Hargeisa team"},
		{"cp-coord", "coordinator", "", "read-only coordinator (sees no identifying fields)"},
	} {
		resp, err := admin.Users.AddUser(ctx, connect.NewRequest(&localv1.AddUserRequest{Name: u.name, Role: u.role, Group: u.group}))
		if err != nil {
			return err
		}
		tokens[u.name] = resp.Msg.Token
		say("  %-9s %s", u.name, u.who)
	}
	amina := newConn(url, tokens["amina"], "")
	yusuf := newConn(url, tokens["yusuf"], "")
	hodan := newConn(url, tokens["hodan"], "")
	coord := newConn(url, tokens["cp-coord"], "")

	step("3. Amina registers a separated child (validated against the standard forms)")
	fields, _ := structpb.NewStruct(map[string]any{
		"name_first": "Faduma", "name_last": "Abdi", "name_other": "Fadumo", "sex": "female", "age": "9", "estimated": "yes",
		"telephone_current": "+252 63 400 0000",
		"location_current":  "SO0101", "risk_level": "high",
		"consent_for_services": "yes", "disclosure_other_orgs": "yes", "consent_for_tracing": "yes", "interview_subject": "caregiver",
	})
	created, err := amina.Cases.CreateCase(ctx, connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: fields}))
	if err != nil {
		return err
	}
	cs := created.Msg.Case
	say("Case %s: %s %s, %v years (estimated), risk %s, stage %s.", cs.CaseNumber,
		cs.Fields.AsMap()["name_first"], cs.Fields.AsMap()["name_last"], cs.Fields.AsMap()["age"], cs.RiskLevel, cs.WorkflowStage)
	bad, _ := structpb.NewStruct(map[string]any{"name_first": "X", "sex": "unknown-value", "date_of_birth": "2090-01-01"})
	_, err = amina.Cases.CreateCase(ctx, connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: bad}))
	say("A form with mistakes is refused, naming each field and rule:\n  %s", Message(err))

	step("4. The case moves through the workflow")
	upd, _ := structpb.NewStruct(map[string]any{
		"protection_concerns": "separated,psychosocial_distress", "assessment_requested_on": "2026-11-20",
		"family_details_section": `[{"relation_name":"Halima Abdi","relation":"mother","relation_is_caregiver":false}]`,
	})
	updated, err := amina.Cases.UpdateCase(ctx, connect.NewRequest(&localv1.UpdateCaseRequest{Id: cs.Id, Fields: upd}))
	if err != nil {
		return err
	}
	say("Amina records protection concerns, the mother's name and an assessment: version %d, stage %s.",
		updated.Msg.Case.Version, updated.Msg.Case.WorkflowStage)

	step("5. Who may see what")
	_, err = yusuf.Cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: cs.CaseNumber}))
	say("Yusuf (another team) asks for %s: %s", cs.CaseNumber, Message(err))
	sup, err := hodan.Cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: cs.CaseNumber}))
	if err != nil {
		return err
	}
	say("Hodan (Amina's supervisor) reads it: %d fields.", len(sup.Msg.Case.Fields.GetFields()))
	co, err := coord.Cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: cs.CaseNumber}))
	if err != nil {
		return err
	}
	var visible []string
	for k := range co.Msg.Case.Fields.GetFields() {
		visible = append(visible, k)
	}
	say("The coordinator reads it with identifying fields removed by the node: %d fields, no names (%s).",
		len(visible), strings.Join(slices.Sorted(slices.Values(visible)), ", "))
	_, err = admin.Cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: cs.CaseNumber}))
	say("The administrator manages the node but does not read case files: %s", Message(err))

	step("6. History and the audit log")
	hist, err := amina.Cases.CaseHistory(ctx, connect.NewRequest(&localv1.CaseHistoryRequest{Id: cs.Id}))
	if err != nil {
		return err
	}
	for _, v := range hist.Msg.Versions {
		say("  version %d by %s (%s): %s", v.Version, v.Actor, v.Action, strings.Join(v.ChangedFields, ", "))
	}
	tail, err := admin.Audit.TailAudit(ctx, connect.NewRequest(&localv1.TailAuditRequest{N: 6}))
	if err != nil {
		return err
	}
	say("Every read, change and refusal is in the hash-chained audit log; the newest entries:")
	for _, e := range tail.Msg.Entries {
		say("  #%-3d %-10s %-14s %-8s %s", e.Seq, e.Actor, e.Action, e.Outcome, e.Object)
	}
	v, err := admin.Audit.VerifyAudit(ctx, connect.NewRequest(&localv1.VerifyAuditRequest{}))
	if err != nil {
		return err
	}
	say("cpx audit verify: ok=%v, %d entries, head %s…", v.Msg.Ok, v.Msg.Entries, v.Msg.HeadHash[:16])

	if err := demoFederation(ctx, say, step, base, pass, a, amina, tokens); err != nil {
		return err
	}

	step("Done")
	if keep {
		say("The node directory is kept: %s", dir)
		say("Start them again with: CPX_PASSPHRASE=%s cpx start --dir %s (and the other agencies' directories next to it)", pass, dir)
	} else {
		say("The temporary nodes were removed. Set one up for real with `cpx init --help`.")
	}
	return nil
}

// demoNode is an agency node running in this process for the demo.
type demoNode struct {
	agency string
	dir    string
	url    string
	creds  nodedir.Credentials
	admin  *conn
	stop   func() error
}

// startDemoNode initialises and starts a node with embedded defaults on
// loopback (free ports), as cpx init and cpx start would.
func startDemoNode(ctx context.Context, base, agency, name, prefix string, pass []byte, opts ...func(*config.Config)) (*demoNode, error) {
	cfg := config.Default()
	cfg.Agency = config.Agency{ID: agency, Name: name}
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	cfg.Cases.NumberPrefix = prefix
	for _, o := range opts {
		o(&cfg)
	}
	dir := filepath.Join(base, agency)
	creds, err := daemon.Init(ctx, daemon.InitOptions{Dir: dir, Config: cfg, Passphrase: pass, KDF: &demoKDF})
	if err != nil {
		return nil, err
	}
	n, err := daemon.Open(ctx, dir, cfg, pass, nil)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx, func(url string) { ready <- url }) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		n.Close()
		return nil, err
	}
	d := &demoNode{agency: agency, dir: dir, url: url, creds: creds, admin: newConn(url, creds.Token, "")}
	d.stop = func() error {
		cancel()
		return errors.Join(<-done, n.Close())
	}
	return d, nil
}

// demoAgencyParties are the demo's three agencies as ISP parties, each
// with its signing key to fill in.
const demoAgencyParties = `[[party]]
agency = "save-the-children-so"
name = "Save the Children Somalia"
signing_key = "%s"

[[party]]
agency = "irc-so"
name = "International Rescue Committee Somalia"
signing_key = "%s"

[[party]]
agency = "unicef-so"
name = "UNICEF Somalia"
signing_key = "%s"
`

// demoISP is the information-sharing protocol of the demo's three agencies.
const demoISP = `format = "cpx-isp/1"
id = "so-demo-isp"
version = 1
title = "Demo ISP: Save the Children, IRC and UNICEF Somalia"
valid_from = 2026-01-01T00:00:00Z
valid_until = 2030-01-01T00:00:00Z

` + demoAgencyParties + `
# Referrals for services: identity and protection concerns, never contact details.
[[purpose]]
name = "referral"
from = ["save-the-children-so"]
to = ["irc-so"]
required_consent = ["consent_for_services", "disclosure_other_orgs"]
forms = ["registration", "protection_concerns"]
withheld = ["name_other", "telephone_current", "address_current", "protection_concern_details"]
retention_days = 365

# Transfers of case ownership: the sender keeps a stub.
[[purpose]]
name = "transfer"
from = ["save-the-children-so"]
to = ["unicef-so"]
required_consent = ["disclosure_other_orgs"]
forms = ["registration", "protection_concerns", "family_details"]
retention = "stub"

# Family tracing: UNICEF may ask the others whether they hold a sought
# child (encodings only, answered with bands), and on acceptance learn sex
# and age.
[[purpose]]
name = "tracing"
from = ["unicef-so"]
to = ["save-the-children-so", "irc-so"]
required_consent = ["consent_for_tracing"]
fields = ["sex", "age"]
`

func demoFederation(ctx context.Context, say func(string, ...any), step func(string), base string, pass []byte, a *demoNode, amina *conn, tokens map[string]string) (err error) {
	step("7. Two more agencies start their nodes and become peers over libp2p")
	b, err := startDemoNode(ctx, base, "irc-so", "International Rescue Committee Somalia", "IRC", pass)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.stop()) }()
	c, err := startDemoNode(ctx, base, "unicef-so", "UNICEF Somalia", "UNSO", pass)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.stop()) }()
	nodes := []*demoNode{a, b, c}
	ids := map[string]*localv1.NodeIDResponse{}
	for _, n := range nodes {
		resp, err := n.admin.Fed.NodeID(ctx, connect.NewRequest(&localv1.NodeIDRequest{}))
		if err != nil {
			return err
		}
		ids[n.agency] = resp.Msg
		say("  %-22s peer %s…, key %s…", n.agency, resp.Msg.PeerId[:16], resp.Msg.KeyFingerprint[:15])
	}
	for _, n := range nodes {
		for _, m := range nodes {
			if n == m {
				continue
			}
			if _, err := n.admin.Fed.AddPeer(ctx, connect.NewRequest(&localv1.AddPeerRequest{Addr: ids[m.agency].Addrs[0], Agency: m.agency})); err != nil {
				return fmt.Errorf("%s adds %s: %w", n.agency, m.agency, err)
			}
		}
	}
	say("Each administrator ran `cpx peer add ADDR/p2p/PEERID --agency ...`; the nodes exchanged signed")
	say("key announcements (X-Wing for encryption, Ed25519 + ML-DSA-65 for signatures). Unknown peers")
	say("are refused by each node's connection gater.")

	step("8. The three agencies sign an Information Sharing Protocol")
	doc := []byte(fmt.Sprintf(demoISP, ids[a.agency].KeyFingerprint, ids[b.agency].KeyFingerprint, ids[c.agency].KeyFingerprint))
	for _, n := range nodes {
		resp, err := n.admin.Fed.SignPolicy(ctx, connect.NewRequest(&localv1.SignPolicyRequest{Document: doc}))
		if err != nil {
			return fmt.Errorf("%s signs: %w", n.agency, err)
		}
		doc = resp.Msg.Document
	}
	for _, n := range nodes {
		resp, err := n.admin.Fed.ApplyPolicy(ctx, connect.NewRequest(&localv1.ApplyPolicyRequest{Document: doc}))
		if err != nil {
			return err
		}
		if !resp.Msg.Policy.InForce {
			return fmt.Errorf("%s: the ISP is not in force: %s", n.agency, resp.Msg.Policy.Problem)
		}
	}
	say("ISP so-demo-isp v1 is signed by all three parties and in force on every node:")
	say("  referral  save-the-children-so → irc-so, with consent for services and disclosure, no contact details")
	say("  transfer  save-the-children-so → unicef-so, the sender keeps a stub")

	step("9. Amina refers Faduma to IRC for psychosocial support")
	cases, err := amina.Cases.ListCases(ctx, connect.NewRequest(&localv1.ListCasesRequest{}))
	if err != nil || len(cases.Msg.Cases) == 0 {
		return fmt.Errorf("listing Amina's cases: %w", err)
	}
	faduma := cases.Msg.Cases[0]
	check, err := amina.Fed.CheckPolicy(ctx, connect.NewRequest(&localv1.CheckPolicyRequest{CaseId: faduma.Id, To: "irc-so", Purpose: "referral"}))
	if err != nil {
		return err
	}
	say("cpx policy check explains, field by field, what would go:")
	for _, f := range check.Msg.Fields {
		say("  %-24s %-11s %s", f.Field, f.Outcome, f.Reason)
	}
	sent, err := amina.Fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "referral", CaseId: faduma.Id, To: "irc-so", Service: "psychosocial", Note: "Separated from her mother; needs support now."}))
	if err != nil {
		return err
	}
	ref := sent.Msg.Exchange.Id
	say("Referral %s is sealed to IRC's key, signed twice, and queued (status %s).", ref[:8], sent.Msg.Exchange.Status)

	bw, err := b.admin.Users.AddUser(ctx, connect.NewRequest(&localv1.AddUserRequest{Name: "ibrahim", Role: "caseworker", Group: "intake"}))
	if err != nil {
		return err
	}
	ibrahim := newConn(b.url, bw.Msg.Token, "")
	if err := demoWait(ctx, func() bool { return demoStatus(ctx, ibrahim, ref) == "delivered" }); err != nil {
		return fmt.Errorf("the referral did not reach IRC: %w", err)
	}
	got, err := ibrahim.Fed.GetExchange(ctx, connect.NewRequest(&localv1.GetExchangeRequest{Id: ref}))
	if err != nil {
		return err
	}
	received := got.Msg.Exchange.Fields.AsMap()
	say("IRC's node verified both signatures, its own copy of the ISP, and the projection. The referral belongs")
	say("to IRC's intake group (exchange.intake_group); Ibrahim, in that group, sees:")
	say("  %s", strings.Join(slices.Sorted(maps.Keys(received)), ", "))
	say("No telephone, address or other names: the ISP withholds them, and IRC's node would refuse them.")
	if _, err := ibrahim.Fed.Respond(ctx, connect.NewRequest(&localv1.RespondRequest{Id: ref, Response: "accept"})); err != nil {
		return err
	}
	if _, err := ibrahim.Fed.Respond(ctx, connect.NewRequest(&localv1.RespondRequest{Id: ref, Response: "done", Reason: "four sessions held"})); err != nil {
		return err
	}
	if err := demoWait(ctx, func() bool { return demoStatus(ctx, amina, ref) == "done" }); err != nil {
		return fmt.Errorf("Save the Children did not hear back: %w", err)
	}
	say("Ibrahim accepts and later marks it done; Amina's node shows the referral as done.")

	step("10. Amina transfers another case to UNICEF")
	f, _ := structpb.NewStruct(map[string]any{
		"name_first": "Ahmed", "name_last": "Yusuf", "sex": "male", "age": "14", "disclosure_other_orgs": "yes",
		"protection_concerns": "child_labour",
	})
	ahmed, err := amina.Cases.CreateCase(ctx, connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: f}))
	if err != nil {
		return err
	}
	sent, err = amina.Fed.Send(ctx, connect.NewRequest(&localv1.SendRequest{Kind: "transfer", CaseId: ahmed.Msg.Case.Id, To: "unicef-so", Note: "family moved to Mogadishu"}))
	if err != nil {
		return err
	}
	tr := sent.Msg.Exchange.Id
	cw, err := c.admin.Users.AddUser(ctx, connect.NewRequest(&localv1.AddUserRequest{Name: "sahra", Role: "caseworker", Group: "intake"}))
	if err != nil {
		return err
	}
	sahra := newConn(c.url, cw.Msg.Token, "")
	if err := demoWait(ctx, func() bool { return demoStatus(ctx, sahra, tr) == "delivered" }); err != nil {
		return fmt.Errorf("the transfer did not reach UNICEF: %w", err)
	}
	acc, err := sahra.Fed.Respond(ctx, connect.NewRequest(&localv1.RespondRequest{Id: tr, Response: "accept"}))
	if err != nil {
		return err
	}
	if err := demoWait(ctx, func() bool { return demoStatus(ctx, amina, tr) == "accepted" }); err != nil {
		return err
	}
	mine, err := sahra.Cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: acc.Msg.Exchange.LocalCase}))
	if err != nil {
		return err
	}
	left, err := amina.Cases.GetCase(ctx, connect.NewRequest(&localv1.GetCaseRequest{Id: ahmed.Msg.Case.Id}))
	if err != nil {
		return err
	}
	say("Sahra at UNICEF accepts: the case is now %s at UNICEF, owned by %s.", mine.Msg.Case.CaseNumber, mine.Msg.Case.Owner)
	say("Save the Children keeps what the ISP's retention says (stub): %s is %s, with only %s.",
		left.Msg.Case.CaseNumber, left.Msg.Case.Status, strings.Join(slices.Sorted(maps.Keys(left.Msg.Case.Fields.AsMap())), ", "))
	if err := demoTracing(ctx, say, step, sahra); err != nil {
		return err
	}
	reporters := []demoReporter{{node: a, caseworker: amina, counter: newConn(a.url, tokens["cp-coord"], "")}, {node: b, caseworker: ibrahim}, {node: c, caseworker: sahra}}
	for i := range reporters[1:] {
		r := &reporters[1+i]
		u, err := r.node.admin.Users.AddUser(ctx, connect.NewRequest(&localv1.AddUserRequest{Name: "imo", Role: "coordinator"}))
		if err != nil {
			return err
		}
		r.counter = newConn(r.node.url, u.Msg.Token, "")
	}
	return demoCoordination(ctx, say, step, base, pass, reporters)
}

// demoTracing: a mother asks UNICEF to find her daughter, and UNICEF's node
// asks the other agencies without sending her name.
func demoTracing(ctx context.Context, say func(string, ...any), step func(string), sahra *conn) error {
	step("11. A mother asks UNICEF to find her daughter; UNICEF asks the other agencies")
	set, _ := structpb.NewStruct(map[string]any{
		"inquirer_name": "Xaliimo Cabdi", "relation": "mother", "consent_for_tracing": true,
		"trace.name": "Fadumo Abdi", "trace.sex": "female", "trace.age": "10", "trace.location_origin": "SO0101",
	})
	req, err := sahra.Trace.CreateTracingRequest(ctx, connect.NewRequest(&localv1.CreateTracingRequestRequest{Set: set}))
	if err != nil {
		return err
	}
	say("Tracing request %s: Fadumo Abdi, about 10, sought by her mother.", req.Msg.Request.Number)
	resp, err := sahra.Trace.FederatedMatchTracingRequest(ctx, connect.NewRequest(&localv1.FederatedMatchTracingRequestRequest{Id: req.Msg.Request.Id}))
	if err != nil {
		return err
	}
	say("Only keyed Bloom-filter encodings of the request travel, sealed; the agencies answer with bands and opaque handles:")
	for _, m := range resp.Msg.Matches {
		say("  %-22s %-9s handle %s…", m.Agency, m.Band, m.Handle[:min(8, len(m.Handle))])
	}
	for _, u := range resp.Msg.Unreachable {
		say("  not asked: %s", u)
	}
	if len(resp.Msg.Matches) == 0 {
		say("  (no agency holds a consented case that comes close)")
		return nil
	}
	m := resp.Msg.Matches[0]
	if _, err := sahra.Trace.RequestTracingDetails(ctx, connect.NewRequest(&localv1.RequestTracingDetailsRequest{
		Agency: m.Agency, Handle: m.Handle, Note: "mother registered in Mogadishu"})); err != nil {
		return err
	}
	say("Sahra asks %s about its candidate: its caseworker accepts or rejects the disclosure like a referral (cpx disclosure), and only what the ISP allows for tracing (sex, age) would travel.", m.Agency)
	return nil
}

func demoStatus(ctx context.Context, c *conn, id string) string {
	resp, err := c.Fed.ListExchanges(ctx, connect.NewRequest(&localv1.ListExchangesRequest{}))
	if err != nil {
		return ""
	}
	for _, e := range resp.Msg.Exchanges {
		if e.Id == id {
			return e.Status
		}
	}
	return ""
}

// demoWait polls cond for up to 30 seconds.
func demoWait(ctx context.Context, cond func() bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("timed out")
}
