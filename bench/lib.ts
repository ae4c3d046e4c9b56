/**
 * The library under test, loaded from the root dist/ (what `npm run build`
 * makes and users install), typed from src/. Importing src at runtime would
 * load the copy tsc emits under bench/dist, whose migrations path is wrong.
 */
import { fileURLToPath } from 'node:url';
import type * as Embedded from '../src/dev/embedded.js';
import type * as Pgdispatch from '../src/index.js';

/** The repository root: bench/dist/bench/lib.js is three levels down. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const dist = (path: string) => new URL(`../../../dist/${path}`, import.meta.url).href;

export const pgd = (await import(dist('index.js'))) as typeof Pgdispatch;
export const CLI = fileURLToPath(dist('cli/main.js'));

/** The embedded Postgres helper; loaded on demand so a DATABASE_URL run never touches it. */
export async function loadEmbedded(): Promise<typeof Embedded> {
  return (await import(dist('dev/embedded.js'))) as typeof Embedded;
}

/** A monotonic clock in milliseconds shared by every process on the machine (CLOCK_MONOTONIC). */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
