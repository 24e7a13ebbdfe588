package command

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/protocol/gen/cpx/local/v1/localv1connect"
)

// clientFlags are the connection and output flags every client command
// takes. Their environment variables are read by target, not by urfave/cli,
// so that a flag on the command line can win over every variable.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:  "dir",
			Usage: "the node directory `DIR`: read the API address from DIR/api.url and the token from DIR/credentials.json [$CPX_DIR]",
		},
		&cli.StringFlag{
			Name:  "api",
			Usage: "the node's local API `URL` (overrides DIR/api.url) [$CPX_API]",
		},
		&cli.StringFlag{
			Name:  "token",
			Usage: "bearer `TOKEN` (overrides DIR/credentials.json; prefer CPX_TOKEN, command lines are visible to other users) [$CPX_TOKEN]",
		},
		outputFlag(),
	}
}

// Environment variables of the connection flags.
const (
	envDir   = "CPX_DIR"
	envAPI   = "CPX_API"
	envToken = "CPX_TOKEN"
)

// target is the node and identity a client command will use, and where
// each came from ("--api", "CPX_TOKEN", "--dir ./node (./node/api.url)").
type target struct {
	API, APIFrom     string
	Token, TokenFrom string
	// Dir is the node directory, from --dir or CPX_DIR; DirFrom says which.
	Dir, DirFrom string
}

// resolveTarget finds the node and the token for c. What is on the command
// line wins over the environment; within each, the explicit --api or
// --token wins over the directory's files:
//
//	API:   --api, --dir's api.url, CPX_API, CPX_DIR's api.url
//	token: --token, --dir's credentials.json, CPX_TOKEN, CPX_DIR's credentials.json
//
// A --dir given on the command line without a credentials.json lets
// CPX_TOKEN name the user. It reads the directory's files but does not
// contact the node.
func resolveTarget(c *cli.Context, getenv func(string) string) (target, error) {
	var t target
	flagDir := c.String("dir")
	switch {
	case flagDir != "":
		t.Dir, t.DirFrom = flagDir, "--dir"
	case getenv(envDir) != "":
		t.Dir, t.DirFrom = getenv(envDir), envDir
	}
	fromDir := func(file string) string {
		return fmt.Sprintf("%s %s (%s)", t.DirFrom, t.Dir, filepath.Join(t.Dir, file))
	}
	readAPI := func() error {
		u, err := nodedir.ReadAPIURL(t.Dir)
		if errors.Is(err, nodedir.ErrNotRunning) {
			if nerr := nodedir.Check(t.Dir); nerr != nil {
				err = nerr
			}
		}
		if err != nil {
			return fmt.Errorf("%s %w", t.DirFrom, err)
		}
		t.API, t.APIFrom = u, fromDir(nodedir.APIURLFile)
		return nil
	}
	var credErr error
	readToken := func() bool {
		cr, err := nodedir.ReadCredentials(t.Dir)
		if err != nil {
			credErr = err
			return false
		}
		t.Token, t.TokenFrom = cr.Token, fromDir(nodedir.CredentialsFile)
		return true
	}
	switch {
	case c.String("api") != "":
		t.API, t.APIFrom = c.String("api"), "--api"
	case flagDir != "":
		if err := readAPI(); err != nil {
			return t, err
		}
	case getenv(envAPI) != "":
		t.API, t.APIFrom = getenv(envAPI), envAPI
	case t.Dir != "":
		if err := readAPI(); err != nil {
			return t, err
		}
	default:
		return t, usageErrorf("no node given: pass --dir DIR (or set CPX_DIR), or --api URL and --token TOKEN")
	}
	switch {
	case c.String("token") != "":
		t.Token, t.TokenFrom = c.String("token"), "--token"
	case flagDir != "" && readToken():
	case getenv(envToken) != "":
		t.Token, t.TokenFrom = getenv(envToken), envToken
	case flagDir == "" && t.Dir != "" && readToken():
	case credErr != nil:
		return t, fmt.Errorf("%w (pass --token TOKEN or set CPX_TOKEN)", credErr)
	default:
		return t, usageErrorf("no token given: pass --token TOKEN (or set CPX_TOKEN), or --dir DIR with a credentials.json")
	}
	return t, nil
}

// conn is a connection to a node's local API: one HTTP client shared by the
// Connect clients of every service.
type conn struct {
	url    string
	target target // how url and the token were found
	Node   localv1connect.NodeServiceClient
	Users  localv1connect.UserServiceClient
	Cases  localv1connect.CaseServiceClient
	Forms  localv1connect.FormServiceClient
	Audit  localv1connect.AuditServiceClient
	Fed    localv1connect.FederationServiceClient
	Keys   localv1connect.KeysServiceClient
	Back   localv1connect.BackupServiceClient
	Trace  localv1connect.TracingServiceClient
	// Reports serves cpx report.
	Reports localv1connect.ReportServiceClient
	Work    localv1connect.CaseworkServiceClient
	Ret     localv1connect.RetentionServiceClient
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

// dial resolves the connection flags of c (see resolveTarget) and returns
// the API clients. It does not contact the node.
func dial(c *cli.Context) (*conn, error) {
	t, err := resolveTarget(c, os.Getenv)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(t.Token, "\r\n") {
		return nil, usageErrorf("the token (from %s) contains a line break", t.TokenFrom)
	}
	u, err := url.Parse(t.API)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("bad API URL %q (from %s): want http://HOST:PORT", t.API, t.APIFrom)
	}
	t.API = strings.TrimRight(t.API, "/")
	return connTo(t), nil
}

// newConn returns the API clients for the node at api (a base URL) calling
// with token. dir, if known, only improves the message when the node cannot
// be reached. It does not contact the node.
func newConn(api, token, dir string) *conn {
	return connTo(target{API: api, Token: token, Dir: dir})
}

// connTo returns the API clients for the node and token of t.
func connTo(t target) *conn {
	api := t.API
	base := &http.Transport{
		Proxy:                 nil, // the local API is on loopback or a LAN; never go through a proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
		ExpectContinueTimeout: time.Second,
	}
	hc := &http.Client{Transport: &authTransport{base: base, auth: "Bearer " + t.Token, url: api, from: t.APIFrom, dir: t.Dir}}
	return &conn{
		url:     api,
		target:  t,
		Node:    localv1connect.NewNodeServiceClient(hc, api),
		Users:   localv1connect.NewUserServiceClient(hc, api),
		Cases:   localv1connect.NewCaseServiceClient(hc, api),
		Forms:   localv1connect.NewFormServiceClient(hc, api),
		Audit:   localv1connect.NewAuditServiceClient(hc, api),
		Fed:     localv1connect.NewFederationServiceClient(hc, api),
		Keys:    localv1connect.NewKeysServiceClient(hc, api),
		Back:    localv1connect.NewBackupServiceClient(hc, api),
		Trace:   localv1connect.NewTracingServiceClient(hc, api),
		Reports: localv1connect.NewReportServiceClient(hc, api),
		Work:    localv1connect.NewCaseworkServiceClient(hc, api),
		Ret:     localv1connect.NewRetentionServiceClient(hc, api),
	}
}

// authTransport adds the bearer token to every request and turns a failure
// to connect into an unreachableError naming the address.
type authTransport struct {
	base http.RoundTripper
	auth string
	url  string
	from string // where url came from, if known
	dir  string
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", t.auth)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
			return nil, &unreachableError{url: t.url, from: t.from, dir: t.dir, err: err}
		}
		if _, ok := errors.AsType[*net.DNSError](err); ok {
			return nil, &unreachableError{url: t.url, from: t.from, dir: t.dir, err: err}
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
	if err := checkTextFlags(c); err != nil {
		return nil, err
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

// textLimits bounds the free-text flags, in bytes, as the node does (case
// close, purge, referral and transfer answers and tracing decisions keep a
// reason of at most 2000 bytes; notes go up to 4000, a service name to
// 200). Checking here names the flag at fault ("--note is too long"),
// which the node's answer cannot.
var textLimits = map[string]int{"reason": 2000, "note": 4000, "service": 200}

// checkTextFlags fails with a usage error naming the first free-text flag
// of c's command whose value is longer than textLimits allows.
func checkTextFlags(c *cli.Context) error {
	if c.Command == nil {
		return nil
	}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		max, ok := textLimits[name]
		if !ok {
			continue
		}
		if n := len(strings.TrimSpace(c.String(name))); n > max {
			return usageErrorf("--%s is too long: %d bytes, at most %d", name, n, max)
		}
	}
	return nil
}
