package command

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

// clientFlags are the connection and output flags every client command
// takes.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    "dir",
			Usage:   "the node directory `DIR`: read the API address from DIR/api.url and the token from DIR/credentials.json",
			EnvVars: []string{"CPX_DIR"},
		},
		&cli.StringFlag{
			Name:    "api",
			Usage:   "the node's local API `URL` (overrides DIR/api.url)",
			EnvVars: []string{"CPX_API"},
		},
		&cli.StringFlag{
			Name:    "token",
			Usage:   "bearer `TOKEN` (overrides DIR/credentials.json; prefer CPX_TOKEN, command lines are visible to other users)",
			EnvVars: []string{"CPX_TOKEN"},
		},
		outputFlag(),
	}
}

// conn is a connection to a node's local API: one HTTP client shared by the
// Connect clients of every service.
type conn struct {
	url   string
	Node  localv1connect.NodeServiceClient
	Users localv1connect.UserServiceClient
	Cases localv1connect.CaseServiceClient
	Forms localv1connect.FormServiceClient
	Audit localv1connect.AuditServiceClient
	Fed   localv1connect.FederationServiceClient
	Keys  localv1connect.KeysServiceClient
	Back  localv1connect.BackupServiceClient
	Trace localv1connect.TracingServiceClient
	// Reports serves cpx report.
	Reports localv1connect.ReportServiceClient
}

// outputAndDial reads the output format (a usage error first) and then
// resolves the connection (dial): how a client command opens after checking
// its own arguments.
func outputAndDial(c *cli.Context) (asJSON bool, cn *conn, err error) {
	if asJSON, err = jsonOutput(c); err != nil {
		return false, nil, err
	}
	cn, err = dial(c)
	return asJSON, cn, err
}

// dial resolves the connection flags of c and returns the API clients. It
// does not contact the node.
func dial(c *cli.Context) (*conn, error) {
	dir := c.String("dir")
	api := c.String("api")
	token := c.String("token")
	if api == "" {
		if dir == "" {
			return nil, usageErrorf("no node given: pass --dir DIR (or set CPX_DIR), or --api URL and --token TOKEN")
		}
		u, err := nodedir.ReadAPIURL(dir)
		if err != nil {
			return nil, err
		}
		api = u
	}
	if token == "" {
		if dir == "" {
			return nil, usageErrorf("no token given: pass --token TOKEN (or set CPX_TOKEN), or --dir DIR with a credentials.json")
		}
		cr, err := nodedir.ReadCredentials(dir)
		if err != nil {
			return nil, fmt.Errorf("%w (pass --token TOKEN or set CPX_TOKEN)", err)
		}
		token = cr.Token
	}
	if strings.ContainsAny(token, "\r\n") {
		return nil, usageErrorf("the token contains a line break")
	}
	u, err := url.Parse(api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("bad API URL %q: want http://HOST:PORT", api)
	}
	return newConn(strings.TrimRight(api, "/"), token, dir), nil
}

// newConn returns the API clients for the node at api (a base URL) calling
// with token. dir, if known, only improves the message when the node cannot
// be reached. It does not contact the node.
func newConn(api, token, dir string) *conn {
	base := &http.Transport{
		Proxy:                 nil, // the local API is on loopback or a LAN; never go through a proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
		ExpectContinueTimeout: time.Second,
	}
	hc := &http.Client{Transport: &authTransport{base: base, auth: "Bearer " + token, url: api, dir: dir}}
	return &conn{
		url:   api,
		Node:  localv1connect.NewNodeServiceClient(hc, api),
		Users: localv1connect.NewUserServiceClient(hc, api),
		Cases: localv1connect.NewCaseServiceClient(hc, api),
		Forms: localv1connect.NewFormServiceClient(hc, api),
		Audit: localv1connect.NewAuditServiceClient(hc, api),
		Fed:   localv1connect.NewFederationServiceClient(hc, api),
		Keys:  localv1connect.NewKeysServiceClient(hc, api),
		Back:  localv1connect.NewBackupServiceClient(hc, api),
		Trace: localv1connect.NewTracingServiceClient(hc, api),

		Reports: localv1connect.NewReportServiceClient(hc, api),
	}
}

// authTransport adds the bearer token to every request and turns a failure
// to connect into an unreachableError naming the address.
type authTransport struct {
	base http.RoundTripper
	auth string
	url  string
	dir  string
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", t.auth)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
			return nil, &unreachableError{url: t.url, dir: t.dir, err: err}
		}
		if _, ok := errors.AsType[*net.DNSError](err); ok {
			return nil, &unreachableError{url: t.url, dir: t.dir, err: err}
		}
	}
	return resp, err
}

// args parses the arguments of a leaf command. urfave/cli stops parsing
// flags at the first argument; args also accepts the command's flags after
// its arguments (cpx case close ID --reason R) and returns the remaining
// positional arguments. A "--" ends the flags. It fails with a usage error
// unless there are between min and max arguments (max < 0: no limit).
func args(c *cli.Context, min, max int) ([]string, error) {
	var pos []string
	in := c.Args().Slice()
	for i := 0; i < len(in); i++ {
		a := in[i]
		if a == "--" {
			pos = append(pos, in[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		if name == "h" || name == "help" {
			cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, c.Command)
			return nil, errHelpShown
		}
		f := lookupFlag(c.Command, name)
		if f == nil {
			return nil, usageErrorf("flag provided but not defined: %s (see %s --help)", a, helpName(c))
		}
		if _, ok := f.(*cli.BoolFlag); ok && !hasValue {
			value, hasValue = "true", true
		}
		if !hasValue {
			if i+1 >= len(in) {
				return nil, usageErrorf("flag needs an argument: %s (see %s --help)", a, helpName(c))
			}
			i++
			value = in[i]
		}
		names := f.Names()
		if _, ok := f.(*cli.StringSliceFlag); ok {
			names = names[:1] // aliases share one value; set it once
		}
		for _, n := range names {
			if err := c.Set(n, value); err != nil {
				return nil, usageErrorf("invalid value %q for flag %s: %v", value, a, err)
			}
		}
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		want := fmt.Sprintf("%d", min)
		switch {
		case max < 0:
			want = fmt.Sprintf("at least %d", min)
		case max != min:
			want = fmt.Sprintf("%d to %d", min, max)
		}
		return nil, usageErrorf("%s takes %s argument(s) (%s), got %d (see %s --help)",
			helpName(c), want, c.Command.ArgsUsage, len(pos), helpName(c))
	}
	return pos, nil
}

// errHelpShown is returned by args when it printed the command's help; the
// command then returns nil.
var errHelpShown = errors.New("help shown")

func lookupFlag(cmd *cli.Command, name string) cli.Flag {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}
