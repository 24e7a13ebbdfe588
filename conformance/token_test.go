package conformance_test

import (
	"strings"
	"testing"
)

// TestTokens: an administrator issues a second token to a user and revokes
// the first; the revoked token is refused at once, the other works; a
// caseworker may revoke only their own tokens; token ids never
// authenticate.
func TestTokens(t *testing.T) {
	dir := initNode(t, "agency-t")
	n := start(t, dir)
	first := addUser(t, dir, "ana", "caseworker", "--group", "north")
	ben := addUser(t, dir, "ben", "caseworker", "--group", "north")
	var issued struct {
		Info struct {
			ID string `json:"id"`
		} `json:"info"`
		Token string `json:"token"`
	}
	mustJSON(t, &issued, "user", "token", "issue", "ana", "--ttl", "720h", "--dir", dir)
	if !strings.HasPrefix(issued.Token, "cpx_") || issued.Info.ID == "" {
		t.Fatalf("token issue: %+v", issued)
	}
	var list struct {
		Tokens []struct {
			ID   string `json:"id"`
			User string `json:"user"`
		} `json:"tokens"`
	}
	mustJSON(t, &list, "user", "token", "list", "ana", "--dir", dir)
	if len(list.Tokens) != 2 {
		t.Fatalf("ana's tokens: %+v, want 2", list.Tokens)
	}
	var firstID string
	for _, tk := range list.Tokens {
		if tk.ID != issued.Info.ID {
			firstID = tk.ID
		}
	}
	if r := cpx(t, nil, "case", "list", "--api", n.url, "--token", firstID); r.code != 4 {
		t.Errorf("a token id used as a token: exit %d, want 4", r.code)
	}
	// Ben may not revoke Ana's token; Ana may list her own.
	if r := cpx(t, nil, "user", "token", "revoke", firstID, "--api", n.url, "--token", ben); r.code != 4 {
		t.Errorf("a caseworker revoking another's token: exit %d, want 4", r.code)
	}
	mustJSON(t, &list, "user", "token", "list", "--api", n.url, "--token", first)
	if len(list.Tokens) != 2 || list.Tokens[0].User != "ana" {
		t.Errorf("ana listing her own tokens: %+v", list.Tokens)
	}
	must(t, "user", "token", "revoke", firstID[:8], "--dir", dir)
	if r := cpx(t, nil, "case", "list", "--api", n.url, "--token", first); r.code != 4 {
		t.Errorf("the revoked token: exit %d, want 4 (refused at once)", r.code)
	}
	if r := cpx(t, nil, "case", "list", "--api", n.url, "--token", issued.Token); r.code != 0 {
		t.Errorf("ana's other token: exit %d: %s", r.code, r.stderr)
	}
	// Ana revokes all of her own tokens, with the one she holds.
	must(t, "user", "token", "revoke", "--user", "ana", "--all", "--api", n.url, "--token", issued.Token)
	if r := cpx(t, nil, "case", "list", "--api", n.url, "--token", issued.Token); r.code != 4 {
		t.Errorf("after revoking all: exit %d, want 4", r.code)
	}
	if tail := must(t, "audit", "tail", "-n", "20", "--dir", dir); !strings.Contains(tail, "user.token.revoke") || !strings.Contains(tail, "user.token.issue") {
		t.Errorf("token issue and revoke not audited:\n%s", tail)
	}
}
