import type { Command, Option } from "commander";
import { KINDS } from "@eiaas/api";
import { CliError } from "../cli/errors.js";
import { action } from "../cli/session.js";

function flagsOf(options: readonly Option[]): string[] {
  return options.flatMap((o) => [o.short, o.long].filter((f): f is string => Boolean(f)));
}

function valueFlagsOf(cmds: readonly Command[], root: Command): string[] {
  const all = [...root.options, ...cmds.flatMap((c) => [...c.options, ...c.commands.flatMap((s) => s.options)])];
  return [...new Set(all.filter((o) => o.required || o.optional).flatMap((o) => flagsOf([o])))];
}

/**
 * The bash completion script, generated from the program's own commands and options so it never
 * drifts: commands, subcommands, flags, kinds, and names of live objects (asked from the server
 * through `eictl get KIND -o name`), contexts and files where they fit.
 */
export function bashCompletion(root: Command): string {
  const commands = root.commands.filter((c) => c.name() !== "help");
  const globalFlags = flagsOf(root.options).join(" ");
  const kinds = [...new Set(KINDS.flatMap((k) => [k.plural, k.singular, ...k.shortNames]).concat(["nodes", "tokens", "bootstraptokens", "endpoints"]))].sort().join(" ");
  const perCommand = commands
    .map((c) => {
      const subs = c.commands.map((s) => s.name()).join(" ");
      const flags = [...flagsOf(c.options), ...c.commands.flatMap((s) => flagsOf(s.options))].join(" ");
      return `    ${c.name()}) subs="${subs}"; flags="${flags}" ;;`;
    })
    .join("\n");
  return `# eictl bash completion. Load it with:  source <(eictl completion bash)
_eictl_names() {
  eictl get "$1" -o name 2>/dev/null | sed 's|.*/||'
}
_eictl() {
  local cur prev cmd="" sub="" i w skip=0
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local value_flags=" ${valueFlagsOf(commands, root).join(" ")} "
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [[ $skip == 1 ]]; then skip=0; continue; fi
    if [[ "$value_flags" == *" $w "* ]]; then skip=1; continue; fi
    [[ $w == -* ]] && continue
    if [[ -z $cmd ]]; then cmd=$w; elif [[ -z $sub ]]; then sub=$w; fi
  done
  case "$prev" in
    -o|--output) COMPREPLY=($(compgen -W "table wide json yaml name" -- "$cur")); return ;;
    -n|--namespace) COMPREPLY=($(compgen -W "$(_eictl_names tenants)" -- "$cur")); return ;;
    --context) COMPREPLY=($(compgen -W "$(eictl config get-contexts -o name 2>/dev/null)" -- "$cur")); return ;;
    -f|--filename|--certificate-authority|--kubeconfig) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  local subs="" flags=""
  case "$cmd" in
${perCommand}
  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$flags ${globalFlags}" -- "$cur")); return; fi
  if [[ -z $cmd ]]; then COMPREPLY=($(compgen -W "${commands.map((c) => c.name()).join(" ")}" -- "$cur")); return; fi
  case "$cmd" in
    get|describe|delete)
      if [[ -z $sub ]]; then COMPREPLY=($(compgen -W "${kinds}" -- "$cur"))
      else COMPREPLY=($(compgen -W "$(_eictl_names "$sub")" -- "$cur")); fi ;;
    cordon|uncordon|drain) COMPREPLY=($(compgen -W "$(_eictl_names edgenodes)" -- "$cur")) ;;
    logs) COMPREPLY=($(compgen -W "$(_eictl_names tasks)" -- "$cur")) ;;
    config)
      if [[ -z $sub ]]; then COMPREPLY=($(compgen -W "$subs" -- "$cur"))
      else COMPREPLY=($(compgen -W "$(eictl config get-contexts -o name 2>/dev/null)" -- "$cur")); fi ;;
    *) [[ -z $sub && -n $subs ]] && COMPREPLY=($(compgen -W "$subs" -- "$cur")) ;;
  esac
}
complete -o default -F _eictl eictl
`;
}

export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .argument("<shell>", "bash or zsh")
    .description("Print a shell completion script: source <(eictl completion bash)")
    .action(
      action(async (shell: string) => {
        const bash = bashCompletion(program);
        if (shell === "bash") process.stdout.write(bash);
        // zsh runs the bash completion through its bashcompinit layer.
        else if (shell === "zsh")
          process.stdout.write(
            `#compdef eictl\n# eictl zsh completion. Load it with:  source <(eictl completion zsh)\nautoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n${bash}`,
          );
        else throw new CliError(`unsupported shell "${shell}": bash or zsh`);
      }),
    );
}
