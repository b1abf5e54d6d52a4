/**
 * Progress for long work: a one-line bar on stderr when it is a terminal, JSON lines on stderr
 * otherwise (so stdout keeps the result, and --json output stays one document).
 */
import type { GlobalOptions } from './common.js';

const MiB = 1024 * 1024;

export class Progress {
  private lastDraw = 0;
  private readonly tty = !!process.stderr.isTTY;

  constructor(private readonly opts: GlobalOptions) {}

  event(e: Record<string, unknown> & { type: string }): void {
    if (this.opts.quiet) return;
    if (!this.tty) {
      process.stderr.write(JSON.stringify({ progress: e }) + '\n');
      return;
    }
    if (e.type === 'file' && typeof e['totalBytes'] === 'number') {
      const now = Date.now();
      const done = Number(e['doneBytes']);
      const total = Number(e['totalBytes']) || 1;
      if (now - this.lastDraw < 100 && done < total) return;
      this.lastDraw = now;
      const width = 30;
      const filled = Math.round((done / total) * width);
      const name = String(e['path'] ?? '').slice(-40);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${((done / total) * 100).toFixed(0).padStart(3)}% ${(done / MiB).toFixed(1)}/${(total / MiB).toFixed(1)} MiB ${name}\x1b[K`);
      if (done >= total) process.stderr.write('\n');
    } else if (e.type === 'event') {
      process.stderr.write(`\r${String(e['event']).padEnd(18)} ${e['writer']}: ${e['state']}${e['failure'] ? ` (${e['failure']})` : ''}\x1b[K\n`);
    } else if (e.type === 'log') {
      process.stderr.write(`\r${e['writer']}: ${e['message']}\x1b[K\n`);
    } else if (e.type === 'snapshot') {
      process.stderr.write(`\rsnapshot (${e['provider']}) of ${e['volume']}${e['blockedMs'] !== undefined ? `: writes held ${e['blockedMs']} ms` : ''}\x1b[K\n`);
    }
  }
}
