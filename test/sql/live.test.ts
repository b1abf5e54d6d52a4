/**
 * The same scenarios against a real SQL Server, opt-in (docs/sql-server.md, "Live suite"):
 *
 *   MBAM_VSS_TEST_SQL_CONNECTION  a topology server entry (JSON) with a sysadmin-capable login, its
 *                                 password by env or file, and BOTH MBAM databases ("recovery" and
 *                                 "complianceAudit": scratch databases; the suite restores them)
 *   MBAM_VSS_TEST_SQL_LEAST       optional: the same entry with the least-privilege login
 *                                 (docs/sql-server.md lists its grants)
 *   MBAM_VSS_TEST_SQL_BACKUP_DIR  a directory SQL Server can write (default: its default backup path)
 *
 * Without the variable the suite reports itself skipped, in CI too (no SQL Server runs there). On
 * a server older than SQL Server 2022 (or a 2022 build without the suspend fixes) each test reports
 * itself skipped with the reason, never passed.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { SQL_WRITER_ID } from '../../src/vss/known-writers.js';
import { backup } from '../../src/requester/backup.js';
import { restore } from '../../src/requester/restore.js';
import { createSqlSnapshotWriter } from '../../src/sql/sql-writer.js';
import { parseTopology, sqlTargetOf, type ServerTopology } from '../../src/mbam/topology.js';
import { checkSuspendSupport, SnapshotFreeze } from '../../src/sql/suspend.js';
import { sqlPreflight } from '../../src/sql/preflight.js';
import { SqlServerConnection } from '../../src/sql/connection.js';
import { defaultBackupDirectory } from '../../src/sql/discovery.js';
import { restoreFromMetadataBackup, takeOffline } from '../../src/sql/snapshot-restore.js';

const entry = (v: string | undefined): ServerTopology | undefined => (v ? parseTopology({ servers: [JSON.parse(v)] }).servers[0] : undefined);
const live = entry(process.env['MBAM_VSS_TEST_SQL_CONNECTION']);
const least = entry(process.env['MBAM_VSS_TEST_SQL_LEAST']);

/** Skips (with the reason) unless the server can run the T-SQL snapshot path for these databases. */
async function requireSnapshotServer(ctx: TestContext, server: ServerTopology): Promise<void> {
  const c = await SqlServerConnection.open(server);
  try {
    checkSuspendSupport(server, c.identity, sqlTargetOf(server).databases.length);
  } catch (e) {
    ctx.skip(`skipped: ${(e as Error).message}`);
  } finally {
    await c.close();
  }
}

function databasesOf(server: ServerTopology): string[] {
  return sqlTargetOf(server).databases.map((d) => d.name);
}

async function backupDir(server: ServerTopology): Promise<string> {
  if (process.env['MBAM_VSS_TEST_SQL_BACKUP_DIR']) return process.env['MBAM_VSS_TEST_SQL_BACKUP_DIR'];
  const c = await SqlServerConnection.open(server);
  try {
    return (await defaultBackupDirectory(c)) ?? '/var/opt/mssql/data';
  } finally {
    await c.close();
  }
}

describe.skipIf(!live)(`live SQL Server suite${live ? '' : ' [skipped: set MBAM_VSS_TEST_SQL_CONNECTION to run it]'}`, () => {
  it('connects (encrypted unless the entry says otherwise) and reads the identity', async () => {
    const c = await SqlServerConnection.open(live!);
    expect(c.identity.spid).toBeGreaterThan(0);
    if (live!.sql.encrypt) expect(c.identity.encrypted).toBe(true);
    await c.close();
  });

  it('runs the preflight, every check passing', async () => {
    const r = await sqlPreflight(sqlTargetOf(live!));
    expect(r.filter((x) => !x.ok)).toEqual([]);
  });

  it('the group path: suspends both MBAM databases on one session and records one COPY_ONLY backup set', async (ctx) => {
    await requireSnapshotServer(ctx, live!);
    const dbs = databasesOf(live!);
    expect(dbs.length, 'the entry must name both MBAM databases').toBe(2);
    const f = await SnapshotFreeze.begin(live!, dbs, { deadlineMs: 30_000 });
    await f.backupMetadata(join(await backupDir(live!), `mbam-vss-live-${Date.now()}.bkm`));
    expect(f.state).toBe('backed-up');
  });

  it.skipIf(!least)(`a least-privilege login runs the preflight and the group path${least ? '' : ' [skipped: set MBAM_VSS_TEST_SQL_LEAST]'}`, async (ctx) => {
    await requireSnapshotServer(ctx, least!);
    expect((await sqlPreflight(sqlTargetOf(least!))).filter((x) => !x.ok)).toEqual([]);
    const f = await SnapshotFreeze.begin(least!, databasesOf(least!), { deadlineMs: 30_000 });
    await f.backupMetadata(join(await backupDir(least!), `mbam-vss-live-least-${Date.now()}.bkm`));
    expect(f.state).toBe('backed-up');
  });

  it('restores the second MBAM database from the group metadata backup (files in place)', async (ctx) => {
    await requireSnapshotServer(ctx, live!);
    const dbs = databasesOf(live!);
    const bkm = join(await backupDir(live!), `mbam-vss-live-restore-${Date.now()}.bkm`);
    const f = await SnapshotFreeze.begin(live!, dbs, { deadlineMs: 30_000 });
    await f.backupMetadata(bkm);
    // METADATA_ONLY restores onto the files as they are: taken offline at once, the database's
    // files are those of the (empty) snapshot window, which is what the test needs.
    const c = await SqlServerConnection.open(live!);
    try {
      await takeOffline(c, [dbs[1]!]);
      await restoreFromMetadataBackup(c, bkm, [dbs[1]!]);
      const rows = await c.query<{ state: string }>('live-state', 'SELECT state_desc AS state FROM sys.databases WHERE name = @db', { db: dbs[1]! });
      expect(rows[0]?.state).toBe('ONLINE');
      const hist = await c.query<{ name: string }>('live-history', 'SELECT TOP 1 destination_database_name AS name FROM msdb.dbo.restorehistory ORDER BY restore_history_id DESC');
      expect(hist[0]?.name).toBe(dbs[1]);
    } finally {
      await c.close();
    }
  });

  it('backs up and restores in place through the SQL Server writer (files on this machine)', async (ctx) => {
    await requireSnapshotServer(ctx, live!);
    const writer = await createSqlSnapshotWriter({ server: sqlTargetOf(live!), ...(process.env['MBAM_VSS_TEST_SQL_EXCHANGE_DIR'] ? { exchangeDir: process.env['MBAM_VSS_TEST_SQL_EXCHANGE_DIR'] } : {}) });
    const files = writer.metadata.components.flatMap((c) => c.files.map((f) => join(f.path, f.filespec)));
    if (files.length === 0 || !files.every((f) => existsSync(f))) ctx.skip('skipped: SQL Server\'s database files are not on this machine (run on the SQL Server host, or bind-mount its data directory at the same path)');
    const set = join(mkdtempSync(join(tmpdir(), 'mbam-live-')), 'set');
    const r = await backup({ to: set, writers: [writer], select: [SQL_WRITER_ID], provider: 'copy' });
    expect(r.writers[0]).toMatchObject({ state: 'STABLE', lastError: 0 });
    const back = await restore({ from: set, writers: [writer] });
    expect(back.files).toBe(files.length);
  });
});
