/**
 * The same scenarios against a real SQL Server, opt-in: set MBAM_VSS_TEST_SQL_CONNECTION to a
 * topology server entry (JSON) whose password is referenced by env or file, e.g. with SQL Server
 * 2022 in a container on a developer machine:
 *
 *   docker run -e ACCEPT_EULA=Y -e MSSQL_SA_PASSWORD="$SA_PW" -p 1433:1433 mcr.microsoft.com/mssql/server:2022-latest
 *   export SA_PW MBAM_VSS_TEST_SQL_CONNECTION='{"name":"SQL1","sql":{"host":"127.0.0.1","port":1433,
 *     "auth":{"type":"sql","user":"sa","password":{"env":"SA_PW"}},"trustServerCertificate":true},
 *     "databases":{"recovery":{"name":"mbamvss_live_recovery"}}}'
 *   (create the database first), then npm test.
 *
 * Without the variable the suite reports itself skipped, in CI too (no SQL Server can run there).
 * The SQL Server writer's backup-and-restore round trip runs when the database's files are on this
 * machine (SQL Server on this host, or a container whose data directory is bind-mounted at the
 * same path); it takes the test database offline and restores it, so point it at a scratch
 * database. With a Recovery database, the entry needs "recoveryCertificatePassword" and the
 * certificate in master.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SQL_WRITER_ID } from '../../src/vss/known-writers.js';
import { backup } from '../../src/requester/backup.js';
import { restore } from '../../src/requester/restore.js';
import { createSqlSnapshotWriter } from '../../src/sql/sql-writer.js';
import { parseTopology, sqlTargetOf } from '../../src/mbam/topology.js';
import { SnapshotFreeze } from '../../src/sql/suspend.js';
import { sqlPreflight } from '../../src/sql/preflight.js';
import { SqlServerConnection } from '../../src/sql/connection.js';

const spec = process.env['MBAM_VSS_TEST_SQL_CONNECTION'];
const live = spec ? parseTopology({ servers: [JSON.parse(spec)] }).servers[0]! : undefined;

describe.skipIf(!live)(`live SQL Server suite${live ? '' : ' [skipped: set MBAM_VSS_TEST_SQL_CONNECTION to run it]'}`, () => {
  it('connects encrypted (unless the entry says otherwise) and reads the identity', async () => {
    const c = await SqlServerConnection.open(live!);
    expect(c.identity.spid).toBeGreaterThan(0);
    if (live!.sql.encrypt) expect(c.identity.encrypted).toBe(true);
    await c.close();
  });

  it('runs the preflight', async () => {
    const r = await sqlPreflight(sqlTargetOf(live!));
    expect(r[0]).toMatchObject({ check: 'sql-reachable', ok: true });
  });

  it('runs a full freeze cycle on SQL Server 2022+', async () => {
    const c = await SqlServerConnection.open(live!);
    const major = c.identity.majorVersion;
    await c.close();
    if (major < 16) return;
    const db = live!.databases.recovery?.name ?? live!.databases.complianceAudit!.name;
    const f = await SnapshotFreeze.begin(live!, [db], { deadlineMs: 30_000 });
    await f.backupMetadata(process.env['MBAM_VSS_TEST_SQL_BACKUP_PATH'] ?? `/var/opt/mssql/data/mbam-vss-live-${Date.now()}.bkm`);
    expect(f.state).toBe('backed-up');
  });

  it('backs up and restores in place through the SQL Server writer (files on this machine)', async () => {
    const writer = await createSqlSnapshotWriter({ server: sqlTargetOf(live!), ...(process.env['MBAM_VSS_TEST_SQL_EXCHANGE_DIR'] ? { exchangeDir: process.env['MBAM_VSS_TEST_SQL_EXCHANGE_DIR'] } : {}) });
    const files = writer.metadata.components.flatMap((c) => c.files.map((f) => join(f.path, f.filespec)));
    if (files.length === 0 || !files.every((f) => existsSync(f))) return; // SQL Server's files are elsewhere
    const set = join(mkdtempSync(join(tmpdir(), 'mbam-live-')), 'set');
    const r = await backup({ to: set, writers: [writer], select: [SQL_WRITER_ID], provider: 'copy' });
    expect(r.writers[0]).toMatchObject({ state: 'STABLE', lastError: 0 });
    const back = await restore({ from: set, writers: [writer] });
    expect(back.files).toBe(files.length);
    const c = await SqlServerConnection.open(live!);
    const states = await c.query<{ state: string }>('live-state', 'SELECT state_desc AS state FROM sys.databases WHERE name = @db', { db: writer.metadata.components[0]!.componentName });
    await c.close();
    expect(states[0]?.state).toBe('ONLINE');
  });
});
