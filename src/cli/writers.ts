import type { Command } from 'commander';
import { WriterState } from '../vss/enums.js';
import { formatHResult, hresultInfo } from '../vss/hresult.js';
import { formatVssadminWriters } from '../vss/vssadmin.js';
import { action, platformFor } from './common.js';

export function registerWritersCommand(program: Command): void {
  program
    .command('writers')
    .description('list writers the way `vssadmin list writers` does')
    .option('--json', 'machine-readable output')
    .action(
      action(async (out, _opts, cmd: Command) => {
        const platform = platformFor(cmd.optsWithGlobals());
        const writers = await platform.listWriters();
        const problems = await platform.registryProblems();
        for (const p of problems) out.warn(`unreadable registry entry ${p.path}: ${p.problem}`);
        out.result(
          {
            writers: writers.map((w) => ({
              ...w,
              stateValue: WriterState.value(w.state),
              lastErrorName: hresultInfo(w.lastError).name,
              lastErrorHex: formatHResult(w.lastError),
            })),
            problems,
          },
          () => (writers.length ? formatVssadminWriters(writers) : 'No writers are registered.'),
        );
        return problems.length ? 1 : 0;
      }),
    );
}
