/**
 * Headless Chromium from Debian's package, driven by playwright-core. Where
 * /usr/bin/chromium is missing, the browser tests are skipped with a notice.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

if (!haveChromium) {
  console.warn(
    `browser tests skipped: no Chromium at ${CHROMIUM}. Install one with: apt-get update && apt-get install -y chromium`,
  );
}

/**
 * A browser with a fresh profile: playwright's launch() makes a new
 * --user-data-dir per browser itself and removes it on close (it refuses
 * the flag for that reason).
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
