// Package command implements the cpx command-line tool: one file per command
// group, wired together by NewApp. The client commands (status, user, case,
// forms, audit) talk to a running node's local API with Connect over HTTP;
// the server commands (init, start, demo) are defined in server.go.
//
// Exit codes are documented in exit.go and docs/cli.md.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/cpx-node/cpx/node/buildinfo"
)

// Main runs cpx with the process's arguments (args[0] is the program name)
// and returns the exit code. It cancels the running command on SIGINT or
// SIGTERM.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := NewApp(os.Stdout, os.Stderr)
	return ExitCode(app.RunContext(ctx, args))
}

// NewApp returns the cpx application writing its output to stdout and its
// diagnostics, progress and error messages ("cpx: <message>") to stderr.
// Run it with (*cli.App).RunContext and turn the error into an exit code
// with ExitCode; the app itself never calls os.Exit.
func NewApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "cpx",
		Usage: "run a CPX child-protection node and manage its cases",
		Description: "Client commands talk to a running node's local API. Point them at the node\n" +
			"with --dir DIR (or CPX_DIR), which reads DIR/api.url and DIR/credentials.json,\n" +
			"or with --api URL and --token TOKEN (CPX_API, CPX_TOKEN).\n\n" +
			"Exit codes: 0 ok, 1 error, 2 usage error, 3 not found,\n" +
			"4 permission denied or token refused.",
		Writer:      stdout,
		ErrWriter:   stderr,
		HideVersion: true, // --version is ours: the build is read only when asked
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version (module version, commit, or a hash of the binary) and exit"},
		},
		DisableSliceFlagSeparator: true, // --set note=a,b is one value
		Commands: append([]*cli.Command{
			statusCommand(),
			userCommand(),
			caseCommand(),
			traceCommand(),
			formsCommand(),
			reportCommand(),
			auditCommand(),
			nodeCommand(),
			peerCommand(),
			policyCommand(),
			referralCommand(),
			transferCommand(),
			disclosureCommand(),
			outboxCommand(),
			keysCommand(),
			backupCommand(),
			restoreCommand(),
			recoverAdminCommand(),
			taskCommand(),
			approvalCommand(),
			flagCommand(),
			notifyCommand(),
			dashboardCommand(),
			completionCommand(),
			storeCommand(),
			retentionCommand(),
		}, serverCommands()...),
		EnableBashCompletion: true, // the hidden --generate-bash-completion that cpx completion's scripts call
	}
	app.Action = groupAction
	app.OnUsageError = onUsageError
	// Errors are printed here, once, and turned into exit codes by
	// ExitCode; the default handler would call os.Exit.
	app.ExitErrHandler = func(c *cli.Context, err error) {
		if err != nil {
			fmt.Fprintf(stderr, "cpx: %s\n", Message(err))
		}
	}
	setUsageHandlers(app.Commands)
	return app
}

// setUsageHandlers makes flag errors usage errors (exit code 2) in every
// command, gives command groups an action that rejects unknown
// subcommands, and checks required flags itself.
func setUsageHandlers(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = onUsageError
		}
		if len(c.Subcommands) > 0 && c.Action == nil {
			c.Action = groupAction
		}
		required := takeRequired(c.Flags)
		if act := c.Action; act != nil {
			c.Action = func(cc *cli.Context) error {
				if err := checkRequired(cc, required); err != nil {
					return err
				}
				if err := act(cc); !errors.Is(err, errHelpShown) {
					return err
				}
				return nil
			}
		}
		setUsageHandlers(c.Subcommands)
	}
}

func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	return usageErrorf("%v (see %s --help)", err, helpName(c))
}

// groupAction runs for a command group (or the app) called without a known
// subcommand: it shows the help, or fails for an unknown subcommand.
func groupAction(c *cli.Context) error {
	if c.Command == nil || c.Command.Name == c.App.Name {
		if c.Bool("version") {
			_, err := fmt.Fprintf(c.App.Writer, "cpx %s\n", buildinfo.Read())
			return err
		}
	}
	if c.Args().Present() {
		return usageErrorf("unknown command %q (see %s --help)", c.Args().First(), helpName(c))
	}
	if c.Command == nil || c.Command.Name == c.App.Name {
		return cli.ShowAppHelp(c)
	}
	return cli.ShowSubcommandHelp(c)
}

func helpName(c *cli.Context) string {
	if c.Command != nil && c.Command.HelpName != "" {
		return c.Command.HelpName
	}
	return "cpx"
}

// takeRequired returns the names of the flags declared Required and clears
// the mark, so that checkRequired reports them: urfave/cli's own check
// prints the whole help on stdout and no message on stderr.
func takeRequired(flags []cli.Flag) []requiredFlag {
	var names []requiredFlag
	for _, f := range flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			if f.Required {
				f.Required = false
				f.Usage += " (required)"
				names = append(names, requiredFlag{f.Name, false})
			}
		case *cli.StringSliceFlag:
			if f.Required {
				f.Required = false
				f.Usage += " (required)"
				names = append(names, requiredFlag{f.Name, true})
			}
		}
	}
	return names
}

// requiredFlag is a flag that must have a value.
type requiredFlag struct {
	name  string
	slice bool
}

// checkRequired fails with a usage error naming every flag of names that
// has no value, neither from the command line nor from its environment
// variable (an empty CPX_DIR= counts as none).
func checkRequired(c *cli.Context, flags []requiredFlag) error {
	var missing []string
	for _, f := range flags {
		if (f.slice && len(c.StringSlice(f.name)) == 0) || (!f.slice && c.String(f.name) == "") {
			missing = append(missing, strconv.Quote(f.name))
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return usageErrorf("required flag %s not set (see %s --help)", missing[0], helpName(c))
	}
	return usageErrorf("required flags %s not set (see %s --help)", strings.Join(missing, ", "), helpName(c))
}
