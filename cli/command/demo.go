package command

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/daemon"
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
coordinator may see, refusals, history and the audit log. The node is
removed at the end unless --keep is given.

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
	dir := filepath.Join(base, "save-the-children-so")
	if !keep {
		defer os.RemoveAll(base)
	}
	var secret [16]byte
	rand.Read(secret[:])
	pass := []byte(hex.EncodeToString(secret[:]))

	step("1. An agency sets up its node")
	cfg := config.Default()
	cfg.Agency = config.Agency{ID: "save-the-children-so", Name: "Save the Children Somalia"}
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	cfg.Cases.NumberPrefix = "SCSO"
	creds, err := daemon.Init(ctx, daemon.InitOptions{Dir: dir, Config: cfg, Passphrase: pass, KDF: &demoKDF})
	if err != nil {
		return err
	}
	say("cpx init created %s: config, a keyring protected by a passphrase (Argon2id),", dir)
	say("an encrypted Badger store, and the administrator %q.", creds.User)

	n, err := daemon.Open(ctx, dir, cfg, pass, nil)
	if err != nil {
		return err
	}
	defer n.Close()
	runCtx, stop := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx, func(url string) { ready <- url }) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		stop()
		return err
	}
	defer func() {
		stop()
		if rerr := <-done; err == nil {
			err = rerr
		}
	}()
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
		"name_first": "Faduma", "name_last": "Abdi", "sex": "female", "age": "9", "estimated": "yes",
		"location_current": "SO0101", "risk_level": "high",
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

	step("Done")
	if keep {
		say("The node directory is kept: %s", dir)
		say("Start it again with: CPX_PASSPHRASE=%s cpx start --dir %s", pass, dir)
	} else {
		say("The temporary node was removed. Set one up for real with `cpx init --help`.")
	}
	return nil
}
