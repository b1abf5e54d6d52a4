import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { DatabaseRole } from '../mbam/topology.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import type { WriterMetadata } from '../vss/writer-metadata.js';
import { action, type Output } from './common.js';
import type { InProcessWriter } from '../vss/writer-events.js';
import { commandExists } from '../util/bounded-command.js';

/**
 * The package's example topology: the package root is two levels up from src/cli or dist/cli, as
 * platform/native.ts's PACKAGE_ROOT is, computed here so that building the program (the option's
 * default is in the help) does not import the platform layer.
 */
export const EXAMPLE_TOPOLOGY = join(fileURLToPath(new URL('../..', import.meta.url)), 'examples', 'two-servers.json');

/** A platform whose next registration of different metadata fails, as a VSS refusal would. */
async function refusingPlatform(stateDir: string, refuse: string) {
  const [{ PosixPlatform }, { metadataFingerprint }] = await Promise.all([import('../platform/posix.js'), import('../vss/writer-metadata.js')]);
  class RefusingPlatform extends PosixPlatform {
    override async registerWriter(md: WriterMetadata | string): Promise<void> {
      if (typeof md !== 'string' && metadataFingerprint(md) === refuse) {
        throw new VssError(HR.VSS_E_UNEXPECTED_WRITER_ERROR, { message: 'demo: the writer store refused the new registration' });
      }
      return super.registerWriter(md);
    }
  }
  return new RefusingPlatform(stateDir);
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('the main job on this machine, no server needed: register the MBAM writer for a two-server topology, show a rollback, uninstall')
    .option('--topology <file>', 'topology to use', EXAMPLE_TOPOLOGY)
    .option('--keep', 'keep the temporary state directories and print where they are')
    .action(
      action(async (out: Output, opts: { topology: string; keep?: boolean }) => {
        if (process.platform === 'win32') {
          throw new VssError(HR.E_NOTIMPL, { message: 'demo uses the POSIX writer registry; on Windows use install --dry-run', category: 'precondition' });
        }
        const [{ install, status, uninstall }, { loadTopology }, { buildMbamWriterMetadata }, { PosixPlatform }, { formatVssadminWriters }, { metadataFingerprint }, { default: tmp }, { describeWriterMetadata }] = await Promise.all([
          import('../install/operations.js'), import('../mbam/topology.js'), import('../mbam/writer-definition.js'), import('../platform/posix.js'),
          import('../vss/vssadmin.js'), import('../vss/writer-metadata.js'), import('tmp'), import('./format.js'),
        ]);
        const topology = loadTopology(opts.topology);
        const root = tmp.dirSync({ prefix: 'mbam-vss-demo-', unsafeCleanup: true }).name;
        const log = (l: string) => out.info(l);
        const events: unknown[] = [];
        out.info(`MBAM topology ${opts.topology}: ${topology.servers.map((s) => `${s.name} (${Object.keys(s.databases).join(', ')})`).join('; ')}`);
        out.info('No SQL Server is configured on this machine, so the SQL checks are SKIPPED (install --skip-sql-checks).\n');

        // 1. One writer instance per server, each in its own state directory (its own "machine").
        for (const s of topology.servers) {
          const stateDir = join(root, s.name);
          out.info(`== install on ${s.name} (state directory ${stateDir})`);
          const r = await install({ topologyFile: opts.topology, server: s.name, skipSqlChecks: true, platform: new PosixPlatform(stateDir), stateDir });
          events.push({ step: 'install', server: s.name, outcome: r.outcome, instanceId: r.instanceId });
          const p = new PosixPlatform(stateDir);
          out.info(formatVssadminWriters(await p.listWriters()).trimEnd());
          out.info(describeWriterMetadata(await p.getWriterMetadata(r.writerId)) + '\n');
        }

        // 2. A registration that fails is rolled back: re-install with a changed topology, and the
        //    writer store refuses the new metadata; the old registration must survive intact.
        const first = topology.servers[0]!;
        const stateDir = join(root, first.name);
        const raw = JSON.parse(readFileSync(opts.topology, 'utf8')) as { servers: { databases: Record<string, unknown> }[] };
        const role = Object.keys(first.databases)[0] as DatabaseRole;
        raw.servers[0]!.databases[role] = { name: `${first.databases[role]!.name} (moved)` };
        const changedFile = join(root, 'changed-topology.json');
        writeFileSync(changedFile, JSON.stringify(raw, null, 2));
        const refused = metadataFingerprint(buildMbamWriterMetadata(loadTopology(changedFile), first.name));
        out.info(`== forced failure: re-install ${first.name} with a changed topology; the registration step fails`);
        try {
          await install({ topologyFile: changedFile, server: first.name, skipSqlChecks: true, platform: await refusingPlatform(stateDir, refused), stateDir, log: (l) => log('   ' + l) });
        } catch (e) {
          const err = e as VssError;
          out.info(`   install failed as expected: ${err.codeText}; exit code would be ${err.category === 'failed' ? 1 : 4}`);
          events.push({ step: 'forced-failure', rolledBack: err.category === 'failed', error: err.hresultName });
        }
        const after = await status({ platform: new PosixPlatform(stateDir), stateDir });
        out.info(`   after the rollback: ${after.unfinished ? 'UNFINISHED JOURNAL' : 'no journal left'}; the registered writer still has component '${(await new PosixPlatform(stateDir).getWriterMetadata(after.writers[0]!.writerId)).components[0]!.componentName}'\n`);

        // 3. Uninstall everywhere.
        for (const s of topology.servers) {
          const dir = join(root, s.name);
          const r = await uninstall({ platform: new PosixPlatform(dir), stateDir: dir });
          events.push({ step: 'uninstall', server: s.name, outcome: r.outcome });
          out.info(`== uninstall on ${s.name}: ${r.outcome === 'committed' ? 'unregistered' : 'nothing to do'}; writers left: ${(await new PosixPlatform(dir).listWriters()).length}`);
        }
        // 4. Back up, verify and restore a sample file-group writer on a real snapshot.
        events.push(...(await demoBackup(out, root)));
        if (opts.keep) out.info(`\nstate kept in ${root}`);
        else rmSync(root, { recursive: true, force: true });
        out.result({ ok: true, topology: opts.topology, sqlChecks: 'skipped: no SQL Server configured', events }, () => '');
      }),
    );
}

/** A loop-mounted btrfs image when this is root with btrfs-progs; else a plain directory. */
function demoVolume(out: Output, root: string): { dir: string; provider: 'btrfs' | 'copy'; cleanup(): void } {
  const isRoot = typeof process.geteuid === 'function' && process.geteuid() === 0;
  if (isRoot && commandExists('mkfs.btrfs') && commandExists('losetup')) {
    const image = join(root, 'demo-btrfs.img');
    const mnt = join(root, 'demo-btrfs');
    mkdirSync(mnt);
    try {
      execFileSync('truncate', ['-s', '256M', image]);
      execFileSync('mkfs.btrfs', ['-q', '-f', image], { stdio: 'ignore' });
      execFileSync('mount', ['-o', 'loop', image, mnt]);
      out.info(`   a 256 MiB btrfs image is loop-mounted at ${mnt}; the snapshot is a read-only btrfs subvolume snapshot`);
      return { dir: mnt, provider: 'btrfs', cleanup: () => void execFileSync('umount', ['-l', mnt], { stdio: 'ignore' }) };
    } catch (e) {
      out.info(`   (could not set up a btrfs image: ${(e as Error).message.split('\n')[0]}; using the copy provider)`);
    }
  } else {
    out.info(`   ${isRoot ? 'btrfs-progs is not installed' : 'not root'}: using the copy provider in a temporary directory (no snapshot)`);
  }
  const dir = join(root, 'demo-data-volume');
  mkdirSync(dir, { recursive: true });
  return { dir, provider: 'copy', cleanup: () => {} };
}

async function demoBackup(out: Output, root: string): Promise<unknown[]> {
  const [{ backup }, { sha256File, verifyBackupSet }, { restore }, { fileList }] = await Promise.all([
    import('../requester/backup.js'), import('../requester/backup-set.js'), import('../requester/restore.js'), import('../vss/writer-metadata.js'),
  ]);
  out.info('\n== backup, verify and restore of a sample file-group writer');
  const vol = demoVolume(out, root);
  const events: unknown[] = [];
  try {
    const data = join(vol.dir, 'MBAM', 'Data');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'RecoveryKeys.mdf'), Buffer.alloc(4 << 20, 7));
    writeFileSync(join(data, 'RecoveryKeys_log.ldf'), 'log records\n'.repeat(1000));
    const seen: string[] = [];
    const writer: InProcessWriter = {
      metadata: {
        version: '1.2',
        identity: { writerId: 'c0a1e7e2-3b7d-4f59-9a51-2a3e6bd8f0a4', instanceId: 'c0a1e7e2-3b7d-4f59-9a51-2a3e6bd8f0a5', friendlyName: 'MBAM Demo File Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
        components: [{ type: 'FILEGROUP', logicalPath: 'Demo', componentName: 'Data', caption: 'sample database files', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(data, '*', true)], dependencies: [] }],
        excludeFiles: [],
        excludeFilesFromSnapshot: [],
      },
      onFreeze: () => void seen.push('Freeze'),
      onThaw: () => void seen.push('Thaw'),
    };
    const set = join(root, 'demo-backup-set');
    const r = await backup({ to: set, writers: [writer], provider: vol.provider, onProgress: (e) => e.type === 'event' && out.info(`   ${e.event.padEnd(18)} ${e.writer}: ${e.state}`) });
    out.info(`   backup set ${r.dir}: ${r.files} files, ${r.bytes} bytes, provider ${r.volumes.map((v) => v.provider).join(', ')}`);
    const v = await verifyBackupSet(set);
    out.info(`   verify: ${v.problems.length ? `${v.problems.length} problem(s)` : 'every file matches its SHA-256'}`);
    const restored = join(root, 'demo-restored');
    await restore({ from: set, to: restored });
    let same = true;
    for (const f of v.manifest.files) same &&= (await sha256File(join(restored, f.source))) === f.sha256;
    out.info(`   restore to ${restored}: ${same ? 'identical to the source' : 'DIFFERENT'}`);
    events.push({ step: 'backup', provider: r.volumes[0]?.provider, files: r.files, bytes: r.bytes }, { step: 'verify', problems: v.problems.length }, { step: 'restore', identical: same });
  } finally {
    vol.cleanup();
  }
  return events;
}
