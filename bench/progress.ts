/**
 * Which phase runs, on stderr: a redrawn status line with a bar on a TTY,
 * plain lines otherwise (CI logs, pipes).
 */
const WIDTH = 24;

export class Progress {
  readonly #tty = process.stderr.isTTY === true;
  #step = 0;
  #label = '';
  readonly #total: number;
  readonly #started = Date.now();

  constructor(totalSteps: number) {
    this.#total = totalSteps;
  }

  /** A new step starts. */
  start(label: string): void {
    this.#step++;
    this.#label = `[${this.#step}/${this.#total}] ${label}`;
    if (this.#tty) this.#draw(this.#label);
    else process.stderr.write(`${this.#label}\n`);
  }

  /** Progress within the step; drawn on a TTY only. */
  update(done: number, total: number, note = ''): void {
    if (!this.#tty) return;
    const f = Math.max(0, Math.min(1, total > 0 ? done / total : 0));
    const filled = Math.round(f * WIDTH);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)}`;
    this.#draw(
      `${this.#label} ${bar} ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${note}`,
    );
  }

  /** The step's result, kept on screen. */
  finish(result: string): void {
    const line = `${this.#label}: ${result}`;
    if (this.#tty) this.#draw(line, true);
    else process.stderr.write(`  ${result}\n`);
  }

  info(message: string): void {
    if (this.#tty) process.stderr.write(`\r\x1b[2K${message}\n`);
    else process.stderr.write(`${message}\n`);
  }

  elapsedSeconds(): number {
    return (Date.now() - this.#started) / 1000;
  }

  #draw(text: string, keep = false): void {
    const cols = process.stderr.columns ?? 100;
    const elapsed = `${Math.round(this.elapsedSeconds())}s `;
    process.stderr.write(`\r\x1b[2K${elapsed}${text}`.slice(0, cols + 5) + (keep ? '\n' : ''));
  }
}
