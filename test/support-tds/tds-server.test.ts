/**
 * Tests of the TDS test server itself, as any client would see it: plain mssql, hand-written
 * documented T-SQL, and the documented answers (see test/support/tds/BEHAVIOURS.md).
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import sql from 'mssql';
import { startTdsServer, type TdsServerHandle, type TdsServerOptions } from '../support/tds-server.js';

const PW = 'correct horse battery staple';
let servers: TdsServerHandle[] = [];
let pools: sql.ConnectionPool[] = [];
let dirs: string[] = [];

afterEach(async () => {
  await Promise.all(pools.map((p) => p.close().catch(() => {})));
  await Promise.all(servers.map((s) => s.close()));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  servers = [];
  pools = [];
  dirs = [];
});

function tmp(): string {
  const d = fs.mkdtempSync(join(os.tmpdir(), 'tds-model-'));
  dirs.push(d);
  return d;
}

/** Database files that exist on disk (RESTORE ... METADATA_ONLY needs them mounted). */
function dbFiles(dir: string, name: string) {
  const mdf = join(dir, `${name}.mdf`);
  const ldf = join(dir, `${name}_log.ldf`);
  fs.writeFileSync(mdf, '');
  fs.writeFileSync(ldf, '');
  return [
    { type: 'ROWS' as const, physicalName: mdf, sizePages: 1280 },
    { type: 'LOG' as const, physicalName: ldf, sizePages: 128 },
  ];
}

async function server(opts: TdsServerOptions = {}): Promise<TdsServerHandle> {
  const s = await startTdsServer(opts);
  servers.push(s);
  return s;
}

/** One pool of one connection: one session. */
async function connect(s: TdsServerHandle, user = 'mbam_vss', password = PW, database?: string): Promise<sql.ConnectionPool> {
  const pool = new sql.ConnectionPool({ server: '127.0.0.1', port: s.port, user, password, ...(database ? { database } : {}), options: { encrypt: false, trustServerCertificate: true }, pool: { max: 1, min: 0 }, requestTimeout: 5000 });
  pools.push(pool);
  await pool.connect();
  return pool;
}

async function failure(p: Promise<unknown>): Promise<{ number: number; class: number; message: string; preceding: { number: number; class: number; message: string }[] }> {
  try {
    await p;
  } catch (e) {
    const err = e as { number: number; class: number; message: string; precedingErrors?: { number: number; class: number; message: string }[] };
    return { number: err.number, class: err.class, message: err.message, preceding: (err.precedingErrors ?? []).map((x) => ({ number: x.number, class: x.class, message: x.message })) };
  }
  throw new Error('expected the statement to fail');
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('statement recognition', () => {
  it('answers scalar SELECTs with documented values and aliases, in one batch with comments', async () => {
    const s = await server({ productVersion: '16.0.4003.1' });
    const pool = await connect(s);
    const r = await pool.request().batch(`-- identity
      /* nested /* comment */ */ SELECT @@SERVERNAME AS [server]]name], SERVERPROPERTY('ProductMajorVersion') AS major,
        SERVERPROPERTY('InstanceName') AS instance, @@SPID AS spid, DB_ID(N'master') AS dbid;
      select serverproperty('SuspendedDatabaseCount') as n`);
    const sets = r.recordsets as sql.IRecordSet<Record<string, unknown>>[];
    expect(sets[0]![0]).toMatchObject({ 'server]name': 'MBAM-DB1', major: '16', instance: null, dbid: 1 });
    expect(sets[0]![0]!.spid).toBeGreaterThanOrEqual(51);
    expect(sets[1]![0]).toEqual({ n: 0 });
  });

  it('CAST, CONVERT, ISNULL over SERVERPROPERTY', async () => {
    const s = await server();
    const pool = await connect(s);
    const r = await pool.request().query("SELECT CAST(SERVERPROPERTY('ProductMajorVersion') AS int) AS major, CONVERT(nvarchar(128), SERVERPROPERTY('ProductUpdateLevel')) AS cu, ISNULL(CAST(SERVERPROPERTY('InstanceName') AS sysname), N'MSSQLSERVER') AS inst");
    expect(r.recordset).toEqual([{ major: 16, cu: 'CU1', inst: 'MSSQLSERVER' }]);
  });

  it('reads parameters of sp_executesql (mssql query)', async () => {
    const s = await server({ databases: [{ name: "O'Brien DB" }] });
    const pool = await connect(s);
    const r = await pool.request().input('db', sql.NVarChar, "O'Brien DB").query('SELECT name, state_desc FROM sys.databases WHERE name = @db');
    expect(r.recordset).toEqual([{ name: "O'Brien DB", state_desc: 'ONLINE' }]);
    const q = await pool.request().query("SELECT name FROM sys.databases WHERE name = N'O''Brien DB'");
    expect(q.recordset).toHaveLength(1);
  });

  it('answers a syntax error with 102 (severity 15) and runs nothing of the batch', async () => {
    const s = await server({ databases: [{ name: 'db1' }] });
    const pool = await connect(s);
    const e = await failure(pool.request().batch('ALTER DATABASE [db1] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON; SELEKT 1'));
    expect(e).toMatchObject({ number: 102, class: 15, message: "Incorrect syntax near 'SELEKT'." });
    expect(s.suspended()).toEqual([]);
  });

  it('fails loudly on statements it does not model', async () => {
    const s = await server();
    const pool = await connect(s);
    const e = await failure(pool.request().batch("EXEC sp_who"));
    expect(e.number).toBe(50000);
    expect(e.message).toMatch(/does not model/);
    expect((await failure(pool.request().batch('SELECT * FROM sys.objects'))).number).toBe(208);
  });
});

describe('suspend for snapshot backup', () => {
  it('3081 (+5069) on a second suspend; the DMV and SERVERPROPERTY show it', async () => {
    const s = await server({ databases: [{ name: 'db1' }] });
    const a = await connect(s);
    const b = await connect(s);
    await a.request().batch('ALTER DATABASE [db1] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    const e = await failure(b.request().batch('alter database db1 set suspend_for_snapshot_backup = on'));
    expect(e.preceding.map((x) => x.number)).toEqual([3081]);
    expect(e).toMatchObject({ number: 5069, message: 'ALTER DATABASE statement failed.' });
    const spid = (await a.request().query('SELECT @@SPID AS spid')).recordset[0].spid;
    const dmv = await b.request().query('SELECT db_name, suspend_session_id, is_diff_map_cleared FROM sys.dm_server_suspend_status');
    expect(dmv.recordset).toEqual([{ db_name: 'db1', suspend_session_id: spid, is_diff_map_cleared: true }]);
    expect((await b.request().query("SELECT SERVERPROPERTY('SuspendedDatabaseCount') AS n")).recordset[0].n).toBe(1);
  });

  it('thaws at once when the suspending session closes', async () => {
    const s = await server({ databases: [{ name: 'db1' }] });
    const a = await connect(s);
    await a.request().batch('ALTER DATABASE [db1] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    expect(s.suspended()).toHaveLength(1);
    await a.close();
    await until(() => s.suspended().length === 0, 'thaw');
  });

  it('ATTENTION cancels the running request but the session keeps its suspension', async () => {
    const s = await server({ databases: [{ name: 'db1' }], faults: { hangOn: [/hang here/] } });
    const a = await connect(s);
    await a.request().batch('ALTER DATABASE [db1] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    const req = a.request();
    const p = failure(req.batch("SELECT 'hang here' AS x"));
    await until(() => s.statements.some((x) => x.text.includes('hang here')), 'the hanging statement');
    req.cancel();
    expect((await p).message).toMatch(/cancel/i);
    expect(s.suspended()).toHaveLength(1);
    expect((await a.request().query("SELECT DATABASEPROPERTYEX('db1', 'IsDatabaseSuspendedForSnapshotBackup') AS x")).recordset[0].x).toBe(1);
  });

  it('refuses system databases, a user transaction, and a login without ALTER (5011 + 5069)', async () => {
    const s = await server({ databases: [{ name: 'db1' }], logins: { mbam_vss: PW, reader: { password: PW, databases: { db1: { roles: ['db_backupoperator'] } } } } });
    const a = await connect(s);
    const sys = await failure(a.request().batch('ALTER DATABASE [msdb] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON'));
    expect([...sys.preceding.map((x) => x.number), sys.number]).toEqual([5058, 5069]);
    const tran = await failure(a.request().batch('BEGIN TRAN; ALTER DATABASE [db1] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON'));
    expect(tran.number).toBe(226);
    await a.request().batch('IF 1 = 1 ROLLBACK').catch(() => {});
    const r = await connect(s, 'reader');
    const denied = await failure(r.request().batch('ALTER DATABASE [db1] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON'));
    expect(denied.preceding).toEqual([{ number: 5011, class: 14, message: "User does not have permission to alter database 'db1', the database does not exist, or the database is not in a state that allows access checks." }]);
    expect(denied.number).toBe(5069);
  });

  it('suspends a group with ALTER SERVER CONFIGURATION, all or nothing', async () => {
    const s = await server({ databases: [{ name: 'a' }, { name: 'b' }] });
    const p = await connect(s);
    await p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([a], [b]), MODE = COPY_ONLY)');
    expect(s.suspended().map((x) => [x.database, x.copyOnly])).toEqual([['a', true], ['b', true]]);
    await p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = OFF');
    expect(s.suspended()).toEqual([]);
    await failure(p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([a], [nope]))'));
    expect(s.suspended()).toEqual([]);
  });

  it('at most 64 databases: 925 (severity 19); the group form needs ALTER SETTINGS (15247)', async () => {
    const names = Array.from({ length: 65 }, (_, i) => `d${i}`);
    const s = await server({ databases: names.map((name) => ({ name })), logins: { mbam_vss: PW, dbo: { password: PW, databases: { d0: { roles: ['db_owner'] } } } } });
    const p = await connect(s);
    const e = await failure(p.request().batch(`ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = (${names.map((n) => `[${n}]`).join(', ')}))`));
    expect(e).toMatchObject({ number: 925, class: 19, message: 'Maximum number of databases used for each query has been exceeded. The maximum allowed is 64.' });
    const d = await connect(s, 'dbo');
    expect((await failure(d.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([d0]))'))).number).toBe(15247);
    await d.request().batch('ALTER DATABASE [d0] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    expect(s.suspended().map((x) => x.database)).toEqual(['d0']);
  });

  it('USE changes the session database; a database without a user is 916', async () => {
    const s = await server({ databases: [{ name: 'a' }, { name: 'b' }], logins: { mbam_vss: PW, u: { password: PW, databases: { a: {} } } } });
    const p = await connect(s, 'u');
    const r = await p.request().batch('USE [a]; SELECT DB_NAME() AS db');
    expect(r.recordset).toEqual([{ db: 'a' }]);
    expect((await failure(p.request().batch('USE [b]'))).number).toBe(916);
    expect((await failure(p.request().batch('USE [nope]'))).number).toBe(911);
  });

  it('an older server does not know the option', async () => {
    const s = await server({ productMajorVersion: 15, databases: [{ name: 'db1' }] });
    const p = await connect(s);
    const e = await failure(p.request().batch('ALTER DATABASE [db1] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON'));
    expect(e).toMatchObject({ number: 102, class: 15 });
    expect((await p.request().query("SELECT SERVERPROPERTY('ProductMajorVersion') AS v")).recordset[0].v).toBe('15');
  });
});

describe('BACKUP ... WITH METADATA_ONLY and RESTORE', () => {
  it('a group backup set holds two databases, thaws them, and is recorded in msdb', async () => {
    const dir = tmp();
    const s = await server({ databases: [{ name: 'a', files: dbFiles(dir, 'a') }, { name: 'b', files: dbFiles(dir, 'b') }] });
    const p = await connect(s);
    const bkm = join(dir, 'set.bkm');
    await p.request().batch(`ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([a], [b]));
      BACKUP GROUP [a], [b] TO DISK = N'${bkm}' WITH METADATA_ONLY, FORMAT`);
    expect(s.suspended()).toEqual([]);
    const h = await p.request().batch(`RESTORE HEADERONLY FROM DISK = N'${bkm}' WITH METADATA_ONLY`);
    expect(h.recordset.map((r) => [r.Position, r.DatabaseName, r.IsSnapshot, r.IsCopyOnly])).toEqual([[1, 'a', true, false], [1, 'b', true, false]]);
    const hist = await p.request().query('SELECT database_name AS db, type, is_snapshot, is_copy_only, position FROM msdb.dbo.backupset ORDER BY db');
    expect(hist.recordset).toEqual([{ db: 'a', type: 'D', is_snapshot: true, is_copy_only: false, position: 1 }, { db: 'b', type: 'D', is_snapshot: true, is_copy_only: false, position: 1 }]);
    expect(s.database('a')!.differentialMapValid).toBe(true);
    expect(s.database('a')!.differentialBaseLsn).not.toBeNull();
  });

  it('a COPY_ONLY suspend leaves the differential base; thawing without backup invalidates the bitmap', async () => {
    const dir = tmp();
    const s = await server({ databases: [{ name: 'a', files: dbFiles(dir, 'a') }] });
    const p = await connect(s);
    await p.request().batch(`ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (MODE = COPY_ONLY); BACKUP DATABASE [a] TO DISK = N'${join(dir, 'a.bkm')}' WITH METADATA_ONLY`);
    expect(s.database('a')!.differentialBaseLsn).toBeNull();
    expect(s.backups[0]).toMatchObject({ copyOnly: true, databases: ['a'] });
    await p.request().batch('ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON; ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = OFF');
    expect(s.database('a')!.differentialMapValid).toBe(false);
  });

  it('BACKUP and RESTORE take @variables for names and devices; BACKUP CERTIFICATE does not', async () => {
    const dir = tmp();
    const s = await server({ databases: [{ name: 'a', files: dbFiles(dir, 'a') }], certificates: ['c'] });
    const p = await connect(s);
    const bkm = join(dir, 'a.bkm');
    await p.request().batch('ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    await p.request().input('db', sql.NVarChar, 'a').input('path', sql.NVarChar, bkm).query('BACKUP DATABASE @db TO DISK = @path WITH METADATA_ONLY, FORMAT');
    expect(s.backups.map((b) => b.databases)).toEqual([['a']]);
    const e = await failure(p.request().input('f', sql.NVarChar, join(dir, 'c.cer')).query('BACKUP CERTIFICATE [c] TO FILE = @f'));
    expect(e).toMatchObject({ number: 102, class: 15, message: "Incorrect syntax near '@f'." });
  });

  it('errors carry the 3013 trailer: a missing directory is 3201', async () => {
    const s = await server({ databases: [{ name: 'a' }] });
    const p = await connect(s);
    const e = await failure(p.request().batch("ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON; BACKUP DATABASE [a] TO DISK = N'/nonexistent/dir/a.bkm' WITH METADATA_ONLY"));
    expect(e.preceding.map((x) => x.number)).toEqual([3201]);
    expect(e).toMatchObject({ number: 3013, message: 'BACKUP DATABASE is terminating abnormally.' });
    expect(s.suspended()).toHaveLength(1);
  });

  it('db_owner may back up but not RESTORE (3110 + 3013)', async () => {
    const dir = tmp();
    const s = await server({ databases: [{ name: 'a', files: dbFiles(dir, 'a') }], logins: { mbam_vss: PW, owner: { password: PW, databases: { a: { roles: ['db_owner'] } } } } });
    const o = await connect(s, 'owner');
    const bkm = join(dir, 'a.bkm');
    await o.request().batch(`ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON; BACKUP DATABASE [a] TO DISK = N'${bkm}' WITH METADATA_ONLY`);
    await o.request().batch('ALTER DATABASE [a] SET OFFLINE');
    const e = await failure(o.request().batch(`RESTORE DATABASE [a] FROM DISK = N'${bkm}' WITH METADATA_ONLY, REPLACE`));
    expect(e.preceding).toEqual([{ number: 3110, class: 14, message: "User does not have permission to RESTORE database 'a'." }]);
    expect(e).toMatchObject({ number: 3013, message: 'RESTORE DATABASE is terminating abnormally.' });
  });

  it('RESTORE without DBNAME takes the first database; NORECOVERY leaves it RESTORING', async () => {
    const dir = tmp();
    const s = await server({ databases: [{ name: 'a', files: dbFiles(dir, 'a') }, { name: 'b', files: dbFiles(dir, 'b') }] });
    const p = await connect(s);
    const bkm = join(dir, 'set.bkm');
    await p.request().batch(`ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([b], [a])); BACKUP GROUP [b], [a] TO DISK = N'${bkm}' WITH METADATA_ONLY, FORMAT`);
    await p.request().batch(`RESTORE DATABASE [copy] FROM DISK = N'${bkm}' WITH METADATA_ONLY, NORECOVERY`);
    expect(s.restores[0]).toMatchObject({ database: 'copy', source: 'b', recovery: false });
    const st = await p.request().query("SELECT state_desc FROM sys.databases WHERE name = 'copy'");
    expect(st.recordset).toEqual([{ state_desc: 'RESTORING' }]);
    await p.request().batch(`RESTORE DATABASE [copy2] FROM DISK = N'${bkm}' WITH METADATA_ONLY, DBNAME = N'a', FILE = 1`);
    expect(s.restores[1]).toMatchObject({ database: 'copy2', source: 'a', recovery: true });
    const files = await p.request().batch(`RESTORE FILELISTONLY FROM DISK = N'${bkm}' WITH METADATA_ONLY, DBNAME = 'a'`);
    expect(files.recordset.map((f) => f.Type)).toEqual(['D', 'L']);
    // Over an existing ONLINE FULL-recovery database without REPLACE: 3159 + 3013.
    const tail = await failure(p.request().batch(`RESTORE DATABASE [b] FROM DISK = N'${bkm}' WITH METADATA_ONLY`));
    expect([...tail.preceding.map((x) => x.number), tail.number]).toEqual([3159, 3013]);
  });

  it('a database in an availability group cannot be restored over or taken offline', async () => {
    const dir = tmp();
    const s = await server({ databases: [{ name: 'a', files: dbFiles(dir, 'a'), availabilityGroup: 'ag1' }] });
    const p = await connect(s);
    const r = await p.request().query("SELECT replica_id FROM sys.databases WHERE name = 'a'");
    expect(r.recordset[0].replica_id).toMatch(/^[0-9A-F-]{36}$/);
    const off = await failure(p.request().batch('ALTER DATABASE [a] SET OFFLINE WITH ROLLBACK IMMEDIATE'));
    expect([...off.preceding.map((x) => x.number), off.number]).toEqual([1468, 5069]);
    const hadr = await p.request().query("SELECT r.is_primary_replica FROM sys.dm_hadr_database_replica_states AS r WHERE r.database_id = DB_ID(N'a')");
    expect(hadr.recordset).toEqual([{ is_primary_replica: true }]);
    const bkm = join(dir, 'a.bkm');
    await p.request().batch(`ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON; BACKUP DATABASE [a] TO DISK = N'${bkm}' WITH METADATA_ONLY`);
    const over = await failure(p.request().batch(`RESTORE DATABASE [a] FROM DISK = N'${bkm}' WITH METADATA_ONLY, REPLACE`));
    expect([...over.preceding.map((x) => x.number), over.number]).toEqual([3104, 3013]);
  });
});

describe('ALTER DATABASE SET OFFLINE', () => {
  it('a missing database is 5011 then 5069', async () => {
    const s = await server();
    const p = await connect(s);
    const e = await failure(p.request().batch('ALTER DATABASE [nope] SET OFFLINE WITH ROLLBACK IMMEDIATE'));
    expect(e.preceding).toEqual([{ number: 5011, class: 14, message: "User does not have permission to alter database 'nope', the database does not exist, or the database is not in a state that allows access checks." }]);
    expect(e).toMatchObject({ number: 5069, class: 16 });
  });

  it('waits for other users unless ROLLBACK IMMEDIATE, which disconnects them', async () => {
    const s = await server({ databases: [{ name: 'a' }] });
    const user = await connect(s, 'mbam_vss', PW, 'a');
    await user.request().query('SELECT DB_NAME() AS db'); // the pool opens its session lazily
    const p = await connect(s);
    await failure(p.request().batch('ALTER DATABASE [a] SET OFFLINE WITH NO_WAIT'));
    await p.request().batch('ALTER DATABASE [a] SET OFFLINE WITH ROLLBACK IMMEDIATE');
    expect(s.database('a')!.state).toBe('OFFLINE');
    await until(() => s.sessions().filter((x) => x.open).length === 1, 'the other session to end');
    void user;
  });
});

describe('permissions and visibility', () => {
  it('DMVs need VIEW SERVER PERFORMANCE STATE: 300 then 297', async () => {
    const s = await server({ logins: { mbam_vss: PW, low: { password: PW } } });
    const p = await connect(s, 'low');
    const e = await failure(p.request().query('SELECT session_id, encrypt_option FROM sys.dm_exec_connections WHERE session_id = @@SPID'));
    expect(e.preceding).toEqual([{ number: 300, class: 14, message: "VIEW SERVER PERFORMANCE STATE permission was denied on object 'server', database 'master'." }]);
    expect(e).toMatchObject({ number: 297, class: 16 });
    const admin = await connect(s);
    const c = await admin.request().query('SELECT encrypt_option FROM sys.dm_exec_connections WHERE session_id = @@SPID');
    expect(c.recordset).toEqual([{ encrypt_option: 'FALSE' }]);
  });

  it('sys.master_files shows rows only with CREATE DATABASE, ALTER ANY DATABASE or VIEW ANY DEFINITION', async () => {
    const files = [{ type: 'ROWS' as const, physicalName: '/data/a.mdf', sizePages: 8 }];
    const s = await server({ databases: [{ name: 'a', files }], logins: { mbam_vss: PW, low: { password: PW }, viewer: { password: PW, serverPermissions: ['VIEW ANY DEFINITION'] } } });
    const q = "SELECT type_desc, physical_name, size FROM sys.master_files WHERE database_id = DB_ID('a')";
    expect((await (await connect(s, 'low')).request().query(q)).recordset).toEqual([]);
    expect((await (await connect(s, 'viewer')).request().query(q)).recordset).toEqual([{ type_desc: 'ROWS', physical_name: '/data/a.mdf', size: 8 }]);
  });

  it('HAS_PERMS_BY_NAME and IS_SRVROLEMEMBER', async () => {
    const s = await server({ databases: [{ name: 'a' }], logins: { mbam_vss: PW, op: { password: PW, databases: { a: { roles: ['db_backupoperator'] } } } } });
    const p = await connect(s, 'op');
    const r = await p.request().query("SELECT HAS_PERMS_BY_NAME('a', 'DATABASE', 'BACKUP DATABASE') AS b, HAS_PERMS_BY_NAME('a', 'DATABASE', 'ALTER') AS al, HAS_PERMS_BY_NAME('nope', 'DATABASE', 'ALTER') AS n, IS_SRVROLEMEMBER('sysadmin') AS sa, SUSER_SNAME() AS who");
    expect(r.recordset[0]).toEqual({ b: 1, al: 0, n: null, sa: 0, who: 'op' });
  });

  it('user tables: 208 when missing, 229 without SELECT, empty with it; COUNT(*) and HAS_PERMS_BY_NAME OBJECT', async () => {
    const s = await server({
      databases: [{ name: 'R', tables: ['RecoveryAndHardwareCore.Keys'] }],
      logins: { mbam_vss: PW, helpdesk: { password: PW, databases: { R: {} } }, reader: { password: PW, databases: { R: { roles: ['db_datareader'] } } } },
    });
    const h = await connect(s, 'helpdesk', PW, 'R');
    const denied = await failure(h.request().query('SELECT TOP (1) RecoveryKeyId FROM [RecoveryAndHardwareCore].[Keys]'));
    expect(denied).toMatchObject({ number: 229, class: 14, message: "The SELECT permission was denied on the object 'Keys', database 'R', schema 'RecoveryAndHardwareCore'." });
    expect((await h.request().query("SELECT HAS_PERMS_BY_NAME('RecoveryAndHardwareCore.Keys', 'OBJECT', 'SELECT') AS p")).recordset[0].p).toBe(0);
    expect((await failure(h.request().query('SELECT COUNT(*) AS n FROM RecoveryAndHardwareCore.Machines'))).number).toBe(208);
    const r = await connect(s, 'reader', PW, 'R');
    expect((await r.request().query('SELECT COUNT(*) AS n FROM R.RecoveryAndHardwareCore.Keys')).recordset).toEqual([{ n: 0 }]);
  });

  it('refuses a wrong password with 18456', async () => {
    const s = await server();
    await expect(connect(s, 'mbam_vss', 'wrong')).rejects.toMatchObject({ code: 'ELOGIN' });
  });
});

describe('certificates', () => {
  it('BACKUP CERTIFICATE needs CONTROL (15151); an existing file is 15240', async () => {
    const dir = tmp();
    const s = await server({ certificates: ['MBAM Recovery Encryption Certificate'], logins: { mbam_vss: PW, low: { password: PW } } });
    const stmt = (n: string) => `BACKUP CERTIFICATE [MBAM Recovery Encryption Certificate] TO FILE = N'${join(dir, n + '.cer')}' WITH PRIVATE KEY (FILE = N'${join(dir, n + '.pvk')}', ENCRYPTION BY PASSWORD = N'P@ssw0rd!x')`;
    const low = await connect(s, 'low');
    const e = await failure(low.request().batch(stmt('x')));
    expect(e).toMatchObject({ number: 15151, message: "Cannot find the certificate 'MBAM Recovery Encryption Certificate', because it does not exist or you do not have permission." });
    const p = await connect(s);
    await p.request().batch(stmt('c'));
    expect(s.certificateBackups).toHaveLength(1);
    expect((await failure(p.request().batch(stmt('c')))).number).toBe(15240);
  });

  it('CREATE CERTIFICATE without ENCRYPTION BY PASSWORD needs a database master key (15581)', async () => {
    const dir = tmp();
    const src = await server({ certificates: ['cert'] });
    const sp = await connect(src);
    await sp.request().batch(`BACKUP CERTIFICATE [cert] TO FILE = N'${join(dir, 'c.cer')}' WITH PRIVATE KEY (FILE = N'${join(dir, 'c.pvk')}', ENCRYPTION BY PASSWORD = N'P@ssw0rd!x')`);
    const dst = await server({ databases: [{ name: 'master', masterKey: false }] });
    const dp = await connect(dst);
    const create = `CREATE CERTIFICATE [cert] FROM FILE = N'${join(dir, 'c.cer')}' WITH PRIVATE KEY (FILE = N'${join(dir, 'c.pvk')}', DECRYPTION BY PASSWORD = N'P@ssw0rd!x')`;
    expect((await failure(dp.request().batch(create))).number).toBe(15581);
    await dp.request().batch("CREATE MASTER KEY ENCRYPTION BY PASSWORD = N'An0ther!Pass'");
    await dp.request().batch(create);
    const c = await dp.request().query('SELECT name, pvt_key_encryption_type_desc FROM sys.certificates');
    expect(c.recordset).toEqual([{ name: 'cert', pvt_key_encryption_type_desc: 'ENCRYPTED_BY_MASTER_KEY' }]);
  });
});

describe('TLS', () => {
  it('TDS 8 strict: TLS first, and the session shows as encrypted', async () => {
    const dir = tmp();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const s = await server({ tls: 'strict', tlsCert: { key: fs.readFileSync(join(dir, 'k.pem'), 'utf8'), cert: fs.readFileSync(join(dir, 'c.pem'), 'utf8') } });
    const pool = new sql.ConnectionPool({ server: '127.0.0.1', port: s.port, user: 'mbam_vss', password: PW, options: { encrypt: 'strict' as unknown as boolean, cryptoCredentialsDetails: { ca: [fs.readFileSync(join(dir, 'c.pem'), 'utf8')] } }, pool: { max: 1, min: 0 } });
    pools.push(pool);
    await pool.connect();
    const r = await pool.request().query('SELECT encrypt_option FROM sys.dm_exec_connections WHERE session_id = @@SPID');
    expect(r.recordset).toEqual([{ encrypt_option: 'TRUE' }]);
  });
});

describe('faults', () => {
  it('kill on a statement kind drops the connection; delay waits', async () => {
    const s = await server({ databases: [{ name: 'a' }], faults: { killOn: ['suspend-database'], delay: [{ on: 'select', ms: 50 }] } });
    const p = await connect(s);
    const t = Date.now();
    await p.request().query('SELECT 1 AS x');
    expect(Date.now() - t).toBeGreaterThanOrEqual(45);
    await expect(p.request().batch('ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON')).rejects.toBeTruthy();
    expect(s.suspended()).toEqual([]);
  });
});
