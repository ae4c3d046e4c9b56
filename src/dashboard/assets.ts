/** The files under /assets/: our stylesheet and script, and uPlot from its npm package. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { JS } from './assets/client.js';
import { CSS } from './assets/style.js';

export interface Asset {
  type: string;
  body: string;
}

export async function loadAssets(): Promise<Map<string, Asset>> {
  const require = createRequire(import.meta.url);
  const read = (p: string) => readFile(require.resolve(p), 'utf8');
  const [uplotJs, uplotCss] = await Promise.all([
    read('uplot/dist/uPlot.iife.min.js'),
    read('uplot/dist/uPlot.min.css'),
  ]);
  const js = 'text/javascript; charset=utf-8';
  const css = 'text/css; charset=utf-8';
  return new Map([
    ['dashboard.css', { type: css, body: CSS }],
    ['dashboard.js', { type: js, body: JS }],
    ['uPlot.iife.min.js', { type: js, body: uplotJs }],
    ['uPlot.min.css', { type: css, body: uplotCss }],
  ]);
}
