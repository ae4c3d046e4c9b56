import { Logger as GraphileLogger, type LogLevel } from 'graphile-worker';
import type { Logger } from 'pino';

/**
 * graphile-worker logs through its own Logger interface; route it into pino,
 * one level down so its chatter stays out of the way of our attempt lines.
 */
export function toGraphileLogger(logger: Logger): GraphileLogger {
  const gw = logger.child({ component: 'graphile-worker' });
  return new GraphileLogger(() => (level: LogLevel, message: string, meta?: unknown) => {
    const fields = meta && typeof meta === 'object' ? sanitizeMeta(meta) : {};
    switch (level) {
      case 'error':
        gw.error(fields, message);
        break;
      case 'warning':
        gw.warn(fields, message);
        break;
      case 'info':
        gw.debug(fields, message);
        break;
      default:
        gw.trace(fields, message);
    }
  });
}

// graphile-worker attaches whole job rows (payloads included) to its log
// metadata; payloads can hold user data and secrets, so keep only ids.
function sanitizeMeta(meta: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) {
    if (key === 'job' && value && typeof value === 'object' && 'id' in value) {
      out['jobId'] = (value as { id: unknown }).id;
    } else if (key === 'error' || key === 'fatalError') {
      out['err'] = value;
    } else if (typeof value !== 'object' || value === null) {
      out[key] = value;
    }
  }
  return out;
}
