package command

import (
	"io"
	"strings"

	"connectrpc.com/connect"
	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/proto"
)

// call is "connect, call, render" for a client command: it checks the
// number of positional arguments, opens the API client, calls and prints
// the answer as JSON (-o json) or with text.
func call[Resp any, PResp interface {
	*Resp
	proto.Message
}](c *cli.Context, minArgs, maxArgs int, do func(cn *conn, a []string) (*connect.Response[Resp], error), text func(w io.Writer, r PResp) error, required ...string) error {
	return callWith(c, minArgs, maxArgs, func([]string) error { return need(c, required...) }, do, text, nil)
}

// callWith is call for a command that checks more than required flags or
// whose exit status depends on the answer. check, if not nil, runs once
// the arguments (and the flags that may follow them) and the output format
// are read, before the client is opened: it returns the command's own
// usage errors, and may read a file the request needs. outcome, if not nil,
// runs after the answer is printed in either format: a command that did
// not do what it says (a broken audit chain, a refused ISP) returns its
// error there.
func callWith[Resp any, PResp interface {
	*Resp
	proto.Message
}](c *cli.Context, minArgs, maxArgs int, check func(a []string) error, do func(cn *conn, a []string) (*connect.Response[Resp], error), text func(w io.Writer, r PResp) error, outcome func(r PResp) error) error {
	a, err := args(c, minArgs, maxArgs)
	if err != nil {
		return err
	}
	asJSON, err := jsonOutput(c)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(a); err != nil {
			return err
		}
	}
	cn, err := dial(c)
	if err != nil {
		return err
	}
	resp, err := do(cn, a)
	if err != nil {
		return err
	}
	if asJSON {
		err = printJSON(c.App.Writer, PResp(resp.Msg))
	} else {
		err = text(c.App.Writer, PResp(resp.Msg))
	}
	if err != nil || outcome == nil {
		return err
	}
	return outcome(PResp(resp.Msg))
}

// need fails with a usage error naming the first of the flags that is
// empty. (Flags may follow the positional arguments, so urfave/cli's own
// check, made before args reads them, cannot be used.)
func need(c *cli.Context, names ...string) error {
	for _, n := range names {
		if strings.TrimSpace(c.String(n)) == "" {
			return usageErrorf("--%s is required (see %s --help)", n, helpName(c))
		}
	}
	return nil
}
