import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { install, status, uninstall } from '../install/operations.js';
import { loadTopology, type DatabaseRole } from '../mbam/topology.js';
import { buildMbamWriterMetadata } from '../mbam/writer.js';
import { PACKAGE_ROOT } from '../platform/native.js';
import { PosixPlatform } from '../platform/posix.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { formatVssadminWriters } from '../vss/vssadmin.js';
import { metadataFingerprint, type WriterMetadata } from '../vss/writer-metadata.js';
import tmp from 'tmp';
import { action, type Output } from './common.js';
import { describeWriterMetadata } from './format.js';

export const EXAMPLE_TOPOLOGY = join(PACKAGE_ROOT, 'examples', 'two-servers.json');

/** A platform whose next registration of different metadata fails, as a VSS refusal would. */
class RefusingPlatform extends PosixPlatform {
  constructor(stateDir: string, private readonly refuse: string) {
    super(stateDir);
  }
  override async registerWriter(md: WriterMetadata | string): Promise<void> {
    if (typeof md !== 'string' && metadataFingerprint(md) === this.refuse) {
      throw new VssError(HR.VSS_E_UNEXPECTED_WRITER_ERROR, { message: 'demo: the writer store refused the new registration' });
    }
    return super.registerWriter(md);
  }
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
          await install({ topologyFile: changedFile, server: first.name, skipSqlChecks: true, platform: new RefusingPlatform(stateDir, refused), stateDir, log: (l) => log('   ' + l) });
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
        if (opts.keep) out.info(`\nstate kept in ${root}`);
        else rmSync(root, { recursive: true, force: true });
        out.result({ ok: true, topology: opts.topology, sqlChecks: 'skipped: no SQL Server configured', events }, () => '');
      }),
    );
}

