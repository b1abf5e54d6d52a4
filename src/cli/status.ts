import type { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import type { Platform } from '../platform/index.js';
import type { LeftoverSnapshot } from '../requester/providers.js';
import { action, EXIT, platformFor, stateDirOf, type GlobalOptions } from './common.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('registered writers, unreadable registry entries, any unfinished install journal, and snapshots or partial sets a killed backup left')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExit: 0 clean; 1 an unfinished transaction (the next install/uninstall rolls it back), an unreadable entry, or a leftover of a killed backup (the next backup of that volume removes its btrfs snapshot); 4 a rollback that could not complete.')
    .action(
      action(async (out, _opts, cmd: Command) => {
        const g = cmd.optsWithGlobals() as GlobalOptions;
        const [{ status }, { formatVssadminWriters }, { writerView }] = await Promise.all([import('../install/status.js'), import('../vss/vssadmin.js'), import('./format.js')]);
        const stateDir = await stateDirOf(g);
        const platform = await platformFor(g);
        const r = await status({ platform, stateDir });
        const leftovers = process.platform === 'win32' ? [] : await backupLeftovers(platform, stateDir);
        out.result({ ...r, writers: r.writers.map(writerView), leftovers }, () => {
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
          for (const l of leftovers) lines.push(`LEFTOVER ${l.kind} ${l.path}${l.ownerAlive ? ' (its backup is still running)' : ''}`);
          return lines.join('\n');
        });
        if (r.unfinished?.rollbackIncomplete) return EXIT.INCOMPLETE;
        return r.unfinished || r.problems.length || leftovers.some((l) => !l.ownerAlive) ? EXIT.FAILED : EXIT.OK;
      }),
    );
}

/**
 * What killed backups left: btrfs snapshots next to the registered writers' files, external
 * snapshots still mounted, and expose directories or partial sets beside the sets the history names.
 */
async function backupLeftovers(platform: Platform, stateDir: string): Promise<LeftoverSnapshot[]> {
  const [{ readHistory }, { findLeftoverSnapshots }] = await Promise.all([import('../mbam/history.js'), import('../requester/providers.js')]);
  const writers = await platform.listWriters();
  const paths = new Set<string>();
  for (const w of writers) {
    try {
      for (const c of (await platform.getWriterMetadata(w.instanceId)).components) for (const f of c.files) paths.add(f.path);
    } catch {
      // an unreadable entry is reported by status itself
    }
  }
  const targets = new Set(readHistory(stateDir).flatMap((e) => (e.backupSet ? [dirname(resolve(e.backupSet))] : [])));
  return findLeftoverSnapshots([...paths], [...targets]);
}
