import type { Command } from 'commander';
import { status } from '../install/operations.js';
import { resolveStateDir } from '../platform/state.js';
import { formatVssadminWriters } from '../vss/vssadmin.js';
import { action, EXIT, platformFor, type GlobalOptions } from './common.js';
import { writerView } from './format.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('registered writers, unreadable registry entries, and any unfinished install journal')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExit: 0 clean; 1 an unfinished transaction (the next install/uninstall rolls it back) or an unreadable entry; 4 a rollback that could not complete.')
    .action(
      action(async (out, _opts, cmd: Command) => {
        const g = cmd.optsWithGlobals() as GlobalOptions;
        const stateDir = resolveStateDir(g.stateDir);
        const r = await status({ platform: platformFor(g), stateDir });
        out.result({ ...r, writers: r.writers.map(writerView) }, () => {
          const lines = [`state directory: ${stateDir}`, r.writers.length ? formatVssadminWriters(r.writers).trimEnd() : 'no writers registered'];
          for (const p of r.problems) lines.push(`UNREADABLE registry entry ${p.path}: ${p.problem}`);
          const u = r.unfinished;
          if (u) {
            lines.push(
              `UNFINISHED ${u.op} started ${u.startedAt} by pid ${u.pid} (${JSON.stringify(u.args)})` +
                (u.committed ? ': committed, clean-up pending' : u.rollbackIncomplete ? ': ROLLBACK INCOMPLETE, needs an operator' : ': will be rolled back by the next install/uninstall'),
            );
            for (const s of u.steps) lines.push(`  ${s.step}: acted ${s.acted}${s.undone ? ', undone' : ''}${s.undoError ? `, undo failed: ${s.undoError}` : ''}`);
          }
          return lines.join('\n');
        });
        if (r.unfinished?.rollbackIncomplete) return EXIT.INCOMPLETE;
        return r.unfinished || r.problems.length ? EXIT.FAILED : EXIT.OK;
      }),
    );
}
