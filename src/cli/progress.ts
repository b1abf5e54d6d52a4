/**
 * Progress for long work, on stderr so stdout keeps the result (and --json stays one document).
 *
 * On a terminal: one redrawn line with a bar, bytes, rate and ETA. Otherwise (a log file, a pipe,
 * a service manager's journal): JSON lines, the byte progress throttled to one line every
 * THROTTLE_MS plus one summary at the end, so a long backup does not flood a log.
 *
 * Every figure is computed defensively: a total of 0 (an empty or zero-byte set), a total that is
 * not known yet, or more bytes done than announced must draw, never throw: a progress display
 * that crashes turns a good backup set into a failed verify.
 */
import type { GlobalOptions } from './common.js';

/** At most one progress line this often when stderr is not a terminal. */
export const THROTTLE_MS = 5000;
/** Redraw a terminal line at most this often. */
const REDRAW_MS = 100;
const BAR = 30;

export interface ProgressSink {
  isTTY: boolean;
  write(text: string): void;
  /** Terminal width, when known. */
  columns?: number;
}

const stderrSink: ProgressSink = {
  get isTTY() {
    return !!process.stderr.isTTY;
  },
  get columns() {
    return process.stderr.columns;
  },
  write: (t) => void process.stderr.write(t),
};

export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x: number) => String(x).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${pad(m)}:${pad(s % 60)}`;
}

/** A bar for `done` of `total`, clamped: any input draws exactly BAR cells. */
export function bar(done: number, total: number): { bar: string; percent: number } {
  const raw = total > 0 ? done / total : 1;
  const fraction = Number.isFinite(raw) ? Math.min(1, Math.max(0, raw)) : 0;
  const filled = Math.min(BAR, Math.max(0, Math.round(fraction * BAR)));
  return { bar: `[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}]`, percent: Math.floor(fraction * 100) };
}

export class Progress {
  private readonly start: number;
  private lastDraw = -Infinity;
  private lastLine = -Infinity;
  private done = 0;
  private total: number | undefined;
  private seen = false;
  private finished = false;

  constructor(
    private readonly opts: GlobalOptions,
    private readonly sink: ProgressSink = stderrSink,
    private readonly now: () => number = Date.now,
  ) {
    this.start = now();
  }

  private get quiet(): boolean {
    return !!this.opts.quiet;
  }

  /** Bytes done of a known total (the total may be 0). */
  bytes(doneBytes: number, totalBytes: number | undefined, path?: string): void {
    this.done = Number.isFinite(doneBytes) && doneBytes > 0 ? doneBytes : 0;
    this.total = totalBytes !== undefined && Number.isFinite(totalBytes) && totalBytes >= 0 ? totalBytes : undefined;
    this.seen = true;
    if (this.quiet) return;
    const t = this.now();
    if (this.sink.isTTY) {
      const complete = this.total !== undefined && this.done >= this.total;
      if (t - this.lastDraw < REDRAW_MS && !complete) return;
      this.lastDraw = t;
      this.sink.write(`\r${this.line(t, path)}\x1b[K`);
      return;
    }
    if (t - this.lastLine < THROTTLE_MS) return;
    // The first line comes THROTTLE_MS after the start: short work prints only the summary.
    if (this.lastLine === -Infinity && t - this.start < THROTTLE_MS) return;
    this.lastLine = t;
    this.sink.write(JSON.stringify({ progress: { type: 'bytes', ...this.figures(t) } }) + '\n');
  }

  private rate(t: number): number {
    const s = (t - this.start) / 1000;
    return s > 0 ? this.done / s : 0;
  }

  private figures(t: number): Record<string, number | undefined> {
    const rate = this.rate(t);
    const eta = this.total !== undefined && rate > 0 ? Math.max(0, this.total - this.done) / rate : undefined;
    return {
      doneBytes: this.done,
      totalBytes: this.total,
      elapsedMs: Math.max(0, t - this.start),
      bytesPerSecond: Math.round(rate),
      ...(eta !== undefined ? { etaSeconds: Math.round(eta) } : {}),
    };
  }

  private line(t: number, path?: string): string {
    const rate = this.rate(t);
    const total = this.total;
    const head = total !== undefined ? `${bar(this.done, total).bar} ${String(bar(this.done, total).percent).padStart(3)}% ` : '';
    const amount = total !== undefined ? `${formatBytes(this.done)}/${formatBytes(total)}` : formatBytes(this.done);
    const eta = total !== undefined && rate > 0 ? ` ETA ${formatDuration(Math.max(0, total - this.done) / rate)}` : '';
    const text = `${head}${amount} ${formatBytes(rate)}/s${eta}`;
    const room = Math.max(0, (this.sink.columns ?? 80) - text.length - 2);
    const name = path && room > 8 ? ' ' + (path.length > room ? '…' + path.slice(-(room - 1)) : path) : '';
    return text + name;
  }

  /** A line that is not byte progress (a writer event, a snapshot): printed as it comes. */
  note(text: string, json: Record<string, unknown>): void {
    if (this.quiet) return;
    if (this.sink.isTTY) {
      this.sink.write(`\r${text}\x1b[K\n`);
      this.lastDraw = -Infinity; // the bar was overwritten: draw it again with the next bytes
    } else {
      this.sink.write(JSON.stringify({ progress: json }) + '\n');
    }
  }

  /** The requester's events (backup or restore). */
  event(e: Record<string, unknown> & { type: string }): void {
    if (e.type === 'file') {
      this.bytes(Number(e['doneBytes']), typeof e['totalBytes'] === 'number' ? e['totalBytes'] : undefined, typeof e['path'] === 'string' ? e['path'] : undefined);
    } else if (e.type === 'event') {
      // A writer's routine state changes are for a watching operator; in a log only failures count.
      if (!this.sink.isTTY && !e['failure']) return;
      this.note(`${String(e['event']).padEnd(18)} ${e['writer']}${e['state'] ? `: ${e['state']}` : ''}${e['failure'] ? ` (${e['failure']})` : ''}`, e);
    } else if (e.type === 'log') {
      this.note(`${e['writer']}: ${e['message']}`, e);
    } else if (e.type === 'snapshot') {
      this.note(`snapshot (${e['provider']}) of ${e['volume']}${e['blockedMs'] !== undefined ? `: writes held ${e['blockedMs']} ms` : ''}`, e);
    } else if (e.type === 'published') {
      this.note(`published ${e['dir']}`, e);
    } else {
      this.note(`${e.type}: ${JSON.stringify(e)}`, e);
    }
  }

  /** Ends the display: the terminal line is finished; a log gets one summary line. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.quiet) return;
    const t = this.now();
    if (this.sink.isTTY) {
      if (!this.seen) return;
      this.sink.write(`\r${this.line(t)}\x1b[K\n`);
      return;
    }
    this.sink.write(JSON.stringify({ progress: { type: 'summary', ...this.figures(t) } }) + '\n');
  }
}
