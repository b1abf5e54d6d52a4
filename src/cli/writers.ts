import type { Command } from 'commander';
import { action, EXIT, platformFor } from './common.js';

export function registerWritersCommand(program: Command): void {
  program
    .command('writers')
    .description('list writers the way `vssadmin list writers` does')
    .option('--json', 'machine-readable output')
    .action(
      action(async (out, _opts, cmd: Command) => {
        const [{ formatVssadminWriters }, { writerView }] = await Promise.all([import('../vss/vssadmin.js'), import('./format.js')]);
        const platform = await platformFor(cmd.optsWithGlobals());
        const writers = await platform.listWriters();
        const problems = await platform.registryProblems();
        for (const p of problems) out.warn(`unreadable registry entry ${p.path}: ${p.problem}`);
        out.result(
          {
            writers: writers.map(writerView),
            problems,
          },
          () => (writers.length ? formatVssadminWriters(writers) : 'No writers are registered.'),
        );
        return problems.length ? EXIT.FAILED : EXIT.OK;
      }),
    );
}
