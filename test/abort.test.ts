/**
 * AbortEmitter, the worker's cheap abort signal: aborts once, reaches every
 * listener even when one throws (as an EventTarget does), and that throw
 * still surfaces as an uncaught exception rather than vanishing.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AbortEmitter, onAbort } from '../src/core/abort.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('AbortEmitter', () => {
  it('aborts once, with its reason, and onAbort stops listening when asked', () => {
    const abort = new AbortEmitter();
    const seen: unknown[] = [];
    onAbort(abort, () => seen.push(abort.reason));
    const stop = onAbort(abort, () => seen.push('removed'));
    stop();
    abort.abort('first');
    abort.abort('second');
    expect(abort.aborted).toBe(true);
    expect(abort.reason).toBe('first');
    expect(seen).toEqual(['first']);
    expect(abort.listenerCount('abort')).toBe(0);
  });

  it('calls every listener when one throws, and rethrows that error on the next tick', () => {
    const deferred: Array<() => void> = [];
    vi.spyOn(process, 'nextTick').mockImplementation(((fn: () => void) => {
      deferred.push(fn);
    }) as typeof process.nextTick);
    const abort = new AbortEmitter();
    const calls: string[] = [];
    abort.once('abort', () => {
      calls.push('a');
      throw new Error('listener failed');
    });
    abort.once('abort', () => calls.push('b'));
    abort.abort(new Error('stop'));
    vi.restoreAllMocks();
    expect(calls).toEqual(['a', 'b']);
    expect(deferred).toHaveLength(1);
    expect(() => deferred[0]!()).toThrow('listener failed');
  });

  it('onAbort works on a standard AbortSignal too', () => {
    const controller = new AbortController();
    const seen: unknown[] = [];
    const stop = onAbort(controller.signal, () => seen.push(controller.signal.reason));
    controller.abort('why');
    stop();
    expect(seen).toEqual(['why']);
  });
});
