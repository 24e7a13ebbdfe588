package vault_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/cpx-node/cpx/conformance/vault"
)

func TestStartStop(t *testing.T) {
	a, b := vault.Start(t), vault.Start(t)
	if a.Addr == b.Addr || a.Token == b.Token {
		t.Errorf("two servers share an address or token: %s, %s", a.Addr, b.Addr)
	}
	mounts, err := a.Client(t).Sys().ListMounts()
	if err != nil {
		t.Fatalf("list mounts: %v", err)
	}
	for _, path := range []string{"transit/", "secret/"} {
		if mounts[path] == nil {
			t.Errorf("mount %s missing; have %v", path, mounts)
		}
	}
	a.Stop()
	a.Stop() // idempotent
	hc := &http.Client{Timeout: time.Second}
	if resp, err := hc.Get(a.Addr + "/v1/sys/health"); err == nil {
		resp.Body.Close()
		t.Errorf("stopped server still answers: %s", resp.Status)
	}
	if resp, err := hc.Get(b.Addr + "/v1/sys/health"); err != nil {
		t.Errorf("the other server: %v", err)
	} else {
		resp.Body.Close()
	}
}
