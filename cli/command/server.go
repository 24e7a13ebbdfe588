package command

import "github.com/urfave/cli/v2"

// serverCommands are the commands that run a node rather than talk to one.
func serverCommands() []*cli.Command {
	return []*cli.Command{initCommand(), startCommand(), demoCommand()}
}
