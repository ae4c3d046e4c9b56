/**
 * The one rule for what is never shown: values under secret-looking names
 * (keys and header names: authorization, cookie, api keys, tokens,
 * passwords, secrets) and the credentials inside URLs. Logs apply it to the
 * fields of each line; displays of stored data (`pgdispatch show`, the
 * dashboard) to whole values.
 */

export const REDACTED = '[redacted]';

const SECRET_NAMES = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'connectionstring',
  'database_url',
]);
const SECRET_PART =
  /token|secret|passw(?:or)?d|api[-_]?key|private[-_]?key|access[-_]?key|credential|signing[-_]?key/i;

// Names repeat (the same few dozen log fields), so each is tested once.
const known = new Map<string, boolean>();

/** Whether a value under this key or header name is a secret. */
export function isSecretName(name: string): boolean {
  let secret = known.get(name);
  if (secret === undefined) {
    secret = SECRET_NAMES.has(name.toLowerCase()) || SECRET_PART.test(name);
    if (known.size < 10_000) known.set(name, secret);
  }
  return secret;
}

// scheme://userinfo@ and the parameters of a query string.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]*)@/gi;
const QUERY_PARAM = /([?&;])([^=&#\s]+)=([^&#\s]*)/g;

/** `text` with every URL's userinfo (its password, or a lone user name) and secret query parameters redacted. */
export function redactUrlsIn(text: string): string {
  if (!text.includes('://') && !text.includes('=')) return text;
  return text
    .replace(USERINFO, (_m, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      return colon < 0
        ? `${scheme}${REDACTED}@`
        : `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@`;
    })
    .replace(QUERY_PARAM, (m, sep: string, name: string) =>
      isSecretName(decodeSafely(name)) ? `${sep}${name}=${REDACTED}` : m,
    );
}

/** A copy of a stored value fit to display: secret-named values and URL credentials redacted. */
export function redactForDisplay(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrlsIn(value);
  if (typeof value !== 'object' || value === null || depth > 32) return value;
  if (Array.isArray(value)) return value.map((v) => redactForDisplay(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = isSecretName(key) && v !== null ? REDACTED : redactForDisplay(v, depth + 1);
  }
  return out;
}

function decodeSafely(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
