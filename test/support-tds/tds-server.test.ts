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

type Err = { number: number; class: number; state: number; message: string };
async function failure(p: Promise<unknown>): Promise<{ number: number; class: number; state: number; message: string; preceding: { number: number; class: number; message: string }[]; precedingStates: number[] }> {
  try {
    await p;
  } catch (e) {
    const err = e as Err & { precedingErrors?: Err[] };
    return { number: err.number, class: err.class, state: err.state, message: err.message, preceding: (err.precedingErrors ?? []).map((x) => ({ number: x.number, class: x.class, message: x.message })), precedingStates: (err.precedingErrors ?? []).map((x) => x.state) };
  }
  throw new Error('expected the statement to fail');
}

/** Runs a batch and collects its informational messages (INFO tokens). */
async function withInfos(pool: sql.ConnectionPool, text: string): Promise<{ number: number; class: number; message: string }[]> {
  const infos: { number: number; class: number; message: string }[] = [];
  const req = pool.request();
  req.on('info', (i: { number: number; class: number; message: string }) => infos.push({ number: i.number, class: i.class, message: i.message }));
  await req.batch(text);
  return infos;
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
  it('3081 (state 9, +5069) on a second suspend; the DMV and SERVERPROPERTY show it', async () => {
    const s = await server({ databases: [{ name: 'db1' }] });
    const a = await connect(s);
    const b = await connect(s);
    await a.request().batch('ALTER DATABASE [db1] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    const e = await failure(b.request().batch('alter database db1 set suspend_for_snapshot_backup = on'));
    expect(e.preceding).toEqual([{ number: 3081, class: 16, message: "Database 'db1' was previously suspended for snapshot backup." }]);
    expect(e.precedingStates).toEqual([9]);
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

  it('CU16+: suspends a group with ALTER SERVER CONFIGURATION, all or nothing; 3081 alone (state 4)', async () => {
    const s = await server({ productVersion: '16.0.4165.4', databases: [{ name: 'a' }, { name: 'b' }] });
    const p = await connect(s);
    await p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([a], [b]), MODE = COPY_ONLY)');
    expect(s.suspended().map((x) => [x.database, x.copyOnly])).toEqual([['a', true], ['b', true]]);
    await p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = OFF');
    expect(s.suspended()).toEqual([]);
    await failure(p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([a], [nope]))'));
    expect(s.suspended()).toEqual([]);
    await p.request().batch('ALTER DATABASE [b] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    const again = await failure(p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([a], [b]))'));
    expect(again).toMatchObject({ number: 3081, class: 16, state: 4, message: "Database 'b' was previously suspended for snapshot backup.", preceding: [] });
    expect(s.suspended().map((x) => x.database)).toEqual(['b']);
  });

  it('before CU16 a failed group suspend leaves databases suspended that SuspendedDatabaseCount does not count', async () => {
    const s = await server({ databases: [{ name: 'a' }, { name: 'b' }] }); // 16.0.4003.1 (CU1)
    const p = await connect(s);
    const e = await failure(p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([a], [nope]))'));
    expect(e.preceding.map((x) => x.number)).toEqual([5011]);
    expect(s.suspended().map((x) => x.database)).toEqual(['a']);
    const r = await p.request().query("SELECT SERVERPROPERTY('SuspendedDatabaseCount') AS n, DATABASEPROPERTYEX('a', 'IsDatabaseSuspendedForSnapshotBackup') AS a");
    expect(r.recordset).toEqual([{ n: 0, a: 1 }]);
    const off = await server({ preCu16SuspendBugs: false, databases: [{ name: 'a' }] });
    const q = await connect(off);
    await failure(q.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([a], [nope]))'));
    expect(off.suspended()).toEqual([]);
  });

  it('a database of a suspended server cannot be thawed alone (50002 + 5069, chosen)', async () => {
    const s = await server({ productVersion: '16.0.4165.4', databases: [{ name: 'a' }, { name: 'b' }] });
    const p = await connect(s);
    await p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    const e = await failure(p.request().batch('ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = OFF'));
    expect([...e.preceding.map((x) => x.number), e.number]).toEqual([50002, 5069]);
    expect(e.preceding[0]!.message).toMatch(/Full server is suspended, requires server level thaw/);
    expect(s.suspended()).toHaveLength(2);
    await p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = OFF');
    expect(s.suspended()).toEqual([]);
  });

  it('informational messages: 3197 on suspend, 3198 on thaw, at severity 0 on the wire (10 in the tables)', async () => {
    const s = await server({ databases: [{ name: 'a' }] });
    const p = await connect(s);
    expect(await withInfos(p, 'ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON')).toEqual([{ number: 3197, class: 0, message: 'I/O is frozen on database a. No user action is required. However, if I/O is not resumed promptly, you could cancel the backup.' }]);
    expect(await withInfos(p, 'ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = OFF')).toEqual([{ number: 3198, class: 0, message: 'I/O was resumed on database a. No user action is required.' }]);
    expect(await withInfos(p, 'ALTER DATABASE [a] SET SUSPEND_FOR_SNAPSHOT_BACKUP = OFF')).toEqual([]);
  });

  it('CU16+: at most 64 databases at suspend: 925 (severity 19); the group form needs ALTER SETTINGS (15247)', async () => {
    const names = Array.from({ length: 65 }, (_, i) => `d${i}`);
    const s = await server({ productVersion: '16.0.4165.4', databases: names.map((name) => ({ name })), logins: { mbam_vss: PW, dbo: { password: PW, databases: { d0: { roles: ['db_owner'] } } } } });
    const p = await connect(s);
    const e = await failure(p.request().batch(`ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = (${names.map((n) => `[${n}]`).join(', ')}))`));
    expect(e).toMatchObject({ number: 925, class: 19, message: 'Maximum number of databases used for each query has been exceeded. The maximum allowed is 64.' });
    const d = await connect(s, 'dbo');
    expect((await failure(d.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([d0]))'))).number).toBe(15247);
    await d.request().batch('ALTER DATABASE [d0] SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    expect(s.suspended().map((x) => x.database)).toEqual(['d0']);
  });

  it('before CU16: 65 databases suspend, then BACKUP SERVER fails with 3088, 925 and a severity-20 disconnect', async () => {
    const dir = tmp();
    const names = Array.from({ length: 65 }, (_, i) => `d${i}`);
    const s = await server({ databases: names.map((name) => ({ name })) });
    const p = await connect(s);
    await p.request().batch('ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON');
    expect(s.suspended()).toHaveLength(65);
    const e = await failure(p.request().batch(`BACKUP SERVER TO DISK = N'${join(dir, 's.bkm')}' WITH METADATA_ONLY`));
    expect(e.preceding.map((x) => [x.number, x.class])).toEqual([[3088, 16], [925, 19]]);
    expect(e.class).toBe(20);
    await until(() => s.sessions().every((x) => !x.open) && s.suspended().length === 0, 'the disconnect and thaw');
    expect(s.backups).toEqual([]);
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

  it('@@VERSION, ProductUpdateLevel and ProductUpdateReference follow the version', async () => {
    const q = "SELECT @@VERSION AS v, SERVERPROPERTY('ProductUpdateLevel') AS cu, SERVERPROPERTY('ProductUpdateReference') AS kb";
    const r16 = (await (await connect(await server())).request().query(q)).recordset[0];
    expect(r16.v).toMatch(/^Microsoft SQL Server 2022 \(RTM-CU1\) \(KB5022375\) - 16\.0\.4003\.1 \(X64\)/);
    expect([r16.cu, r16.kb]).toEqual(['CU1', 'KB5022375']);
    const r15 = (await (await connect(await server({ productMajorVersion: 15 }))).request().query(q)).recordset[0];
    expect(r15.v).toMatch(/^Microsoft SQL Server 2019 \(RTM-CU25\) \(KB5033688\) - 15\.0\.4355\.3 \(X64\)/);
    expect([r15.cu, r15.kb]).toEqual(['CU25', 'KB5033688']);
    const r14 = (await (await connect(await server({ productMajorVersion: 14 }))).request().query(q)).recordset[0];
    expect(r14.v).toMatch(/^Microsoft SQL Server 2017 \(RTM-CU31-GDR\) \(KB5029376\) - 14\.0\.3465\.1 \(X64\)/);
    expect([r14.cu, r14.kb]).toEqual(['CU31', 'KB5029376']);
  });
});

describe('BACKUP ... WITH METADATA_ONLY and RESTORE', () => {
  it('a group backup set holds two databases, thaws them, and is recorded in msdb', async () => {
    const dir = tmp();
    const s = await server({ databases: [{ name: 'a', files: dbFiles(dir, 'a') }, { name: 'b', files: dbFiles(dir, 'b') }] });
    const p = await connect(s);
    const bkm = join(dir, 'set.bkm');
    const infos = await withInfos(p, `ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = ([a], [b]));
      BACKUP GROUP [a], [b] TO DISK = N'${bkm}' WITH METADATA_ONLY, FORMAT`);
    expect(infos.map((i) => [i.number, i.class])).toEqual([[3197, 0], [3197, 0], [3198, 0], [3198, 0], [3014, 0]]);
    expect(infos[4]!.message).toBe('BACKUP GROUP successfully processed 0 pages in 0.001 seconds (0.000 MB/sec).');
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
    // 262 at severity 14 (captures of real servers; Learn's table says 16).
    const h = await failure(o.request().batch(`RESTORE HEADERONLY FROM DISK = N'${bkm}'`));
    expect(h.preceding).toEqual([{ number: 262, class: 14, message: "CREATE DATABASE permission denied in database 'master'." }]);
    expect(h.number).toBe(3013);
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
    // NULL class = SERVER (example A); NULL securable = current database; NULL for an invalid class or permission; ANY.
    const x = await p.request().query(
      "SELECT HAS_PERMS_BY_NAME(null, null, 'VIEW SERVER STATE') AS vss, HAS_PERMS_BY_NAME(null, null, 'ANY') AS srvany, HAS_PERMS_BY_NAME(NULL, 'DATABASE', 'ANY') AS cur, HAS_PERMS_BY_NAME('a', 'DATABASE', 'ANY') AS a_any, HAS_PERMS_BY_NAME('a', 'DATABASE', 'FLY') AS badperm, HAS_PERMS_BY_NAME('a', 'GALAXY', 'ANY') AS badclass, HAS_PERMS_BY_NAME('x', 'SERVER', 'VIEW SERVER STATE') AS named",
    );
    expect(x.recordset[0]).toEqual({ vss: 0, srvany: 1, cur: 1, a_any: 1, badperm: null, badclass: null, named: null });
    const admin = await connect(s);
    expect((await admin.request().query("SELECT HAS_PERMS_BY_NAME(null, null, 'VIEW SERVER STATE') AS v")).recordset[0].v).toBe(1);
  });

  it('sys.databases: the current database is always visible, ALTER ANY DATABASE shows all; owner_sid is the SID', async () => {
    const s = await server({
      databases: [{ name: 'a', owner: 'u' }, { name: 'b' }, { name: 'c' }],
      logins: { mbam_vss: PW, u: { password: PW, deny: ['VIEW ANY DATABASE'], databases: { b: {} } }, w: { password: PW, deny: ['VIEW ANY DATABASE'], serverPermissions: ['ALTER ANY DATABASE'] } },
    });
    const u = await connect(s, 'u', PW, 'b');
    const seen = await u.request().query('SELECT name FROM sys.databases ORDER BY name');
    expect(seen.recordset.map((r) => r.name)).toEqual(['a', 'b', 'master', 'tempdb']);
    const w = await connect(s, 'w');
    expect((await w.request().query('SELECT name FROM sys.databases')).recordset).toHaveLength(7);
    const sid = await u.request().query("SELECT owner_sid, SUSER_SID() AS me FROM sys.databases WHERE name = 'a'");
    expect(Buffer.isBuffer(sid.recordset[0].owner_sid)).toBe(true);
    expect(sid.recordset[0].owner_sid).toEqual(sid.recordset[0].me);
    const sa = await u.request().query("SELECT owner_sid FROM sys.databases WHERE name = 'master'");
    expect(sa.recordset[0].owner_sid).toEqual(Buffer.from([1]));
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

  it('BACKUP CERTIFICATE without the private key needs some permission (not VIEW-denied); 15147 for a DMK-protected key', async () => {
    const dir = tmp();
    const s = await server({
      certificates: ['c'],
      logins: { mbam_vss: PW, viewer: { password: PW, databases: { master: { certificates: { c: ['VIEW DEFINITION'] } } } }, hidden: { password: PW, databases: { master: { certificates: { c: ['REFERENCES'] }, denyCertificates: { c: ['VIEW DEFINITION'] } } } } },
    });
    const v = await connect(s, 'viewer');
    await v.request().batch(`BACKUP CERTIFICATE [c] TO FILE = N'${join(dir, 'v.cer')}'`);
    expect(s.certificateBackups.map((b) => b.file)).toEqual([join(dir, 'v.cer')]);
    const withKey = await failure(v.request().batch(`BACKUP CERTIFICATE [c] TO FILE = N'${join(dir, 'v2.cer')}' WITH PRIVATE KEY (FILE = N'${join(dir, 'v2.pvk')}', ENCRYPTION BY PASSWORD = N'P@ssw0rd!x')`));
    expect(withKey.number).toBe(15151);
    const h = await connect(s, 'hidden');
    expect((await failure(h.request().batch(`BACKUP CERTIFICATE [c] TO FILE = N'${join(dir, 'h.cer')}'`))).number).toBe(15151);
    const p = await connect(s);
    const e = await failure(p.request().batch(`BACKUP CERTIFICATE [c] TO FILE = N'${join(dir, 'a.cer')}' WITH PRIVATE KEY (FILE = N'${join(dir, 'a.pvk')}', ENCRYPTION BY PASSWORD = N'P@ssw0rd!x', DECRYPTION BY PASSWORD = N'whatever1!A')`));
    expect(e).toMatchObject({ number: 15147, message: 'No decryption password should be provided because the private key of this certificate is encrypted by a master key.' });
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
