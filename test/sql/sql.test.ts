import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backupCertificate, restoreCertificate } from '../../src/sql/certificate.js';
import { RECOVERY_CERTIFICATE, sqlTargetOf, type ServerTopology } from '../../src/mbam/topology.js';
import { SqlServerConnection } from '../../src/sql/connection.js';
import { discover } from '../../src/sql/discovery.js';
import { SnapshotFreeze, suspendStatement } from '../../src/sql/suspend.js';
import { sqlPreflight } from '../../src/sql/preflight.js';
import { quoteIdentifier, quoteStringLiteral } from '../../src/sql/quote.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { REPO } from '../support/paths.js';
import { hasCommand, itRequires, prereq } from '../support/prereq.js';
import { leastPrivilegeLogin, mbamDatabases, PASSWORD_ENV, serverFor, SQL2022_CU16, SQL_PASSWORD } from '../support/sql.js';
import { startTdsServer, type TdsServerHandle, type TdsServerOptions } from '../support/tds-server.js';

let servers: TdsServerHandle[] = [];
async function tds(opts: TdsServerOptions = {}): Promise<TdsServerHandle> {
  const s = await startTdsServer({ productVersion: opts.productMajorVersion ? undefined : SQL2022_CU16, databases: mbamDatabases(), certificates: ['MBAM Recovery Encryption Certificate'], ...opts });
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});
/** Where the TDS test server writes backup files (as SQL Server would, on its own machine). */
const BK = mkdtempSync(join(tmpdir(), 'mbam-tds-backups-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HOSTILE = ["MBAM]Recovery", "it's", 'a;b', 'x -- y', 'with space', 'Récupération 復旧', "]]'; DROP DATABASE x; --"];

describe('quoting', () => {
  it.each(HOSTILE)('quotes %j so that it stays one identifier', (name) => {
    const q = quoteIdentifier(name);
    expect(q.startsWith('[') && q.endsWith(']')).toBe(true);
    expect(q.slice(1, -1).replace(/\]\]/g, '')).not.toContain(']');
    expect(quoteStringLiteral(name).slice(2, -1).replace(/''/g, '')).not.toContain("'");
  });
  it('refuses empty, overlong and NUL identifiers', () => {
    expect(() => quoteIdentifier('')).toThrow(/non-empty/);
    expect(() => quoteIdentifier('x'.repeat(129))).toThrow(/at most 128/);
    expect(() => quoteIdentifier('a\0b')).toThrow(/NUL/);
  });
  it('every identifier and literal in src/ goes through the one helper', () => {
    const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
    const offenders: string[] = [];
    let sqlTemplates = 0;
    for (const f of files(join(REPO, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith(join('sql', 'quote.ts')))) {
      for (const [tpl] of readFileSync(f, 'utf8').matchAll(/`[^`]*`/g)) {
        if (!/\b(SELECT|ALTER (DATABASE|SERVER)|BACKUP|CREATE CERTIFICATE|USE master)\b/.test(tpl)) continue;
        sqlTemplates++;
        // hand-made bracket quoting or a string literal built by interpolation
        if (/\[\$\{/.test(tpl) || /'\$\{/.test(tpl)) offenders.push(`${f}: ${tpl.slice(0, 80)}`);
      }
    }
    expect(sqlTemplates).toBeGreaterThan(5);
    expect(offenders).toEqual([]);
  });
});

describe('connections', () => {
  it('refuses to go on unencrypted when encryption was asked for and the server cannot', async () => {
    const s = await tds();
    const err = await SqlServerConnection.open(serverFor(s, { encrypt: true })).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.category).toBe('precondition');
    expect(err.message).toMatch(/MBAM-DB1 .*not encrypted although encryption was asked for/);
    expect(err.hint).toMatch(/"encrypt": false/);
    await sleep(50);
    expect(s.sessions().filter((x) => x.open)).toEqual([]);
    const ok = await SqlServerConnection.open(serverFor(s, { encrypt: false }));
    expect(ok.identity).toMatchObject({ serverName: 'MBAM-DB1', majorVersion: 16, encrypted: false });
    await ok.close();
  });

  it('a failed login names the server and what to check, and never the password', async () => {
    const s = await tds({ faults: { loginFails: true } });
    const err = await SqlServerConnection.open(serverFor(s)).catch((e) => e);
    expect(err.category).toBe('precondition');
    expect(err.message).toMatch(/SQL Server MBAM-DB1 \(127\.0\.0\.1:\d+\), connect: .*Login failed/);
    expect(err.hint).toMatch(/login and the secret/);
    expect(JSON.stringify(err.toJSON()) + err.message + String(err.stack)).not.toContain(SQL_PASSWORD);
  });

  it('an unreachable host is a precondition with a hint', async () => {
    const s = await tds();
    const server = serverFor(s);
    await s.close();
    servers = [];
    const err = await SqlServerConnection.open(server, { connectTimeoutMs: 2000 }).catch((e) => e);
    expect(err.category).toBe('precondition');
    expect(err.hint).toMatch(/host, port or instance name/);
  });

  it('a server that does not answer times out', async () => {
    const s = await tds({ faults: { noAnswer: [/SERVERPROPERTY\('ProductVersion'\)/] } });
    const err = await SqlServerConnection.open(serverFor(s), { requestTimeoutMs: 300 }).catch((e) => e);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_TIMEOUT);
    expect(err.retryable).toBe(true);
  });
});

describe('discovery and preflight', () => {
  it('discovers states, files, rights, the certificate and the SQL writer logical path', async () => {
    const s = await tds({ instanceName: null });
    const conn = await SqlServerConnection.open(serverFor(s, { compliance: 'MBAM Compliance Status' }));
    const d = await discover(conn, sqlTargetOf(conn.server as ServerTopology));
    await conn.close();
    expect(d.certificate).toBe(true);
    expect(d.tsqlSnapshotBackup).toBe(true);
    expect(d.databases[0]).toMatchObject({ role: 'recovery', name: 'MBAM Recovery and Hardware', exists: true, state: 'ONLINE', canBackup: true, sqlWriterLogicalPath: 'MBAM-DB1', filesFrom: 'sys.master_files', filesVisible: true });
    expect(d.databases[0]!.files).toEqual([
      { type: 'ROWS', physicalName: '/var/opt/mssql/data/MBAMRecovery.mdf', sizeBytes: 1280 * 8192, name: 'MBAM Recovery and Hardware' },
      { type: 'LOG', physicalName: '/var/opt/mssql/data/MBAMRecovery_log.ldf', sizeBytes: 128 * 8192, name: 'MBAM Recovery and Hardware_log' },
    ]);
    expect(d.databases[1]).toMatchObject({ role: 'complianceAudit', exists: true });
  });

  it.each(HOSTILE)('names like %j reach the server intact, as parameters', async (name) => {
    const s = await tds({ databases: [{ name, state: 'ONLINE' }] });
    const conn = await SqlServerConnection.open(serverFor(s, { recovery: name }));
    const d = await discover(conn, sqlTargetOf(conn.server as ServerTopology));
    await conn.close();
    expect(d.databases[0]).toMatchObject({ name, exists: true });
  });

  it('passes when everything is in place', async () => {
    const s = await tds();
    const r = await sqlPreflight(sqlTargetOf(serverFor(s, { compliance: 'MBAM Compliance Status' })));
    expect(r.every((c) => c.ok)).toBe(true);
    expect(r.map((c) => c.check)).toEqual([
      'sql-reachable',
      'sql-version',
      'database-online:recovery',
      'sql-rights:recovery',
      'database-files:recovery',
      'database-online:complianceAudit',
      'sql-rights:complianceAudit',
      'database-files:complianceAudit',
      'sql-rights:server',
      'certificate',
      'certificate-rights',
    ]);
  });

  it.each([
    ['a missing database', { databases: [] }, 'database-online:recovery', /does not exist/],
    ['an offline database', { databases: [{ name: 'MBAM Recovery and Hardware', state: 'OFFLINE' }] }, 'database-online:recovery', /is OFFLINE/],
    ['no ALTER on the database', { logins: { mbam_vss: leastPrivilegeLogin({ dbPermissions: [] }) } }, 'sql-rights:recovery', /lacks ALTER on MBAM Recovery and Hardware/],
    ['no ALTER SETTINGS for the group suspend', { logins: { mbam_vss: leastPrivilegeLogin({ serverPermissions: ['VIEW ANY DEFINITION'] }) } }, 'sql-rights:server', /lacks ALTER SETTINGS/],
    ['no CONTROL on the certificate', { logins: { mbam_vss: leastPrivilegeLogin({ certificate: ['VIEW DEFINITION'] }) } }, 'certificate-rights', /lacks CONTROL on the certificate/],
    ['a database without its log file', { databases: [{ name: 'MBAM Recovery and Hardware', files: [{ type: 'ROWS', physicalName: '/d/r.mdf', sizePages: 1 }] }] }, 'database-files:recovery', /sees no LOG file/],
    ['a build without the group suspend fix', { productVersion: '16.0.4003.1' }, 'sql-version', /16\.0\.4165\.4 \(CU16\).*KB5048510/],
    ['no certificate', { certificates: [] }, 'certificate', /missing from master/],
    ['a failed login', { faults: { loginFails: true } }, 'sql-reachable', /Login failed/],
  ] as const)('names the failed check for %s', async (_n, opts, check, detail) => {
    const s = await tds(opts as TdsServerOptions);
    const r = await sqlPreflight(sqlTargetOf(serverFor(s, { compliance: 'MBAM Compliance Status' })));
    const failed = r.find((c) => !c.ok);
    expect(failed?.check).toBe(check);
    expect(failed?.detail).toMatch(detail);
  });
});

describe('snapshot freeze (SQL Server 2022+)', () => {
  const both = ['MBAM Recovery and Hardware', 'MBAM Compliance Status'];

  it('suspends on one session, verifies it, and the metadata backup thaws and records', async () => {
    const s = await tds();
    const f = await SnapshotFreeze.begin(serverFor(s), both);
    expect(s.suspended().map((x) => x.database).sort()).toEqual([...both].sort());
    expect(new Set(s.suspended().map((x) => x.spid))).toEqual(new Set([f.spid]));
    expect(s.statements.find((x) => x.kind === 'suspend-group')!.text).toContain('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([MBAM Recovery and Hardware], [MBAM Compliance Status]), MODE = COPY_ONLY)');
    await f.backupMetadata(`${BK}/mbam.bkm`);
    expect(s.suspended()).toEqual([]);
    expect(s.backups).toEqual([{ kind: 'backup-group', databases: both, path: `${BK}/mbam.bkm`, spid: f.spid, position: 1, copyOnly: true }]);
    expect(f.state).toBe('backed-up');
  });

  it('killing the suspending connection mid-freeze fails the backup cleanly: thawed, nothing published', async () => {
    const s = await tds();
    const f = await SnapshotFreeze.begin(serverFor(s), both);
    s.killSession(f.spid);
    await sleep(50);
    expect(s.suspended()).toEqual([]); // the server thawed when the session closed
    const err = await f.backupMetadata(`${BK}/x.bkm`).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_RETRYABLE);
    expect(err.message).toMatch(/suspending session \d+ was lost|no longer suspended/);
    expect(s.backups).toEqual([]);
    expect(s.suspended()).toEqual([]);
  });

  it('a second freeze of the same database gets 3081 as a retryable writer failure', async () => {
    const s = await tds();
    const f = await SnapshotFreeze.begin(serverFor(s), [both[0]!]);
    const err = await SnapshotFreeze.begin(serverFor(s), [both[0]!]).catch((e) => e);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_RETRYABLE);
    expect(err.message).toMatch(/was previously suspended for snapshot backup.*SQL error 3081/);
    expect(err.message).toMatch(/then 5069/); // the cause, not the trailer ALTER DATABASE statement failed
    expect(s.suspended()).toMatchObject([{ database: both[0], spid: f.spid }]);
    await f.abort();
    expect(s.suspended()).toEqual([]);
    expect(s.statements.filter((x) => x.kind === 'resume-database')).toHaveLength(1);
  });

  it('the deadline ends the freeze by dropping the session, and the backup then fails with TIMEOUT', async () => {
    const s = await tds();
    const f = await SnapshotFreeze.begin(serverFor(s), both, { deadlineMs: 200 });
    await sleep(400);
    expect(f.state).toBe('expired');
    expect(s.suspended()).toEqual([]);
    const err = await f.backupMetadata(`${BK}/late.bkm`).catch((e) => e);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_TIMEOUT);
    expect(s.backups).toEqual([]);
  });

  it('a hung metadata backup is cut off at the deadline, thawed', async () => {
    const s = await tds({ faults: { noAnswer: ['backup-group'] } });
    const f = await SnapshotFreeze.begin(serverFor(s), both, { deadlineMs: 300 });
    const t0 = Date.now();
    const err = await f.backupMetadata('/b.bkm').catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(Date.now() - t0).toBeLessThan(5000);
    await sleep(50);
    expect(s.suspended()).toEqual([]);
  });

  it('older servers say the T-SQL path needs SQL Server 2022 and point to the VSS writer', async () => {
    const s = await tds({ productMajorVersion: 15 });
    expect(s.state.model.version).toMatch(/^15\./);
    const err = await SnapshotFreeze.begin(serverFor(s), both).catch((e) => e);
    expect(err.category).toBe('precondition');
    expect(err.message).toMatch(/version 15; T-SQL snapshot backup needs SQL Server 2022/);
    expect(err.hint).toMatch(/SQL Server VSS writer/);
    expect(s.statements.some((x) => x.kind.startsWith('suspend'))).toBe(false);
  });

  it('refuses more than 64 databases before asking the server (error 925)', async () => {
    const s = await tds();
    const err = await SnapshotFreeze.begin(serverFor(s), Array.from({ length: 65 }, (_, i) => `db${i}`)).catch((e) => e);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_NONRETRYABLE);
    expect(err.message).toMatch(/at most 64/);
  });

  it.each(HOSTILE)('suspends a database named %j exactly', async (name) => {
    const s = await tds({ databases: [{ name }] });
    const f = await SnapshotFreeze.begin(serverFor(s, { recovery: name }), [name]);
    expect(s.suspended()).toMatchObject([{ database: name, spid: f.spid }]);
    expect(s.statements.find((x) => x.kind === 'suspend-database')!.text).toContain(suspendStatement([name], true));
    await f.backupMetadata(`${BK}/${name}.bkm`);
    expect(s.backups[0]!.path).toBe(`${BK}/${name}.bkm`);
  });
});

describe('certificate backup and restore', () => {
  it('sends the password only inside the statement, never in errors', async () => {
    const s = await tds();
    const server = serverFor(s);
    process.env['MBAM_TEST_CERT_PW'] = "p@ss'word; --";
    await backupCertificate(server, { certificateFile: `${BK}/mbam.cer`, privateKeyFile: `${BK}/mbam.pvk` }, { env: 'MBAM_TEST_CERT_PW' }, RECOVERY_CERTIFICATE);
    expect(s.certificateBackups).toEqual([{ certificate: 'MBAM Recovery Encryption Certificate', file: `${BK}/mbam.cer`, keyFile: `${BK}/mbam.pvk`, password: "p@ss'word; --" }]);
    s.state.certificates.length = 0;
    const err = await backupCertificate(server, { certificateFile: '/c', privateKeyFile: '/k' }, { env: 'MBAM_TEST_CERT_PW' }, RECOVERY_CERTIFICATE).catch((e) => e);
    expect(err.message).toMatch(/Cannot find the certificate/);
    expect(err.message).not.toContain("p@ss'word");
    await restoreCertificate(server, { certificateFile: `${BK}/mbam.cer`, privateKeyFile: `${BK}/mbam.pvk` }, { env: 'MBAM_TEST_CERT_PW' }, RECOVERY_CERTIFICATE);
    expect(s.state.certificates.map((c) => c.name)).toEqual(['MBAM Recovery Encryption Certificate']);
    const missing = await backupCertificate(server, { certificateFile: '/c', privateKeyFile: '/k' }, { env: 'MBAM_TEST_UNSET_CERT_PW' }, RECOVERY_CERTIFICATE).catch((e) => e);
    expect(missing.message).toMatch(/MBAM_TEST_UNSET_CERT_PW is not set/);
  });
});

void PASSWORD_ENV;

describe('TDS 8 strict encryption', () => {
  const openssl = prereq(hasCommand('openssl'), 'openssl (to make a self-signed certificate)');
  itRequires(openssl, 'connects with TLS before PRELOGIN, validating the certificate against caFile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tds-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'pipe' });
    const s = await tds({ tls: 'strict', tlsCert: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') } });
    const base = serverFor(s);
    const strict = { ...base, sql: { ...base.sql, host: 'localhost', encrypt: 'strict' as const, caFile: join(dir, 'cert.pem') } };
    const c = await SqlServerConnection.open(strict);
    expect(c.identity.encrypted).toBe(true);
    await c.close();
    // Without the CA the self-signed certificate is refused: strict mode always validates.
    const { caFile: _ca, ...noCa } = strict.sql;
    const err = await SqlServerConnection.open({ ...strict, sql: noCa }, { connectTimeoutMs: 3000 }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.category).toBe('precondition');
  });
});
