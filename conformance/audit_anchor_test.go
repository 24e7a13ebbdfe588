package conformance_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/crypto/keyring"
	"github.com/cpx-node/cpx/node/audit"
	"github.com/cpx-node/cpx/node/exchange"
	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/node/store"
	"github.com/cpx-node/cpx/node/store/badgerstore"
)

// rewriteAuditWithAllSecrets is an insider holding every local secret
// (the passphrase, hence the store key and the audit chain key) with the
// node stopped: it changes the actor of entry seq and rebuilds the chain
// from there, hashes and MACs included, so that the node's own check of
// the chain passes.
func rewriteAuditWithAllSecrets(t *testing.T, dir string, seq uint64) {
	t.Helper()
	ctx := context.Background()
	kr, err := keyring.OpenFile(filepath.Join(dir, nodedir.KeyringFile), []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := os.ReadFile(filepath.Join(dir, nodedir.StoreKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	storeKey, err := kr.Unwrap(ctx, "store-key", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	st, err := badgerstore.Open(ctx, badgerstore.Options{Dir: filepath.Join(dir, nodedir.DataDir), EncryptionKey: storeKey, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	chainKey, err := exchange.Secret(ctx, st, kr, "audit-chain-key", func() ([]byte, error) { return nil, errors.New("no chain key") })
	if err != nil {
		t.Fatal(err)
	}
	keyed := audit.WithKey(st, chainKey)
	err = keyed.Update(ctx, func(w store.Writer) error {
		var tail []audit.Entry
		var prev audit.Entry
		if err := audit.Scan(w, func(e audit.Entry) error {
			if e.Seq < seq {
				prev = e
			} else {
				tail = append(tail, e)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, e := range tail {
			k := binary.BigEndian.AppendUint64([]byte("a/e/"), e.Seq)
			m := binary.BigEndian.AppendUint64([]byte("a/m/"), e.Seq)
			if err := w.Delete(k); err != nil {
				return err
			}
			if err := w.Delete(m); err != nil {
				return err
			}
		}
		head, _ := json.Marshal(map[string]any{"seq": prev.Seq, "hash": prev.Hash})
		if err := w.Set([]byte("a/head"), head); err != nil {
			return err
		}
		for _, e := range tail {
			actor := e.Actor
			if e.Seq == seq {
				actor = "someone-else"
			}
			if _, err := audit.Append(w, e.Time, audit.Event{Actor: actor, Action: e.Action, Object: e.Object, Outcome: e.Outcome}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The node's own check passes: nothing local betrays the rewrite.
	var res audit.Result
	keyed.View(ctx, func(r store.Reader) error {
		res, err = audit.Verify(r)
		return err
	})
	if err != nil || !res.OK || !res.Keyed || res.KeyedThrough != res.Entries {
		t.Fatalf("local check after the insider's rewrite: %+v, %v; want ok and keyed throughout", res, err)
	}
}

// TestAuditRewriteCaughtByPeerCheckpoint: agency-a's audit chain is keyed
// and checkpointed to agency-b, which keeps and countersigns the
// checkpoint. An insider at agency-a with every local secret rewrites an
// old entry and rebuilds the chain so that every local check passes;
// cpx audit verify still catches it through the checkpoint agency-b
// holds, and exits non-zero.
func TestAuditRewriteCaughtByPeerCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	p := newOpsPair(t)
	addUser(t, p.dirA, "amina", "caseworker", "--group", "g1")
	out := must(t, "audit", "checkpoint", "--dir", p.dirA)
	if !strings.Contains(out, "agency-b: kept and countersigned") {
		t.Fatalf("audit checkpoint:\n%s\nwant agency-b to witness it", out)
	}
	out = must(t, "audit", "verify", "--dir", p.dirA)
	if !strings.Contains(out, "peer agency-b: 1 checkpoints match") {
		t.Fatalf("audit verify before the rewrite:\n%s\nwant agency-b's checkpoint to match", out)
	}

	p.a.stop(t)
	rewriteAuditWithAllSecrets(t, p.dirA, 2)
	p.a = start(t, p.dirA)

	r := cpx(t, nil, "audit", "verify", "--dir", p.dirA)
	if r.code == 0 || !strings.Contains(r.stderr, "agency-b holds hash") || !strings.Contains(r.stderr, "rewritten") {
		t.Fatalf("audit verify after the rewrite: exit %d\n%s%s\nwant non-zero naming agency-b's checkpoint", r.code, r.stdout, r.stderr)
	}
	r = cpx(t, nil, "audit", "verify", "--dir", p.dirA, "-o", "json")
	var v struct {
		OK      bool `json:"ok"`
		Anchors []struct {
			Peer    string `json:"peer"`
			Problem string `json:"problem"`
		} `json:"anchors"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("audit verify -o json: %v\n%s", err, r.stdout)
	}
	if v.OK || len(v.Anchors) != 1 || v.Anchors[0].Peer != "agency-b" || v.Anchors[0].Problem == "" {
		t.Errorf("audit verify -o json after the rewrite: %+v; want not ok, agency-b's anchor naming the problem", v)
	}
}
