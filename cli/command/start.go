package command

import (
	"errors"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cpx-node/cpx/node/config"
	"github.com/cpx-node/cpx/node/daemon"
	"github.com/cpx-node/cpx/node/nodedir"
	"github.com/cpx-node/cpx/node/store/badgerstore"
)

func startCommand() *cli.Command {
	return &cli.Command{
		Name:  "start",
		Usage: "run a node in the foreground",
		Description: `Opens the node in DIR (passphrase from CPX_PASSPHRASE or a prompt) and
serves the local API on its loopback address, writing the address to
DIR/api.url so that client commands find it. Logs go to stderr; metrics
are at /metrics. SIGINT or SIGTERM stops it cleanly.

Configuration: defaults < DIR/cpx.toml < CPX_* environment < flags
(see docs/config.md).

Example:
   CPX_PASSPHRASE=... cpx start --dir ./agency-a`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "node directory (created by cpx init)", Required: true, EnvVars: []string{"CPX_DIR"}},
			&cli.StringFlag{Name: "listen", Usage: "local API address, overrides api.listen (port 0: any free port)"},
			&cli.StringSliceFlag{Name: "p2p-listen", Usage: "libp2p `MULTIADDR` to listen on, overrides p2p.listen (repeatable)"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error, overrides log.level"},
			&cli.StringFlag{Name: "log-format", Usage: "text or json, overrides log.format"},
		},
		Action: func(c *cli.Context) error {
			if _, err := args(c, 0, 0); err != nil {
				return err
			}
			dir := c.String("dir")
			if err := nodedir.Check(dir); err != nil {
				return err
			}
			flags := map[string]any{}
			for flag, key := range map[string]string{"listen": "api.listen", "log-level": "log.level", "log-format": "log.format"} {
				if c.IsSet(flag) {
					flags[key] = c.String(flag)
				}
			}
			if c.IsSet("p2p-listen") {
				flags["p2p.listen"] = c.StringSlice("p2p-listen")
			}
			cfg, err := config.Load(dir, os.Environ(), flags)
			if err != nil {
				return err
			}
			log := newLogger(c, cfg.Log)
			pass, err := keyringPassphrase(c, cfg.Keyring.Kind)
			if err != nil {
				return err
			}
			n, err := daemon.Open(c.Context, dir, cfg, pass, log)
			clear(pass)
			switch {
			case errors.Is(err, badgerstore.ErrLocked):
				return errors.New("another node is already running on " + dir + " (its store is locked)")
			case err != nil:
				return passphraseError(dir, err)
			}
			defer n.Close()
			return n.Run(c.Context, nil)
		},
	}
}

func newLogger(c *cli.Context, lc config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(lc.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts))
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts))
}
