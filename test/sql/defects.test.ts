/**
 * Issue #14 §2: each defect of the SQL layer, reproduced against the TDS test server (which
 * answers as SQL Server 2022 does: test/support/tds/BEHAVIOURS.md).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTopology, sqlTargetOf } from '../../src/mbam/topology.js';
import { SqlServerConnection, tediousConfig } from '../../src/sql/connection.js';
import { discover } from '../../src/sql/discovery.js';
import { redactSecret } from '../../src/sql/errors.js';
import { restoreFromMetadataBackup, takeOffline } from '../../src/sql/snapshot-restore.js';
import { SnapshotFreeze } from '../../src/sql/suspend.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { leastPrivilegeLogin, mbamDatabases, PASSWORD_ENV, serverFor, SQL2022_CU16 } from '../support/sql.js';
import { startTdsServer, type TdsServerHandle, type TdsServerOptions } from '../support/tds-server.js';

const RECOVERY = 'MBAM Recovery and Hardware';
const COMPLIANCE = 'MBAM Compliance Status';
const both = [RECOVERY, COMPLIANCE];
const BK = mkdtempSync(join(tmpdir(), 'mbam-tds-defects-'));

let servers: TdsServerHandle[] = [];
async function tds(opts: TdsServerOptions = {}): Promise<TdsServerHandle> {
  const s = await startTdsServer({ productVersion: SQL2022_CU16, databases: mbamDatabases(), certificates: ['MBAM Recovery Encryption Certificate'], ...opts });
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

describe('#14 §2.1: a login that cannot see sys.master_files still backs up every file', () => {
  it('reads the files from the database\'s own sys.database_files, and says where they came from', async () => {
    const s = await tds({ logins: { mbam_vss: leastPrivilegeLogin({ serverPermissions: ['ALTER SETTINGS'] }) } });
    const conn = await SqlServerConnection.open(serverFor(s, { compliance: COMPLIANCE }));
    const d = await discover(conn, sqlTargetOf(conn.server as Parameters<typeof sqlTargetOf>[0]));
    await conn.close();
    for (const db of d.databases) {
      expect(db).toMatchObject({ filesFrom: 'sys.database_files', filesVisible: true });
      expect(db.files.map((f) => f.type)).toEqual(['ROWS', 'LOG']);
    }
  });
});

describe('#14 §2.3: errors are mapped from the cause, not the trailer', () => {
  it('5011 + 5069 (missing database or no ALTER): the cause, a precondition', async () => {
    const s = await tds();
    const err = await SnapshotFreeze.begin(serverFor(s), ['no such database']).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.message).toMatch(/does not have permission to alter database 'no such database'.*SQL error 5011, then 5069/);
    expect(err.category).toBe('precondition');
  });

  it('262 + 3013 (no BACKUP DATABASE): a precondition naming the permission', async () => {
    const s = await tds({ logins: { mbam_vss: { ...leastPrivilegeLogin(), databases: { [RECOVERY]: { permissions: ['ALTER'] }, [COMPLIANCE]: { permissions: ['ALTER'] } } } } });
    const f = await SnapshotFreeze.begin(serverFor(s), [RECOVERY]);
    const err = await f.backupMetadata(`${BK}/denied.bkm`).catch((e) => e);
    expect(err.message).toMatch(/BACKUP DATABASE permission denied.*SQL error 262, then 3013/);
    expect(err.category).toBe('precondition');
    expect(s.suspended()).toEqual([]);
  });

  it('911 + 3013: the missing database, not "terminating abnormally"', async () => {
    const s = await tds();
    const conn = await SqlServerConnection.open(serverFor(s));
    const err = await conn.batch('t', `BACKUP DATABASE [gone] TO DISK = N'${BK}/gone.bkm' WITH METADATA_ONLY`).catch((e) => e);
    await conn.close();
    expect(err.message).toMatch(/Database 'gone' does not exist.*SQL error 911/);
    expect(err.category).toBe('precondition');
  });
});

describe('#14 §2.4: a least-privilege login connects', () => {
  it('without VIEW SERVER STATE, encryption is read from the driver (false here, never unknown-as-false)', async () => {
    const s = await tds({ logins: { mbam_vss: leastPrivilegeLogin() } });
    const c = await SqlServerConnection.open(serverFor(s));
    expect(c.identity).toMatchObject({ serverName: 'MBAM-DB1', majorVersion: 16, productVersion: SQL2022_CU16, encrypted: false });
    await c.close();
    // and the refusal still works for it
    const err = await SqlServerConnection.open(serverFor(s, { encrypt: true })).catch((e) => e);
    expect(err.message).toMatch(/not encrypted although encryption was asked for/);
  });

  it('runs the whole freeze cycle of both databases', async () => {
    const s = await tds({ logins: { mbam_vss: leastPrivilegeLogin() } });
    const f = await SnapshotFreeze.begin(serverFor(s), both);
    await f.backupMetadata(`${BK}/least.bkm`);
    expect(s.backups.at(-1)).toMatchObject({ kind: 'backup-group', databases: both });
  });
});

describe('#14 §2.6-7: the suspending session and its deadline', () => {
  it('a 45 s freeze keeps its session: nothing reaps it before the deadline', async () => {
    const s = await tds();
    const f = await SnapshotFreeze.begin(serverFor(s), both, { deadlineMs: 60_000 });
    const spid = f.spid;
    // 45 s idle: longer than a pool's 30 s idle reaper
    await new Promise((r) => setTimeout(r, 45_000));
    expect(s.suspended().map((x) => x.spid)).toEqual([spid, spid]);
    await f.backupMetadata(`${BK}/long.bkm`);
    expect(f.state).toBe('backed-up');
  }, 70_000);

  it('a BACKUP that hangs: the socket goes at the deadline, thawed by deadline + 1 s', async () => {
    const s = await tds({ faults: { hangOn: ['backup-group'] } });
    const deadlineMs = 1500;
    const t0 = Date.now();
    const f = await SnapshotFreeze.begin(serverFor(s), both, { deadlineMs });
    const backup = f.backupMetadata(`${BK}/hang.bkm`).catch((e) => e);
    expect(await until(() => s.statements.some((x) => x.kind === 'backup-group'), 5000)).toBe(true);
    expect(await until(() => s.suspended().length === 0, deadlineMs + 1000 - (Date.now() - t0))).toBe(true);
    expect(Date.now() - t0).toBeLessThanOrEqual(deadlineMs + 1000);
    const err = await backup;
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_TIMEOUT);
    expect(f.state).toBe('expired');
  });

  it('an AbortSignal ends the freeze at once: the session closes, the databases thaw', async () => {
    const s = await tds();
    const ac = new AbortController();
    const f = await SnapshotFreeze.begin(serverFor(s), both, { signal: ac.signal });
    ac.abort(new Error('operator cancelled'));
    expect(await until(() => s.suspended().length === 0, 1000)).toBe(true);
    const err = await f.backupMetadata(`${BK}/aborted.bkm`).catch((e) => e);
    expect(err.category).toBe('aborted');
    expect(s.backups).toEqual([]);
  });
});

describe('#14 §2.9: COPY_ONLY', () => {
  it('the default suspension is COPY_ONLY and keeps the differential base; copyOnly: false makes a base', async () => {
    const s = await tds();
    const f = await SnapshotFreeze.begin(serverFor(s), [RECOVERY]);
    expect(s.suspended()[0]!.copyOnly).toBe(true);
    await f.backupMetadata(`${BK}/copy.bkm`);
    expect(s.database(RECOVERY)).toMatchObject({ differentialMapValid: true, differentialBaseLsn: null });
    expect(s.state.backupHistory.at(-1)!.isCopyOnly).toBe(true);
    const full = await SnapshotFreeze.begin(serverFor(s), [RECOVERY], { copyOnly: false });
    await full.backupMetadata(`${BK}/full.bkm`);
    expect(s.state.backupHistory.at(-1)!.isCopyOnly).toBe(false);
    expect(s.database(RECOVERY)!.differentialBaseLsn).not.toBeNull();
  });
});

describe('#14 §2.2: the group metadata restore picks each database by DBNAME', () => {
  it('restoring the second MBAM database restores that database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mbam-dbname-'));
    const files = (n: string) => [
      { type: 'ROWS' as const, physicalName: join(dir, `${n}.mdf`), sizePages: 1 },
      { type: 'LOG' as const, physicalName: join(dir, `${n}.ldf`), sizePages: 1 },
    ];
    for (const n of ['r', 'c']) for (const f of files(n)) writeFileSync(f.physicalName, '');
    const s = await tds({ databases: [{ name: RECOVERY, files: files('r') }, { name: COMPLIANCE, files: files('c') }] });
    const f = await SnapshotFreeze.begin(serverFor(s), both);
    await f.backupMetadata(`${BK}/group.bkm`);
    const conn = await SqlServerConnection.open(serverFor(s, { compliance: COMPLIANCE }));
    await takeOffline(conn, [COMPLIANCE]);
    await restoreFromMetadataBackup(conn, `${BK}/group.bkm`, [COMPLIANCE]);
    await conn.close();
    expect(s.restores).toMatchObject([{ database: COMPLIANCE, source: COMPLIANCE, recovery: true }]);
    expect(s.database(COMPLIANCE)!.files.map((x) => x.physicalName)).toEqual(files('c').map((x) => x.physicalName));
  });
});

describe('#14 §2.12: the build gate names the KB', () => {
  it.each([
    ['16.0.1000.6', [RECOVERY], /16\.0\.4003\.1 \(CU1\).*KB5023106/],
    ['16.0.4003.1', both, /16\.0\.4165\.4 \(CU16\).*KB5048510/],
  ] as const)('build %s refuses to suspend, before asking the server', async (productVersion, dbs, text) => {
    const s = await tds({ productVersion });
    const err = await SnapshotFreeze.begin(serverFor(s), [...dbs]).catch((e) => e);
    expect(err.category).toBe('precondition');
    expect(err.message).toMatch(text);
    expect(s.statements.some((x) => x.kind.startsWith('suspend'))).toBe(false);
  });
  it('CU1 may suspend one database', async () => {
    const s = await tds({ productVersion: '16.0.4003.1' });
    const f = await SnapshotFreeze.begin(serverFor(s), [RECOVERY]);
    await f.abort();
  });
});

describe('#14 §2.13: redaction', () => {
  it.each(["p@ss'word", "it''s", 'plain'])('covers %j as sent, quoted and with doubled quotes', (secret) => {
    const doubled = secret.replace(/'/g, "''");
    const e = new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, { message: `near N'${doubled}' and '${doubled}' and ${secret}`, hint: `check ${doubled}` });
    const r = redactSecret(e, secret) as VssError;
    expect(r.message + r.hint).not.toContain(secret);
    expect(r.message + r.hint).not.toContain(doubled);
    expect(r.message).toContain('***');
  });
});

describe('Windows authentication from Linux (NTLM) and connecting by address', () => {
  it('parses ntlm auth by reference and hands tedious NTLM; Kerberos is refused by name', () => {
    const t = parseTopology({
      servers: [{ name: 'DB1', sql: { host: '10.0.0.5', auth: { type: 'ntlm', domain: 'CONTOSO', user: 'svc-mbam', password: { env: PASSWORD_ENV } }, serverCertificateHostName: 'db1.contoso.com', multiSubnetFailover: true }, databases: { recovery: true } }],
    });
    const cfg = tediousConfig(t.servers[0]!);
    expect(cfg['authentication']).toMatchObject({ type: 'ntlm', options: { domain: 'CONTOSO', userName: 'svc-mbam' } });
    expect(cfg.options).toMatchObject({ serverName: 'db1.contoso.com', multiSubnetFailover: true, trustServerCertificate: false, encrypt: true });
    expect(() => parseTopology({ servers: [{ name: 'DB1', sql: { host: 'x', auth: { type: 'kerberos' } }, databases: { recovery: true } }] })).toThrow(/Kerberos is not offered/);
  });
});

describe('availability groups', () => {
  it('an AG database is detected and backs up; an in-place restore refuses with what to do, before changing anything', async () => {
    const s = await tds({ databases: [{ ...mbamDatabases()[0]!, availabilityGroup: 'MBAM-AG' }, mbamDatabases()[1]!] });
    const conn = await SqlServerConnection.open(serverFor(s, { compliance: COMPLIANCE }));
    const d = await discover(conn, sqlTargetOf(conn.server as Parameters<typeof sqlTargetOf>[0]));
    expect(d.databases.map((x) => x.availabilityGroup)).toEqual([true, false]);
    const f = await SnapshotFreeze.begin(serverFor(s), both);
    await f.backupMetadata(`${BK}/ag.bkm`);
    const err = await takeOffline(conn, both).catch((e) => e);
    await conn.close();
    expect(err.category).toBe('precondition');
    expect(err.message).toMatch(/MBAM Recovery and Hardware is in an availability group/);
    expect(err.hint).toMatch(/Remove the database from the availability group first/);
    expect(s.statements.some((x) => x.kind === 'set-offline')).toBe(false);
  });
});
