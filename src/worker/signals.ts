/** SIGTERM and SIGINT stop the worker; installed before the first claim, so a signal during the start cannot kill the process with jobs locked. */
import type { Logger } from 'pino';

export interface SignalHandlers {
  /** The signal received before `onStop` was set, if any. */
  readonly received: NodeJS.Signals | undefined;
  /** What a signal does from now on. */
  onStop(stop: () => void): void;
  remove(): void;
}

export function handleSignals(logger: Logger, enabled: boolean): SignalHandlers {
  let stop: (() => void) | undefined;
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, `received ${signal}`);
    received = signal;
    stop?.();
  };
  if (enabled) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return {
    get received() {
      return received;
    },
    onStop(fn) {
      stop = fn;
      if (received) fn();
    },
    remove() {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}
