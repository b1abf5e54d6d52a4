import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { InProcessWriter } from '../vss/writer-events.js';
import { invalidInput } from '../vss/errors.js';
import type { WriterMetadata } from '../vss/writer-metadata.js';
import { action, EXIT, interruptible, milliseconds, stateDirOf, type GlobalOptions, type Output } from './common.js';
import type { recordBackup } from '../mbam/history.js';

const ms = (value: string | undefined, field: string, dflt: number): number => (value === undefined ? dflt : milliseconds(value, field, 3_600_000));

async function tryRecordBackup(out: Output, stateDir: string, entry: Parameters<typeof recordBackup>[1]): Promise<void> {
  try {
    (await import('../mbam/history.js')).recordBackup(stateDir, entry);
  } catch (e) {
    out.warn(`the backup history in ${stateDir} could not be written: ${(e as Error).message}`);
  }
}

/**
 * Which provider served each volume and why, in one line each: `auto` on ext4/xfs without a
 * snapshot command is the copy provider, which copies while the writers are frozen, and an
 * operator must be able to see that from the output rather than from a long freeze.
 */
async function providerChoices(requested: string, dir: string, volumes: { root: string; provider: string }[]): Promise<{ root: string; provider: string; fsType: string; reason: string; line: string }[]> {
  const { MANIFEST } = await import('../requester/backup-set.js');
  let fsTypes: Map<string, string> = new Map();
  try {
    const m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as { volumes?: { root: string; fsType: string }[] };
    fsTypes = new Map((m.volumes ?? []).map((v) => [v.root, v.fsType]));
  } catch {
    // the set was just published; without its manifest the line says "unknown" filesystem
  }
  return volumes.map((v) => {
    const fsType = fsTypes.get(v.root) ?? 'unknown';
    const reason =
      requested !== 'auto'
        ? `--provider ${requested}`
        : v.provider === 'btrfs'
          ? 'auto: btrfs and running as root, so a read-only btrfs snapshot'
          : v.provider === 'external'
            ? 'auto: --snapshot-command given'
            : `auto: ${fsType === 'btrfs' ? 'btrfs but not root' : `${fsType} is not btrfs`} and no --snapshot-command, so NO snapshot: the files were copied while the writers were frozen`;
    return { root: v.root, provider: v.provider, fsType, reason, line: `provider ${v.provider} for ${v.root} (${fsType}): ${reason}` };
  });
}

/** Every readable registration's metadata, in one pass over the registry. */
async function registeredWriters(stateDir: string): Promise<WriterMetadata[]> {
  const { PosixPlatform } = await import('../platform/posix.js');
  return new PosixPlatform(stateDir).registry.list().registrations.map((r) => r.metadata);
}

interface SqlOptions {
  topology?: string;
  server?: string;
  sqlExchangeDir?: string;
  /** restore only: leave the databases RESTORING for log backups. */
  norecovery?: boolean;
}

/**
 * With a topology, the SQL Server writer of this machine's server takes part (T-SQL snapshot
 * backup): the MBAM writer's components depend on its database components.
 */
async function sqlWriters(opts: SqlOptions): Promise<InProcessWriter[]> {
  if (!opts.topology) {
    if (opts.server || opts.sqlExchangeDir) throw invalidInput(opts.server ? '--server' : '--sql-exchange-dir', 'to come with --topology FILE');
    return [];
  }
  const [{ loadTopology, sqlTargetOf }, { resolveServer }, { createSqlSnapshotWriter }] = await Promise.all([
    import('../mbam/topology.js'), import('../mbam/writer-definition.js'), import('../sql/sql-writer.js'),
  ]);
  const server = resolveServer(loadTopology(opts.topology), opts.server ?? hostname());
  return [await createSqlSnapshotWriter({ server: sqlTargetOf(server), ...(opts.sqlExchangeDir ? { exchangeDir: opts.sqlExchangeDir } : {}), ...(opts.norecovery ? { norecovery: true } : {}) })];
}

function addSqlOptions(c: Command): Command {
  return c
    .option('--topology <file>', 'MBAM topology: the SQL Server writer of this server takes part (T-SQL snapshot backup, SQL Server 2022+)')
    .option('--server <name>', 'the topology server this machine is (default: named like this host)')
    .option('--sql-exchange-dir <dir>', "where SQL Server writes and reads its backup files (default: the instance's default backup directory)");
}

const SNAPSHOT_ENV_HELP = `
The snapshot command (--snapshot-command, provider "external") runs with /bin/sh while the
filesystems are frozen (its shell starts just before the freeze and runs the command the moment
the freeze is in place), and once more afterwards to release what it made:
  MBAM_VSS_SNAPSHOT_ACTION   "create" (while frozen) or "release" (after the copy)
  MBAM_VSS_SNAPSHOT_SET_ID   the snapshot set id
  MBAM_VSS_FROZEN_MOUNTS     the frozen mount points, one per line
  MBAM_VSS_FROZEN_DEVICES    their devices, one per line, in the same order
  MBAM_VSS_SNAPSHOT_ROOT     expose mount i's snapshot at $MBAM_VSS_SNAPSHOT_ROOT/i (e.g. mount it there)
It must finish within --write-hold (default 10000 ms) or it is killed and the backup fails.`;

export function registerBackupCommands(program: Command): void {
  const backupCommand = program
    .command('backup')
    .description('back up writers on a filesystem snapshot into a new backup set (POSIX requester)')
    .requiredOption('--to <dir>', 'the backup set to create (must not exist)')
    .option('--writer <id-or-name...>', 'writers to back up (default: every registered writer); their dependencies come too')
    .addOption(new Option('--provider <provider>', 'snapshot provider: auto picks btrfs (root on btrfs), else external (with --snapshot-command), else copy').choices(['auto', 'btrfs', 'external', 'copy']).default('auto'))
    .option('--snapshot-command <cmd>', 'for the external provider: the command that snapshots the frozen filesystems')
    .option('--freeze-timeout <ms>', 'Freeze-to-Thaw limit (VSS default 60000)')
    .option('--write-hold <ms>', 'how long filesystems may stay frozen for the snapshot command (default 10000)')
    .option('--json', 'machine-readable result')
    .addHelpText('after', SNAPSHOT_ENV_HELP);
  addSqlOptions(backupCommand)
    .action(
      action(async (out, opts: SqlOptions & { to: string; writer?: string[]; provider: string; snapshotCommand?: string; freezeTimeout?: string; writeHold?: string }, cmd: Command) => {
        const g = cmd.optsWithGlobals() as GlobalOptions;
        const stateDir = await stateDirOf(g);
        const [{ Progress }, { backup }] = await Promise.all([import('./progress.js'), import('../requester/backup.js')]);
        // Bad input is refused before anything runs (the failure path below records a failed backup).
        const freezeTimeoutMs = ms(opts.freezeTimeout, '--freeze-timeout', 60_000);
        const writeHoldMs = ms(opts.writeHold, '--write-hold', 10_000);
        const progress = new Progress(g);
        const writers = await sqlWriters(opts);
        const r = await interruptible(async (signal) => backup({
          to: opts.to,
          writers,
          registered: await registeredWriters(stateDir),
          ...(opts.writer ? { select: opts.writer } : {}),
          provider: opts.provider as 'auto',
          ...(opts.snapshotCommand ? { snapshotCommand: opts.snapshotCommand } : {}),
          freezeTimeoutMs,
          writeHoldMs,
          stateDir,
          onProgress: (e) => progress.event(e),
          signal,
        })).catch(async (e: unknown) => {
          progress.finish();
          // The history says the backup failed; if even that cannot be written, the backup's own
          // error is what the operator needs to see.
          await tryRecordBackup(out, stateDir, { ok: false, by: 'requester', error: (e as Error).message, backupSet: opts.to }); // where status looks for leftovers
          throw e;
        });
        // The set is complete and published: a history that cannot be written is a warning, not a
        // failed backup.
        await tryRecordBackup(out, stateDir, { ok: true, by: 'requester', components: r.writers.flatMap((w) => w.components), backupSet: r.dir });
        progress.finish();
        const volumes = await providerChoices(opts.provider, r.dir, r.volumes);
        for (const v of volumes) progress.note(v.line, { type: 'provider', root: v.root, provider: v.provider, fsType: v.fsType, reason: v.reason });
        out.result({ ...r, volumes: volumes.map(({ line: _l, ...v }) => v) }, () => `backup set ${r.dir}: ${r.files} files, ${r.bytes} bytes from ${r.writers.length} writer(s) (${r.volumes.map((v) => `${v.provider}:${v.root}`).join(', ')})`);
      }),
    );

  program
    .command('verify')
    .description('recompute every file of a backup set; name any that differs, is missing or is extra')
    .argument('<backup-dir>', 'the backup set')
    .option('--json', 'machine-readable result')
    .action(
      action(async (out, dir: string, _opts, cmd: Command) => {
        const [{ Progress }, { readManifest, verifyBackupSet }] = await Promise.all([import('./progress.js'), import('../requester/backup-set.js')]);
        const progress = new Progress(cmd.optsWithGlobals() as GlobalOptions);
        // Progress by bytes of the whole set (data files and writer extras), known from the manifest.
        const m = readManifest(dir);
        const total = m.files.reduce((a, f) => a + f.size, 0) + (m.extras ?? []).reduce((a, x) => a + x.size, 0);
        let done = 0;
        const { manifest, problems } = await interruptible((signal) => verifyBackupSet(dir, { onFile: (path, bytes) => progress.bytes((done += bytes), total, path), signal })).finally(() => progress.finish());
        const bad = problems.length ? `backup set ${dir} does NOT verify:\n${problems.map((p) => `  ${p.problem}: ${p.path}${p.detail ? ` (${p.detail})` : ''}`).join('\n')}` : '';
        out.result({ ok: problems.length === 0, files: manifest.files.length, bytes: total, problems }, () => bad || `backup set ${dir} verifies: ${manifest.files.length} files, ${total} bytes`);
        // --quiet silences the report, never the reason a set is bad.
        if (bad && out.opts.quiet) out.failure(bad);
        return problems.length ? EXIT.FAILED : EXIT.OK;
      }),
    );

  const restoreCommand = program
    .command('restore')
    .description('verify a backup set, then restore it: under --to DIR, or in place where this machine\'s writers declare the files')
    .requiredOption('--from <dir>', 'the backup set')
    .option('--to <dir>', 'restore under this directory (original paths re-rooted here); SQL Server is then left alone')
    .option('--norecovery', 'leave the databases RESTORING (RESTORE … WITH NORECOVERY) so that log backups can be rolled forward to a point in time; finish with RESTORE DATABASE … WITH RECOVERY')
    .option('--json', 'machine-readable result');
  addSqlOptions(restoreCommand)
    .action(
      action(async (out, opts: SqlOptions & { from: string; to?: string }, cmd: Command) => {
        const g = cmd.optsWithGlobals() as GlobalOptions;
        const [{ Progress }, { restore }] = await Promise.all([import('./progress.js'), import('../requester/restore.js')]);
        const progress = new Progress(g);
        // Under --to the files are only extracted, so SQL Server is not needed.
        if (opts.norecovery && (opts.to || !opts.topology)) throw invalidInput('--norecovery', 'an in-place restore into SQL Server (--topology FILE, without --to)');
        const writers = opts.to ? [] : await sqlWriters(opts);
        const r = await interruptible(async (signal) => restore({ from: opts.from, ...(opts.to ? { to: opts.to } : {}), writers, registered: await registeredWriters(await stateDirOf(g)), onProgress: (e) => progress.event(e), signal })).finally(() => progress.finish());
        out.result({ ok: true, ...r }, () => `restored ${r.files} files (${r.bytes} bytes) to ${r.target}`);
      }),
    );
}
