#!/usr/bin/env node
/**
 * The `pgdispatch` command. Each subcommand lives in ./commands/<name>.ts and
 * exports a `command` describing its usage and a `run(args)`.
 */
import { completionScript } from './completion.js';
import { commands } from './commands/index.js';
import { CliError, printError } from './common.js';
import { printJsonError, wantsJson } from './json.js';

const USAGE = `Usage: pgdispatch <command> [options]

Commands:
${Object.values(commands)
  .map((c) => `  ${c.name.padEnd(10)} ${c.summary}`)
  .join('\n')}

  help       show a command's usage: pgdispatch help <command>
  completion print a shell completion script: pgdispatch completion bash|zsh

Every command reads DATABASE_URL (or --database-url) and takes --help and --json.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  if (name === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      console.log(USAGE);
      return 0;
    }
    const command = commands[topic];
    if (!command) throw new CliError(`unknown command "${topic}"\n\n${USAGE}`, 2);
    console.log(command.usage);
    return 0;
  }
  if (name === 'completion') {
    const shell = rest[0];
    if (shell !== 'bash' && shell !== 'zsh') {
      throw new CliError('usage: pgdispatch completion bash|zsh', 2);
    }
    process.stdout.write(completionScript(shell, Object.values(commands)));
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    console.log(pkg.version);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    throw new CliError(`unknown command "${name}"\n\n${USAGE}`, 2);
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  return (await command.run(rest)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = wantsJson(process.argv) ? printJsonError(err) : printError(err);
  },
);
