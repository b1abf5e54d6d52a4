/**
 * `mbam-vss providers` (like `vssadmin list providers`: which snapshot providers work here, and
 * why the others do not) and `mbam-vss sets <dir>` (like `vssadmin list shadows` / diskshadow's
 * `list shadows`: the backup sets under a directory and the backup history, newest first).
 */
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { BackupHistoryEntry } from '../mbam/history.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { action, EXIT, stateDirOf, type GlobalOptions } from './common.js';

export interface ProviderAvailability {
  provider: 'btrfs' | 'external' | 'copy';
  available: boolean;
  /** What `auto` would do with it for this path, and why it cannot be used when it cannot. */
  detail: string;
}

async function providersFor(path: string, snapshotCommand: boolean): Promise<{ path: string; mountPoint: string; fsType: string; auto: string; providers: ProviderAvailability[] }> {
  const [{ mountOf }, { loadNative }] = await Promise.all([import('../requester/mounts.js'), import('../platform/native.js')]);
  const m = mountOf(path);
  const root = typeof process.geteuid === 'function' && process.geteuid() === 0;
  let caps: { fsFreeze: boolean; btrfsSnapshot: boolean } | undefined;
  try {
    caps = loadNative().capabilities();
  } catch {
    caps = undefined; // the addon is not built: say so below rather than fail
  }
  const freeze = !caps ? 'the native addon is not loaded, so filesystems cannot be frozen' : !caps.fsFreeze ? 'this process cannot freeze filesystems (FIFREEZE needs root)' : '';
  const btrfs: ProviderAvailability =
    m.fsType !== 'btrfs'
      ? { provider: 'btrfs', available: false, detail: `${m.mountPoint} is ${m.fsType}, not btrfs` }
      : !root
        ? { provider: 'btrfs', available: false, detail: 'btrfs snapshots need root' }
        : caps && !caps.btrfsSnapshot
          ? { provider: 'btrfs', available: false, detail: 'the native addon has no btrfs snapshot support on this machine' }
          : { provider: 'btrfs', available: true, detail: `read-only snapshot of the subvolume holding ${path}` };
  const external: ProviderAvailability = snapshotCommand
    ? { provider: 'external', available: !freeze, detail: freeze || 'runs --snapshot-command while the filesystems are frozen (LVM, ZFS, a SAN)' }
    : { provider: 'external', available: false, detail: 'needs --snapshot-command (e.g. an LVM or ZFS snapshot script)' };
  const copy: ProviderAvailability = {
    provider: 'copy',
    available: !freeze,
    detail: freeze || 'NO snapshot: files are copied while the writers are frozen, so the freeze lasts as long as the copy',
  };
  const auto = btrfs.available ? 'btrfs' : snapshotCommand ? 'external' : 'copy';
  return { path, mountPoint: m.mountPoint, fsType: m.fsType, auto, providers: [btrfs, external, copy] };
}

interface SetSummary {
  dir: string;
  createdAt: string;
  snapshotSetId: string;
  backupType: string;
  host: string;
  files: number;
  bytes: number;
  writers: string[];
  providers: string[];
}

/** Backup sets directly under `dir` (or `dir` itself), newest first; unreadable ones named. */
async function findSets(dir: string): Promise<{ sets: SetSummary[]; unreadable: { dir: string; problem: string }[] }> {
  const { MANIFEST, readManifest } = await import('../requester/backup-set.js');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VssError(HR.E_INVALIDARG, { message: `sets: cannot read ${dir}: ${code === 'ENOENT' ? 'no such directory' : code === 'ENOTDIR' ? 'not a directory' : (e as Error).message}`, category: 'input' });
  }
  const candidates = fs.existsSync(join(dir, MANIFEST)) ? [dir] : names.sort().map((n) => join(dir, n)).filter((p) => fs.existsSync(join(p, MANIFEST)));
  const sets: SetSummary[] = [];
  const unreadable: { dir: string; problem: string }[] = [];
  for (const p of candidates) {
    try {
      const m = readManifest(p);
      sets.push({
        dir: p,
        createdAt: m.createdAt,
        snapshotSetId: m.snapshotSetId,
        backupType: m.backupType,
        host: m.host,
        files: m.files.length,
        bytes: m.files.reduce((a, f) => a + f.size, 0) + (m.extras ?? []).reduce((a, x) => a + x.size, 0),
        writers: m.writers.map((w) => w.name),
        providers: [...new Set(m.volumes.map((v) => `${v.provider}:${v.root}`))],
      });
    } catch (e) {
      unreadable.push({ dir: p, problem: (e as Error).message });
    }
  }
  sets.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return { sets, unreadable };
}

export function registerSetsCommands(program: Command): void {
  program
    .command('providers')
    .description('which snapshot providers work on this machine for a path, and why the others do not (like `vssadmin list providers`)')
    .argument('[path]', 'a path to back up (default: /)', '/')
    .option('--snapshot-command <cmd>', 'consider the external provider with this command')
    .option('--json', 'machine-readable output')
    .action(
      action(async (out, path: string, opts: { snapshotCommand?: string }) => {
        if (process.platform === 'win32') {
          throw new VssError(HR.E_NOTIMPL, { message: 'providers: on Windows the VSS providers are listed by `vssadmin list providers`', category: 'precondition' });
        }
        let r: Awaited<ReturnType<typeof providersFor>>;
        try {
          r = await providersFor(resolve(path), !!opts.snapshotCommand);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new VssError(HR.E_INVALIDARG, { message: `providers: ${path}: no such file or directory`, category: 'input' });
          throw e;
        }
        out.result(r, () =>
          [
            `${r.path} is on ${r.mountPoint} (${r.fsType}); --provider auto would use: ${r.auto}`,
            ...r.providers.map((p) => `  ${p.provider.padEnd(9)} ${p.available ? 'available    ' : 'NOT available'}  ${p.detail}`),
          ].join('\n'),
        );
      }),
    );

  program
    .command('sets')
    .description('the backup sets under a directory and the backup history, newest first (like `vssadmin list shadows`)')
    .argument('<dir>', 'a directory holding backup sets (or one backup set)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (out, dir: string, _opts, cmd: Command) => {
        const g = cmd.optsWithGlobals() as GlobalOptions;
        const { sets, unreadable } = await findSets(dir);
        const { readHistory } = await import('../mbam/history.js');
        const history: BackupHistoryEntry[] = readHistory(await stateDirOf(g)).sort((a, b) => b.at.localeCompare(a.at));
        out.result({ dir, sets, unreadable, history }, () => {
          const lines = sets.length ? [`backup sets in ${dir} (newest first):`] : [`no backup sets in ${dir}`];
          for (const s of sets) lines.push(`  ${s.createdAt}  ${s.dir}  ${s.backupType}, ${s.files} files, ${s.bytes} bytes, ${s.writers.length} writer(s) [${s.providers.join(', ')}]`);
          for (const u of unreadable) lines.push(`  UNREADABLE ${u.dir}: ${u.problem}`);
          lines.push(history.length ? 'backup history (newest first):' : 'no backup history');
          for (const h of history) lines.push(`  ${h.at}  ${h.ok ? 'ok    ' : 'FAILED'}  by ${h.by}${h.backupSet ? `  ${h.backupSet}` : ''}${h.error ? `  (${h.error})` : ''}`);
          return lines.join('\n');
        });
        return unreadable.length ? EXIT.FAILED : EXIT.OK;
      }),
    );
}
