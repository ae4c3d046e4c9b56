import type { ParseArgsConfig } from 'node:util';
import { redactForDisplay, redactUrlsIn } from '../../core/redact.js';
import { endpointConcurrency } from '../../observe/read-model.js';
import { runtimeOf } from '../../sql/runtime.js';
import type { Endpoint } from '../../webhook/endpoints.js';
import { CliError, type Command, CONNECTION_USAGE, parseCommandArgs } from '../common.js';
import { intFlag, withDispatch } from '../options.js';
import { printJson } from '../json.js';
import { formatAge, printTable } from '../output.js';

const usage = `Usage: pgdispatch endpoints [list] [--json]
       pgdispatch endpoints add <name> --url URL [options]
       pgdispatch endpoints rotate <name> [--drop-previous]
       pgdispatch endpoints disable <name> [--reason TEXT]
       pgdispatch endpoints enable <name> [--replay]
       pgdispatch endpoints remove <name>

Webhook endpoints: named destinations with their own signing secrets, retry
policy, timeouts and health. Dispatch to one with { endpoint: "<name>", body }.
Secrets are printed once, by add and rotate; list never shows them.

Options of add (running add again updates the settings, keeps the secrets):
  --url URL                  destination (http or https)
  --secret whsec_...         signing secret (default: a new random one)
  --retry-policy NAME        (default: webhook)
  --header "Name: value"     static header, repeatable
  --connect-timeout MS       (default: the worker's, 5000)
  --headers-timeout MS       (default: the worker's, 15000)
  --total-timeout MS         (default: the worker's, 30000)
  --allow-private-networks   may resolve to private addresses (development)
  --disable-after INTERVAL   disable after failing this long (default: '5 days')
Other options:
  --drop-previous            rotate: stop signing with the previous secret
  --reason TEXT              disable: recorded on the endpoint
  --replay                   enable: run again the calls that failed since it was disabled
  --json                     machine-readable output (see docs/cli.md); list omits secrets
${CONNECTION_USAGE}`;

const options = {
  url: { type: 'string' },
  secret: { type: 'string' },
  'retry-policy': { type: 'string' },
  header: { type: 'string', multiple: true },
  'connect-timeout': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'total-timeout': { type: 'string' },
  'allow-private-networks': { type: 'boolean' },
  'disable-after': { type: 'string' },
  'drop-previous': { type: 'boolean' },
  reason: { type: 'string' },
  replay: { type: 'boolean' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

const ACTIONS = ['list', 'add', 'rotate', 'disable', 'enable', 'remove'] as const;

function parseHeaders(list: string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of list ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new CliError(`--header must look like "Name: value", got "${h}"`, 2);
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  return headers;
}

/** An endpoint as shown to operators: everything but the secrets. */
function publicView(e: Endpoint): Record<string, unknown> {
  const { secrets, ...rest } = e;
  // Headers an endpoint sends (an authorization, an API key) are secrets too.
  return { ...(redactForDisplay(rest) as Record<string, unknown>), secrets: secrets.length };
}

export const endpointsCommand: Command = {
  name: 'endpoints',
  summary: 'add, list, rotate, disable and enable webhook endpoints',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, usage, options);
    const [action = 'list', name, extra] = positionals;
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new CliError(`unknown action "${action}": one of ${ACTIONS.join(', ')}\n\n${usage}`, 2);
    }
    if (extra !== undefined) throw new CliError(`unexpected argument "${extra}"\n\n${usage}`, 2);
    if (action !== 'list' && !name)
      throw new CliError(`endpoints ${action} needs an endpoint name\n\n${usage}`, 2);
    if (action === 'add' && !values.url)
      throw new CliError(`endpoints add needs --url\n\n${usage}`, 2);
    const headers = parseHeaders(values.header);
    const timeouts = {
      ...(values['connect-timeout']
        ? { connectMs: intFlag(values['connect-timeout'], '--connect-timeout')! }
        : {}),
      ...(values['headers-timeout']
        ? { headersMs: intFlag(values['headers-timeout'], '--headers-timeout')! }
        : {}),
      ...(values['total-timeout']
        ? { totalMs: intFlag(values['total-timeout'], '--total-timeout')! }
        : {}),
    };

    return withDispatch(values, async (dispatch) => {
      const endpoints = dispatch.endpoints;
      switch (action) {
        case 'list': {
          const list = await endpoints.list();
          if (values.json) {
            printJson(list.map(publicView));
            return 0;
          }
          if (list.length === 0) {
            console.log('no endpoints: add one with pgdispatch endpoints add <name> --url URL');
            return 0;
          }
          // The adaptive limit of each endpoint's origin, when workers adapt it.
          const adaptive = new Map(
            (await endpointConcurrency(runtimeOf(dispatch))).map((r) => [
              r.endpoint,
              `${r.concurrency_limit}/${r.max_limit}${r.last_change ? ` (${r.last_change})` : ''}`,
            ]),
          );
          printTable(
            [
              'NAME',
              'URL',
              'STATE',
              'POLICY',
              'SECRETS',
              'LAST SUCCESS',
              'FAILING SINCE',
              'ADAPTIVE LIMIT',
            ],
            list.map((e) => [
              e.name,
              redactUrlsIn(e.url),
              e.enabled ? 'enabled' : `disabled: ${e.disabled_reason ?? ''}`,
              e.retry_policy,
              String(e.secrets.length),
              formatAge(e.last_success_at),
              formatAge(e.failing_since),
              adaptive.get(e.name) ?? '-',
            ]),
            80,
          );
          return 0;
        }
        case 'add': {
          const e = await endpoints.add({
            name: name!,
            url: values.url!,
            ...(values.secret ? { secret: values.secret } : {}),
            ...(values['retry-policy'] ? { retryPolicy: values['retry-policy'] } : {}),
            headers,
            timeouts,
            ...(values['allow-private-networks'] ? { allowPrivateNetworks: true } : {}),
            ...(values['disable-after'] ? { disableAfter: values['disable-after'] } : {}),
          });
          if (values.json) {
            printJson({ action: 'endpoints.add', endpoint: publicView(e), secret: e.secrets[0] });
            return 0;
          }
          console.log(`endpoint ${e.name} → ${redactUrlsIn(e.url)}`);
          console.log(`signing secret: ${e.secrets[0]}`);
          return 0;
        }
        case 'rotate': {
          if (values['drop-previous']) {
            await endpoints.dropPreviousSecrets(name!);
            if (values.json) {
              printJson({ action: 'endpoints.rotate', name, dropped_previous: true });
              return 0;
            }
            console.log(`endpoint ${name}: only the newest secret signs now`);
          } else {
            const secret = await endpoints.rotateSecret(name!);
            if (values.json) {
              printJson({ action: 'endpoints.rotate', name, secret });
              return 0;
            }
            console.log(`endpoint ${name}: new signing secret ${secret}`);
            console.log(
              'the previous secret keeps signing until: pgdispatch endpoints rotate --drop-previous',
            );
          }
          return 0;
        }
        case 'disable':
          await endpoints.disable(name!, values.reason);
          if (values.json) {
            printJson({ action: 'endpoints.disable', name, enabled: false });
            return 0;
          }
          console.log(`endpoint ${name} disabled: its calls fail fast until it is enabled`);
          return 0;
        case 'enable': {
          const replayed = await endpoints.enable(name!, {
            replay: values.replay ?? false,
            actor: `cli:${process.env['USER'] ?? 'unknown'}`,
          });
          if (values.json) {
            printJson({ action: 'endpoints.enable', name, enabled: true, replayed });
            return 0;
          }
          console.log(
            `endpoint ${name} enabled${values.replay ? `; ${replayed} failed call(s) scheduled again` : ''}`,
          );
          return 0;
        }
        case 'remove': {
          if (!(await endpoints.remove(name!))) {
            throw new CliError(`unknown endpoint "${name}"`, 1, 'UNKNOWN_ENDPOINT');
          }
          if (values.json) {
            printJson({ action: 'endpoints.remove', name, removed: true });
            return 0;
          }
          console.log(`endpoint ${name} removed`);
          return 0;
        }
      }
      return 0;
    });
  },
};
