package conformance_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	localv1 "github.com/cpx-node/cpx/protocol/gen/cpx/local/v1"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// TestKillDuringWrites kills a node with SIGKILL while clients are creating
// cases, restarts it, and checks that every create the node acknowledged is
// there and that the audit chain is intact.
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts a node")
	}
	dir := initNode(t, "agency-k")
	n := start(t, dir)
	supToken := addUser(t, dir, "sam", "supervisor")
	hc := &http.Client{Transport: bearer(supToken)}

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cases := localv1connect.NewCaseServiceClient(hc, n.url)
			for i := 0; ctx.Err() == nil; i++ {
				f, _ := structpb.NewStruct(map[string]any{"name_first": "Child", "sex": "female", "age": float64(w*1000 + i%18)})
				resp, err := cases.CreateCase(ctx, connect.NewRequest(&localv1.CreateCaseRequest{Form: "registration", Fields: f}))
				if err != nil {
					return // the node is gone
				}
				mu.Lock()
				acked = append(acked, resp.Msg.Case.Id)
				mu.Unlock()
			}
		}()
	}
	// Let writes pile up, then pull the plug.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		k := len(acked)
		mu.Unlock()
		if k >= 200 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.kill()
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no create was acknowledged before the kill")
	}

	n = start(t, dir)
	cases := localv1connect.NewCaseServiceClient(hc, n.url)
	for _, id := range acked {
		if _, err := cases.GetCase(context.Background(), connect.NewRequest(&localv1.GetCaseRequest{Id: id})); err != nil {
			t.Fatalf("acknowledged case %s lost after SIGKILL: %v", id, err)
		}
	}
	var status struct {
		Cases string `json:"cases"`
	}
	mustJSON(t, &status, "status", "--dir", dir)
	var verify struct {
		OK      bool   `json:"ok"`
		Problem string `json:"problem"`
	}
	mustJSON(t, &verify, "audit", "verify", "--dir", dir)
	if !verify.OK {
		t.Errorf("audit chain broken after SIGKILL: %s", verify.Problem)
	}
	t.Logf("%d creates acknowledged before SIGKILL; node reports %s cases after restart", len(acked), status.Cases)
}
