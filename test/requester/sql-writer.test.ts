/**
 * The POSIX SQL Server writer in the requester's backup and restore: the MBAM writer's components
 * pull in SQL's database and master components; the databases are suspended over TDS while their
 * files are snapshotted or copied; the metadata backup and the Recovery certificate land in the
 * set; restore takes the databases offline, puts the files back and RESTOREs WITH METADATA_ONLY.
 * The "SQL Server" is the TDS test server; its database files are real files, written by a
 * workload that, like SQL Server, never writes a suspended database.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildMbamWriterMetadata } from '../../src/mbam/writer-definition.js';
import { SQL_WRITER_ID } from '../../src/vss/known-writers.js';
import { parseTopology, RECOVERY_CERTIFICATE, sqlTargetOf, type Topology } from '../../src/mbam/topology.js';
import { backup } from '../../src/requester/backup.js';
import { verifyBackupSet } from '../../src/requester/backup-set.js';
import { restore } from '../../src/requester/restore.js';
import { createSqlSnapshotWriter, SET_FILES } from '../../src/sql/sql-writer.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { runCliAsync } from '../support/cli.js';
import { CLI } from '../support/paths.js';
import { loopPrereq, makeLoopFs, type LoopFs } from '../support/loop.js';
import { itRequires } from '../support/prereq.js';
import { leastPrivilegeLogin, PASSWORD_ENV, SQL2022_CU16, SQL_PASSWORD, topologyJson } from '../support/sql.js';
import { tempDir } from '../support/state.js';
import { startTdsServer, type TdsServerHandle, type TdsServerOptions } from '../support/tds-server.js';

const RECOVERY = 'MBAM Recovery and Hardware';
const COMPLIANCE = 'MBAM Compliance Status';
const CERT_ENV = 'MBAM_VSS_TEST_CERT_PASSWORD';
process.env[CERT_ENV] = 'certificate password; it is secret';
const MASTER_KEY_ENV = 'MBAM_VSS_TEST_MASTER_KEY_PASSWORD';
process.env[MASTER_KEY_ENV] = 'master key password, also secret';

interface Rig {
  root: string;
  data: string;
  exchange: string;
  tds: TdsServerHandle;
  topology: Topology;
  topologyFile: string;
  /** Appends a record to each database file every few ms, unless SQL Server holds it suspended. */
  workload(): () => void;
  /**
   * What each database file held when SQL Server recorded the metadata backup: no write lands
   * while suspended, so this is exactly what the backup must hold.
   */
  contentsAtMetadataBackup(): Map<string, string>;
  files: string[];
}

let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** What each statement is, by its recognised kind (and, for the suspension check, its text). */
function label(st: { kind: string; text: string }): string {
  if (st.kind === 'select' && st.text.includes('IsDatabaseSuspendedForSnapshotBackup')) return 'suspend-status';
  return st.kind;
}

async function rig(opts: { dataDir?: string; certificatePassword?: boolean; masterKeyPassword?: boolean; tds?: TdsServerOptions; recoveryDb?: Partial<NonNullable<TdsServerOptions['databases']>[number]> } = {}): Promise<Rig> {
  const root = tempDir('mbam-sqlw-');
  const data = opts.dataDir ?? join(root, 'data');
  mkdirSync(data, { recursive: true });
  const exchange = join(root, 'exchange');
  mkdirSync(exchange);
  const dbFiles = {
    [RECOVERY]: [join(data, 'MBAMRecovery.mdf'), join(data, 'MBAMRecovery_log.ldf')],
    [COMPLIANCE]: [join(data, 'MBAMCompliance.mdf'), join(data, 'MBAMCompliance_log.ldf')],
  };
  for (const f of Object.values(dbFiles).flat()) writeFileSync(f, `header of ${f}\n`);
  const tds = await startTdsServer({
    productVersion: SQL2022_CU16,
    databases: [
      { name: RECOVERY, files: [{ type: 'ROWS', physicalName: dbFiles[RECOVERY][0]!, sizePages: 1 }, { type: 'LOG', physicalName: dbFiles[RECOVERY][1]!, sizePages: 1 }], ...opts.recoveryDb },
      { name: COMPLIANCE, files: [{ type: 'ROWS', physicalName: dbFiles[COMPLIANCE][0]!, sizePages: 1 }, { type: 'LOG', physicalName: dbFiles[COMPLIANCE][1]!, sizePages: 1 }] },
      { name: 'master' },
    ],
    certificates: [RECOVERY_CERTIFICATE],
    defaultBackupPath: exchange,
    ...opts.tds,
  });
  cleanups.push(() => tds.close());
  const json = topologyJson(tds, { compliance: COMPLIANCE }) as { servers: Record<string, unknown>[] };
  if (opts.certificatePassword !== false) json.servers[0]!['recoveryCertificatePassword'] = { env: CERT_ENV };
  if (opts.masterKeyPassword) json.servers[0]!['masterKeyPassword'] = { env: MASTER_KEY_ENV };
  const topologyFile = join(root, 'topology.json');
  writeFileSync(topologyFile, JSON.stringify(json));
  let n = 0;
  return {
    root,
    data,
    exchange,
    tds,
    topology: parseTopology(json),
    topologyFile,
    files: Object.values(dbFiles).flat(),
    contentsAtMetadataBackup() {
      const at = new Map<string, string>();
      tds.onStatement = (kind) => {
        if (kind === 'backup-group') for (const f of Object.values(dbFiles).flat()) at.set(f, read(f));
      };
      return at;
    },
    workload() {
      const timer = setInterval(() => {
        const held = new Set(tds.suspended().map((s) => s.database));
        for (const [db, files] of Object.entries(dbFiles)) {
          if (held.has(db)) continue;
          for (const f of files) appendFileSync(f, `record ${++n} of ${db}\n`);
        }
      }, 2);
      return () => clearInterval(timer);
    },
  };
}

const read = (f: string) => readFileSync(f, 'utf8');

async function backupWithSql(r: Rig, to: string, extra: Partial<Parameters<typeof backup>[0]> = {}) {
  const sqlWriter = await createSqlSnapshotWriter({ server: sqlTargetOf(r.topology.servers[0]!) });
  const mbam = buildMbamWriterMetadata(r.topology, 'MBAM-DB1');
  return { sqlWriter, result: await backup({ to, writers: [sqlWriter], registered: [mbam], select: [mbam.identity.writerId], provider: 'copy', ...extra }) };
}

describe('SQL Server writer (T-SQL snapshot backup) in the POSIX requester', () => {
  it('backs up the MBAM databases consistently, with the metadata backup and the certificate', async () => {
    const r = await rig();
    const atBackup = r.contentsAtMetadataBackup();
    const stop = r.workload();
    await new Promise((res) => setTimeout(res, 30));
    const set = join(r.root, 'set');
    const { result } = await backupWithSql(r, set);
    await new Promise((res) => setTimeout(res, 30));
    stop();

    expect(result.writers.map((w) => [w.name, w.state, w.lastError])).toEqual([
      ['Microsoft BitLocker Administration and Management Writer', 'STABLE', 0],
      ['SqlServerWriter', 'STABLE', 0],
    ]);
    const tags = r.tds.statements.map(label).filter((t) => ['backup-certificate', 'suspend-group', 'suspend-status', 'backup-group'].includes(t));
    expect(tags).toEqual(['backup-certificate', 'suspend-group', 'suspend-status', 'suspend-status', 'backup-group']);
    // COPY_ONLY: the tool's snapshot leaves the DBA's differential base alone
    expect(r.tds.backups[0]!.copyOnly).toBe(true);
    expect(r.tds.database(RECOVERY)!.differentialMapValid).toBe(true);
    expect(r.tds.database(RECOVERY)!.differentialBaseLsn).toBeNull();
    expect(r.tds.suspended()).toEqual([]);
    expect(r.tds.backups[0]!.databases.sort()).toEqual([COMPLIANCE, RECOVERY].sort());

    const { manifest, problems } = await verifyBackupSet(set);
    expect(problems).toEqual([]);
    for (const f of r.files) {
      const inSet = manifest.files.find((m) => m.source === f)!;
      expect(inSet.writerId).toBe(SQL_WRITER_ID);
      expect(read(join(set, inSet.path)), f).toBe(atBackup.get(f));
      // the workload went on after the thaw: the live file has moved on
      expect(read(f).length).toBeGreaterThan(atBackup.get(f)!.length);
    }
    const sqlInSet = manifest.writers.find((w) => w.writerId === SQL_WRITER_ID)!;
    expect(sqlInSet.components.sort()).toEqual([`MBAM-DB1\\${COMPLIANCE}`, `MBAM-DB1\\${RECOVERY}`, 'MBAM-DB1\\master'].sort());
    expect(manifest.extras.map((e) => e.path).sort()).toEqual(
      [SET_FILES.metadataBackup, SET_FILES.certificate, SET_FILES.privateKey].map((n) => `writer-files/${sqlInSet.instanceId}/${n}`).sort(),
    );
    // nothing is left where SQL Server wrote, and the password is in no file of the set
    expect(readdirSync(r.exchange)).toEqual([]);
    for (const e of [...manifest.extras.map((x) => x.path), 'manifest.json', 'BCDocument.xml']) expect(read(join(set, e))).not.toContain(process.env[CERT_ENV]);
  });

  it('restores in place: databases offline, files back, RESTORE … WITH METADATA_ONLY, REPLACE, certificate re-created', async () => {
    const r = await rig();
    const set = join(r.root, 'set');
    await backupWithSql(r, set);
    const backedUp = new Map(r.files.map((f) => [f, read(f)]));
    for (const f of r.files) appendFileSync(f, 'written after the backup\n');
    r.tds.state.certificates.length = 0; // the server lost master's certificate (a new server)
    const before = r.tds.statements.length;

    const sqlWriter = await createSqlSnapshotWriter({ server: sqlTargetOf(r.topology.servers[0]!) });
    const logs: string[] = [];
    const result = await restore({ from: set, writers: [sqlWriter], onProgress: (e) => e.type === 'log' && logs.push(e.message) });
    expect(result.files).toBe(4);
    for (const f of r.files) expect(read(f)).toBe(backedUp.get(f));
    const sent = r.tds.statements.slice(before).map((s) => s.kind).filter((t) => ['set-offline', 'restore-headeronly', 'restore-database', 'create-certificate'].includes(t));
    // the certificate before the databases that need it
    expect(sent).toEqual(['set-offline', 'set-offline', 'create-certificate', 'restore-headeronly', 'restore-database', 'restore-database']);
    // one group backup set: each database restored from its own entry (DBNAME), not the set's first
    expect(r.tds.restores.map((x) => [x.database, x.source]).sort()).toEqual([[COMPLIANCE, COMPLIANCE], [RECOVERY, RECOVERY]]);
    expect(r.tds.state.databases.filter((d) => !d.system).map((d) => d.state)).toEqual(['ONLINE', 'ONLINE']);
    expect(r.tds.state.certificates.map((c) => c.name)).toEqual([RECOVERY_CERTIFICATE]);
    expect(readdirSync(r.exchange)).toEqual([]);
    expect(logs.join('\n')).toMatch(/took .* offline/);

    // A second restore finds the certificate there and leaves it alone.
    await restore({ from: set, writers: [sqlWriter], onProgress: (e) => e.type === 'log' && logs.push(e.message) });
    expect(logs.at(-1)).toMatch(/already in master/);
  });

  it('restore under --to extracts the files and leaves SQL Server alone', async () => {
    const r = await rig();
    const set = join(r.root, 'set');
    await backupWithSql(r, set);
    const before = r.tds.statements.length;
    const sqlWriter = await createSqlSnapshotWriter({ server: sqlTargetOf(r.topology.servers[0]!) });
    const out = join(r.root, 'out');
    await restore({ from: set, to: out, writers: [sqlWriter] });
    expect(r.tds.statements.slice(before).map((s) => s.kind).filter((t) => t.startsWith('restore') || t === 'set-offline')).toEqual([]);
    for (const f of r.files) expect(existsSync(join(out, f))).toBe(true);
  });

  it('a failed RESTORE says the databases are left offline and what to do', async () => {
    const r = await rig();
    const set = join(r.root, 'set');
    await backupWithSql(r, set);
    r.tds.faults.killOn = ['restore-database'];
    const sqlWriter = await createSqlSnapshotWriter({ server: sqlTargetOf(r.topology.servers[0]!) });
    const err = await restore({ from: set, writers: [sqlWriter] }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.message).toMatch(/PostRestore/);
    expect(String(err.cause?.hint ?? err.hint)).toMatch(/OFFLINE .* restore again/);
    expect(readdirSync(r.exchange)).toEqual([]);
  });

  it('a symbolic link swapped in for the metadata backup in the exchange directory is refused, not followed', async () => {
    const r = await rig();
    const secret = join(r.root, 'not-for-the-backup');
    writeFileSync(secret, 'private');
    r.tds.onStatement = (kind) => {
      if (kind !== 'backup-group') return;
      // Right after SQL Server has written the file, before mbam-vss reads it.
      setImmediate(() => {
        const bkm = readdirSync(r.exchange).find((n) => n.endsWith('.bkm'))!;
        rmSync(join(r.exchange, bkm));
        symlinkSync(secret, join(r.exchange, bkm));
      });
    };
    const set = join(r.root, 'set');
    const err = await backupWithSql(r, set).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.message).toMatch(/ELOOP|symbolic link/);
    expect(existsSync(set)).toBe(false);
    expect(readdirSync(r.exchange)).toEqual([]);
  });

  it('without the certificate password the backup stops before anything is frozen, naming the setting', async () => {
    const r = await rig({ certificatePassword: false });
    const set = join(r.root, 'set');
    const err = await backupWithSql(r, set).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(String(err.hint)).toMatch(/recoveryCertificatePassword/);
    expect(r.tds.statements.some((s) => s.kind.startsWith('suspend'))).toBe(false);
    expect(existsSync(set)).toBe(false);
  });

  it('a database already suspended elsewhere fails Freeze (retryable), aborts, and leaves nothing suspended by us', async () => {
    const r = await rig();
    r.tds.faults.noAnswer = [];
    const set = join(r.root, 'set');
    // Another session's suspension of the Recovery database (error 3081 for ours).
    const { SnapshotFreeze } = await import('../../src/sql/suspend.js');
    const other = await SnapshotFreeze.begin(r.topology.servers[0]!, [RECOVERY]);
    cleanups.push(() => other.abort());
    const err = await backupWithSql(r, set).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_RETRYABLE);
    const sql = err.details.writers.find((w: { name: string }) => w.name === 'SqlServerWriter');
    expect(sql).toMatchObject({ state: 'FAILED_AT_FREEZE', lastError: HR.VSS_E_WRITERERROR_RETRYABLE });
    expect(r.tds.suspended()).toMatchObject([{ database: RECOVERY, spid: other.spid }]);
    expect(existsSync(set)).toBe(false);
  });

  it('a database file that is not on this machine stops the backup at PrepareForBackup', async () => {
    const r = await rig();
    r.tds.database(COMPLIANCE)!.files = [
      { type: 'ROWS', physicalName: '/nonexistent/elsewhere/MBAMCompliance.mdf', sizePages: 1, name: COMPLIANCE },
      { type: 'LOG', physicalName: '/nonexistent/elsewhere/MBAMCompliance_log.ldf', sizePages: 1, name: `${COMPLIANCE}_log` },
    ];
    const err = await backupWithSql(r, join(r.root, 'set')).catch((e) => e);
    expect(err.message).toMatch(/not on this machine/);
    expect(err.details.writers.find((w: { name: string }) => w.name === 'SqlServerWriter').state).toBe('FAILED_AT_PREPARE_BACKUP');
  });

  it('the MBAM writer without the SQL Server writer fails before freezing, saying to pass the topology', async () => {
    const r = await rig();
    const mbam = buildMbamWriterMetadata(r.topology, 'MBAM-DB1');
    const err = await backup({ to: join(r.root, 'set'), registered: [mbam], provider: 'copy' }).catch((e) => e);
    expect(err.message).toMatch(/depends on writer \{a65faa63-5ea8-4ebc-9dbd-a0c4db26912a\}/);
    expect(err.hint).toMatch(/--topology/);
    expect(r.tds.statements.some((s) => s.kind.startsWith('suspend'))).toBe(false);
  });

  it('the CLI: install, backup --topology, verify, restore in place', async () => {
    const r = await rig();
    const state = join(r.root, 'state');
    const common = ['--state-dir', state];
    const env = { [PASSWORD_ENV]: SQL_PASSWORD, [CERT_ENV]: process.env[CERT_ENV] };
    const inst = await runCliAsync(['install', '--topology', r.topologyFile, '--server', 'MBAM-DB1', ...common], env);
    expect(inst.code, inst.stderr).toBe(0);
    const set = join(r.root, 'set');
    const b = await runCliAsync(['backup', '--to', set, '--topology', r.topologyFile, '--server', 'MBAM-DB1', '--provider', 'copy', '--json', ...common], env);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json()).toMatchObject({ ok: true, files: 4 });
    expect(b.stderr).toContain('"type":"log"');
    expect((await runCliAsync(['verify', set], env)).code).toBe(0);
    const backedUp = new Map(r.files.map((f) => [f, read(f)]));
    for (const f of r.files) appendFileSync(f, 'later\n');
    const res = await runCliAsync(['restore', '--from', set, '--topology', r.topologyFile, '--server', 'MBAM-DB1', '--json', ...common], env);
    expect(res.code, res.stderr).toBe(0);
    for (const f of r.files) expect(read(f)).toBe(backedUp.get(f));
    expect(r.tds.restores).toHaveLength(2);
    // --norecovery: the databases stay RESTORING for log backups (point-in-time recovery of keys)
    const nr = await runCliAsync(['restore', '--from', set, '--topology', r.topologyFile, '--server', 'MBAM-DB1', '--norecovery', ...common], env);
    expect(nr.code, nr.stderr).toBe(0);
    expect(r.tds.state.databases.filter((d) => d.name.startsWith('MBAM')).map((d) => d.state)).toEqual(['RESTORING', 'RESTORING']);
    expect((await runCliAsync(['restore', '--from', set, '--to', join(r.root, 'x'), '--norecovery', ...common], env)).code).toBe(2);
    const noTopology = await runCliAsync(['restore', '--from', set, ...common], env);
    expect(noTopology.code).toBe(2);
    expect(noTopology.stderr).toMatch(/--topology FILE/);
    // without the topology, the dependency cannot be met: a precondition (exit 3) that says why
    const noSql = await runCliAsync(['backup', '--to', join(r.root, 'set2'), '--provider', 'copy', ...common], env);
    expect(noSql.code).toBe(3);
    expect(noSql.stderr).toMatch(/--topology/);
    expect((await runCliAsync(['backup', '--to', join(r.root, 'set3'), '--server', 'MBAM-DB1', ...common], env)).code).toBe(2);
  });
});

describe('SQL Server writer: #14 §2 defects', () => {
  it('§2.1 a least-privilege login (no sys.master_files rows) backs up every file', async () => {
    const r = await rig({ tds: { logins: { mbam_vss: leastPrivilegeLogin({ serverPermissions: ['ALTER SETTINGS'] }) } } });
    const { result, sqlWriter } = await backupWithSql(r, join(r.root, 'set'));
    expect(result.files).toBe(4);
    expect(sqlWriter.metadata.components.filter((c) => c.componentName !== 'master').map((c) => c.files.length)).toEqual([2, 2]);
  });

  it('§2.1 a database that shows no data or log file fails PrepareForBackup: no backup, no msdb record', async () => {
    const r = await rig({ recoveryDb: { files: [] } });
    const err = await backupWithSql(r, join(r.root, 'set')).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.message).toMatch(/'MBAM Recovery and Hardware' .*shows the login no files/);
    expect(err.details.writers.find((w: { name: string }) => w.name === 'SqlServerWriter').state).toBe('FAILED_AT_PREPARE_BACKUP');
    expect(r.tds.state.backupHistory).toEqual([]);
    expect(existsSync(join(r.root, 'set'))).toBe(false);
  });

  it('§2.8 a TDE-protected Recovery database restores on a fresh server: master key, certificate, then databases', async () => {
    const r = await rig({ masterKeyPassword: true, recoveryDb: { encrypted: true } });
    const set = join(r.root, 'set');
    await backupWithSql(r, set);
    // a fresh server: master has neither the certificate nor a database master key
    r.tds.state.certificates.length = 0;
    r.tds.database('master')!.masterKey = false;
    const before = r.tds.statements.length;
    const sqlWriter = await createSqlSnapshotWriter({ server: sqlTargetOf(r.topology.servers[0]!) });
    await restore({ from: set, writers: [sqlWriter] });
    const kinds = r.tds.statements.slice(before).map((x) => x.kind).filter((k) => ['create-master-key', 'create-certificate', 'restore-database'].includes(k));
    expect(kinds).toEqual(['create-master-key', 'create-certificate', 'restore-database', 'restore-database']);
    expect(r.tds.state.certificates.map((c) => c.name)).toEqual([RECOVERY_CERTIFICATE]);
    const sent = r.tds.statements.slice(before).map((x) => x.text).join('\n');
    expect(sent).toContain(process.env[MASTER_KEY_ENV]!.replace(/'/g, "''")); // inside the statement only
  });

  it('§2.8 without a master key password on a fresh server, the restore stops before the databases, naming the setting', async () => {
    const r = await rig();
    const set = join(r.root, 'set');
    await backupWithSql(r, set);
    r.tds.state.certificates.length = 0;
    r.tds.database('master')!.masterKey = false;
    const sqlWriter = await createSqlSnapshotWriter({ server: sqlTargetOf(r.topology.servers[0]!) });
    const before = r.tds.statements.length;
    const err = await restore({ from: set, writers: [sqlWriter] }).catch((e) => e);
    expect(String(err.cause?.hint ?? err.hint) + err.message).toMatch(/masterKeyPassword/);
    expect(r.tds.statements.slice(before).some((x) => x.kind === 'restore-database')).toBe(false);
  });

  it('§2.10 restore with norecovery leaves the databases RESTORING for log backups', async () => {
    const r = await rig();
    const set = join(r.root, 'set');
    await backupWithSql(r, set);
    const sqlWriter = await createSqlSnapshotWriter({ server: sqlTargetOf(r.topology.servers[0]!), norecovery: true });
    const logs: string[] = [];
    await restore({ from: set, writers: [sqlWriter], onProgress: (e) => e.type === 'log' && logs.push(e.message) });
    expect(r.tds.restores.map((x) => x.recovery)).toEqual([false, false]);
    expect([r.tds.database(RECOVERY)!.state, r.tds.database(COMPLIANCE)!.state]).toEqual(['RESTORING', 'RESTORING']);
    expect(logs.join('\n')).toMatch(/RESTORE LOG .* WITH RECOVERY/);
  });

  it('§2.11 a RESTORE that takes longer than the driver\'s 15 s default completes', async () => {
    const r = await rig();
    const set = join(r.root, 'set');
    await backupWithSql(r, set);
    r.tds.faults.delay = [{ on: /RESTORE DATABASE \[MBAM Compliance Status\]/, ms: 16_000 }];
    const sqlWriter = await createSqlSnapshotWriter({ server: sqlTargetOf(r.topology.servers[0]!) });
    await restore({ from: set, writers: [sqlWriter] });
    expect(r.tds.restores).toHaveLength(2);
  }, 40_000);
});

describe('SQL Server writer: the suspension never outlives the requester', () => {
  it('a requester killed with SIGKILL while the databases are suspended leaves them thawed at once', async () => {
    const r = await rig();
    // The metadata backup never answers: the requester sits at Thaw with the databases suspended.
    r.tds.faults.noAnswer = ['backup-group'];
    const state = join(r.root, 'state');
    const child = spawn(process.execPath, [CLI, 'backup', '--to', join(r.root, 'set'), '--topology', r.topologyFile, '--server', 'MBAM-DB1', '--provider', 'copy', '--state-dir', state, '--json'], {
      env: { ...process.env, [PASSWORD_ENV]: SQL_PASSWORD, [CERT_ENV]: process.env[CERT_ENV] },
      stdio: 'ignore',
    });
    cleanups.push(() => child.kill('SIGKILL'));
    const until = Date.now() + 20_000;
    while (!r.tds.statements.some((s) => s.kind === 'backup-group') && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
    expect(r.tds.suspended().map((x) => x.database).sort()).toEqual([COMPLIANCE, RECOVERY].sort());
    const killedAt = Date.now();
    child.kill('SIGKILL');
    while (r.tds.suspended().length && Date.now() - killedAt < 5000) await new Promise((res) => setTimeout(res, 5));
    // Closing the suspending session is what thaws; the kernel closes it with the process.
    expect(r.tds.suspended()).toEqual([]);
    expect(Date.now() - killedAt).toBeLessThan(1000);
    expect(existsSync(join(r.root, 'set'))).toBe(false);
  }, 30_000);
});

describe('SQL Server writer on a btrfs snapshot', () => {
  let loop: LoopFs | undefined;
  afterEach(() => {
    loop?.cleanup();
    loop = undefined;
  });
  itRequires(loopPrereq('btrfs'), 'the databases are suspended only around the snapshot; the set holds what SQL Server recorded', async () => {
    loop = makeLoopFs('btrfs');
    const r = await rig({ dataDir: join(loop.mountPoint, 'mssql', 'data') });
    const atBackup = r.contentsAtMetadataBackup();
    const stop = r.workload();
    await new Promise((res) => setTimeout(res, 30));
    const set = join(r.root, 'set');
    const { result } = await backupWithSql(r, set, { provider: 'btrfs' });
    stop();
    expect(result.volumes.map((v) => v.provider)).toEqual(['btrfs']);
    const { manifest, problems } = await verifyBackupSet(set);
    expect(problems).toEqual([]);
    for (const f of r.files) expect(read(join(set, manifest.files.find((m) => m.source === f)!.path))).toBe(atBackup.get(f));
    // the read-only snapshot is gone
    expect(readdirSync(loop.mountPoint).filter((n) => n.startsWith('.mbam-vss-snapshot'))).toEqual([]);
  });
});
