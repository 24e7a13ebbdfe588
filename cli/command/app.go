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
	"syscall"

	"github.com/urfave/cli/v2"
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
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideVersion:               true,
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
		}, serverCommands()...),
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
// command, and gives command groups an action that rejects unknown
// subcommands.
func setUsageHandlers(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = onUsageError
		}
		if len(c.Subcommands) > 0 && c.Action == nil {
			c.Action = groupAction
		}
		if act := c.Action; act != nil {
			c.Action = func(cc *cli.Context) error {
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
