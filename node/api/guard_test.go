package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cpx-node/cpx/node/api"
)

// TestAuthenticateBeforeDecode is the attack of an unauthenticated caller
// who sends a body costly to decode: the refusal must come from the token
// check, before the body is read. A body that does not even parse is
// answered "unauthenticated", not "invalid argument"; one over the
// method's limit is refused by its declared length alone; a token does
// not lift the limits.
func TestAuthenticateBeforeDecode(t *testing.T) {
	url, s := newServer(t)
	token := addUser(t, s, "ana", "caseworker", "north")
	post := func(path, token string, body []byte, contentLength int64) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if contentLength >= 0 {
			req.ContentLength = contentLength
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var e struct{ Code string }
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &e)
		return resp.StatusCode, e.Code
	}
	const create = "/cpx.local.v1.CaseService/CreateCase"
	for _, c := range []struct {
		name, path, token string
		body              []byte
		status            int
		code              string
	}{
		{"garbage without a token", create, "", []byte("{not json at all"), 401, "unauthenticated"},
		{"garbage with a wrong token", create, "cpx_wrong", []byte("{not json"), 401, "unauthenticated"},
		{"garbage with a token", create, token, []byte("{not json"), 400, "invalid_argument"},
		{"over the limit without a token", create, "", bytes.Repeat([]byte(" "), api.MaxBodyBytes+1), 413, "resource_exhausted"},
		{"over the limit with a token", create, token, bytes.Repeat([]byte(" "), api.MaxBodyBytes+1), 413, "resource_exhausted"},
		{"a valid call", create, token, []byte(`{"form":"registration","fields":{"name_first":"Amina","sex":"female"}}`), 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, code := post(c.path, c.token, c.body, -1)
			if status != c.status || code != c.code {
				t.Errorf("got %d %q, want %d %q", status, code, c.status, c.code)
			}
		})
	}
	// A body longer than it claims: cut at the limit while reading.
	status, _ := post(create, token, []byte(`{"form":"registration","fields":{"x":"`+strings.Repeat("a", api.MaxBodyBytes)+`"}}`), -1)
	if status == 200 {
		t.Errorf("a %d-byte body was accepted", api.MaxBodyBytes)
	}
}
