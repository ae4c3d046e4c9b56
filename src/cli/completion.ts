/**
 * `pgdispatch completion bash|zsh`: scripts built from the commands' own
 * usage texts (their subcommands and --flags), so a new command or flag is
 * completed without a list to keep in step.
 */
import { CALL_STATUSES } from '../core/outcome.js';
import type { Command } from './common.js';

interface Completion {
  name: string;
  summary: string;
  words: string[];
}

const EXTRA: Completion[] = [
  { name: 'help', summary: "show a command's usage", words: [] },
  { name: 'completion', summary: 'print a shell completion script', words: ['bash', 'zsh'] },
];

/** Subcommands (`endpoints add`, `policies set`) and flags named in a usage text. */
export function wordsOf(command: Command): string[] {
  const sub = new RegExp(`pgdispatch ${command.name} \\[?([a-z][a-z-]*)\\]?(?=\\s|$)`, 'gm');
  const subcommands = [...command.usage.matchAll(sub)]
    .map((m) => m[1]!)
    .filter((w) => w !== 'options');
  const flags = [...command.usage.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]);
  return [...new Set([...subcommands, ...flags, '--help'])];
}

function completions(commands: readonly Command[]): Completion[] {
  const names = commands.map((c) => c.name);
  return [
    ...commands.map((c) => ({ name: c.name, summary: c.summary, words: wordsOf(c) })),
    ...EXTRA.map((e) => (e.name === 'help' ? { ...e, words: names } : e)),
  ];
}

export function completionScript(shell: 'bash' | 'zsh', commands: readonly Command[]): string {
  return shell === 'bash' ? bash(completions(commands)) : zsh(completions(commands));
}

function bash(list: Completion[]): string {
  const cases = list
    .filter((c) => c.words.length > 0)
    .map((c) => `      ${c.name}) words="${c.words.join(' ')}" ;;`)
    .join('\n');
  return `# pgdispatch completion for bash. Load it with:
#   source <(pgdispatch completion bash)
_pgdispatch() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} words=""
  if [[ $COMP_CWORD -eq 1 ]]; then
    words="${list.map((c) => c.name).join(' ')}"
  elif [[ $prev == --status ]]; then
    words="${CALL_STATUSES.join(' ')}"
  else
    case \${COMP_WORDS[1]} in
${cases}
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _pgdispatch pgdispatch
`;
}

function zsh(list: Completion[]): string {
  // _describe splits "name:description" at the first unescaped colon.
  const quoted = (s: string) => s.replaceAll("'", "'\\''").replaceAll(':', '\\:');
  const described = list.map((c) => `    '${c.name}:${quoted(c.summary)}'`).join('\n');
  const cases = list
    .filter((c) => c.words.length > 0)
    .map((c) => `    ${c.name}) compadd -- ${c.words.join(' ')} ;;`)
    .join('\n');
  return `#compdef pgdispatch
# pgdispatch completion for zsh. Load it with:
#   source <(pgdispatch completion zsh)
# or save it as _pgdispatch in a folder of $fpath.
_pgdispatch() {
  local -a commands
  commands=(
${described}
  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'pgdispatch command' commands
    return
  fi
  if [[ $words[CURRENT-1] == --status ]]; then
    compadd -- ${CALL_STATUSES.join(' ')}
    return
  fi
  case $words[2] in
${cases}
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _pgdispatch "$@"
else
  compdef _pgdispatch pgdispatch
fi
`;
}
