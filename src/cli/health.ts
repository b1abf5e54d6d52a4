import type { Command } from 'commander';
import type { HealthResult } from '../mbam/health.js';
import { invalidInput } from '../vss/errors.js';
import { action, interruptible, platformFor, stateDirOf, type GlobalOptions } from './common.js';

const COLOUR: Record<HealthResult['status'], string> = { pass: '\x1b[32m', warn: '\x1b[33m', fail: '\x1b[31m', skipped: '\x1b[90m' };

function table(results: HealthResult[], colour: boolean): string {
  const rows = results.map((r) => [r.check, r.status.toUpperCase(), r.status === 'pass' || r.status === 'skipped' ? '' : r.impact, r.detail]);
  const head = ['CHECK', 'STATUS', 'WHILE DOWN, USERS LOSE', 'DETAIL'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  widths[3] = Math.min(widths[3]!, 100);
  const fmt = (cells: string[], status?: HealthResult['status']) =>
    cells
      .map((c, i) => {
        const cell = c.padEnd(widths[i]!);
        return colour && i === 1 && status ? `${COLOUR[status]}${cell}\x1b[0m` : cell;
      })
      .join('  ')
      .trimEnd();
  return [fmt(head), ...rows.map((r, i) => fmt(r, results[i]!.status))].join('\n');
}

export function registerHealthCommand(program: Command): void {
  program
    .command('health')
    .description('the availability of every MBAM capability, and what users lose while one is down')
    .requiredOption('--topology <file>', 'the MBAM topology file (JSON)')
    .option('--server <name>', 'which topology server this machine is, for the writer checks')
    .option('--timeout <ms>', 'timeout of each check (they run in parallel)', '10000')
    .option('--json', 'machine-readable output for monitoring')
    .addHelpText('after', '\nExit: 0 all pass, 1 only warnings (e.g. the last backup is old), 3 a capability is down, 2 bad usage.')
    .action(
      action(async (out, opts: { topology: string; server?: string; timeout: string }, cmd: Command) => {
        const timeoutMs = Number(opts.timeout);
        if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) throw invalidInput('--timeout', 'milliseconds from 100 to 600000', opts.timeout);
        const g = cmd.optsWithGlobals() as GlobalOptions;
        const [{ healthExitCode, runHealth }, { loadTopology }] = await Promise.all([import('../mbam/health.js'), import('../mbam/topology.js')]);
        const topology = loadTopology(opts.topology);
        const platform = await platformFor(g);
        const stateDir = await stateDirOf(g);
        const results = await interruptible((signal) => runHealth({ topology, platform, stateDir, timeoutMs, ...(opts.server ? { server: opts.server } : {}), signal }));
        const code = healthExitCode(results);
        out.result({ ok: code === 0, exitCode: code, checks: results }, () => table(results, !!process.stdout.isTTY && !process.env['NO_COLOR']));
        return code;
      }),
    );
}
