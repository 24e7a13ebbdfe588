package command

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Completion scripts. Each asks cpx itself for the candidates at the
// cursor (urfave/cli's --generate-bash-completion: subcommands, or the
// command's flags after a "-"), so they follow the commands of the
// installed binary and never go stale. Where cpx suggests nothing (a
// file argument), the shell completes file names.
const (
	bashCompletion = `# bash completion for cpx. Load it with:
#   source <(cpx completion bash)
# or install it: cpx completion bash > /etc/bash_completion.d/cpx
_cpx_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}" opts
  local -a line=("${COMP_WORDS[@]:0:COMP_CWORD}")
  if [[ "$cur" == -* ]]; then
    opts=$("${line[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${line[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o bashdefault -o default -F _cpx_complete cpx
`
	zshCompletion = `#compdef cpx
# zsh completion for cpx. Load it with:
#   source <(cpx completion zsh)
# or install it as _cpx in a directory of $fpath.
_cpx() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [[ "$funcstack[1]" == "_cpx" ]]; then
  _cpx "$@"
else
  compdef _cpx cpx
fi
`
	fishCompletion = `# fish completion for cpx. Load it with:
#   cpx completion fish | source
# or install it: cpx completion fish > ~/.config/fish/completions/cpx.fish
function __cpx_complete
    set -l line (commandline -opc)
    set -l cur (commandline -ct)
    if string match -q -- '-*' $cur
        command $line $cur --generate-bash-completion 2>/dev/null
    else
        command $line --generate-bash-completion 2>/dev/null
    end
end
complete -c cpx -a '(__cpx_complete)'
`
)

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "SHELL",
		Description: "Prints a script that completes cpx's commands and flags in SHELL (bash, zsh\n" +
			"or fish). The script asks the installed cpx for the candidates, so it follows\n" +
			"upgrades.\n\n" +
			"Examples:\n" +
			"   source <(cpx completion bash)              # this bash session\n" +
			"   cpx completion bash > /etc/bash_completion.d/cpx\n" +
			"   cpx completion zsh > \"${fpath[1]}/_cpx\"\n" +
			"   cpx completion fish > ~/.config/fish/completions/cpx.fish",
		Action: func(c *cli.Context) error {
			a, err := args(c, 1, 1)
			if err != nil {
				return err
			}
			var script string
			switch a[0] {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				script = fishCompletion
			default:
				return usageErrorf("no completion for shell %q: use bash, zsh or fish", a[0])
			}
			_, err = fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}
