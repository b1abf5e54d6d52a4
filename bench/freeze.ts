/**
 * A full T-SQL snapshot-backup freeze cycle (connect, identity + encryption check, suspend, verify
 * the session holds it twice, BACKUP … METADATA_ONLY, close) against the TDS test server, beside the
 * same five statements sent with bare tedious on one connection, in the same run. SnapshotFreeze
 * runs on its own dedicated tedious connection (src/sql/session.ts). Prints one JSON line.
 *   vite-node bench/freeze.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SnapshotFreeze, suspendStatement, metadataBackupStatement } from '../src/sql/suspend.js';
import { tagged } from '../src/sql/quote.js';
import { IDENTITY_STATEMENT } from '../src/sql/connection.js';
import { startTdsServer } from '../test/support/tds-server.js';
import { mbamDatabases, serverFor, SQL2022_CU16, SQL_PASSWORD } from '../test/support/sql.js';

const require = createRequire(import.meta.url);
const { Connection, Request, TYPES } = require('tedious');

const server = await startTdsServer({ productVersion: SQL2022_CU16, databases: mbamDatabases() });
const dbs = ['MBAM Recovery and Hardware', 'MBAM Compliance Status'];
const reps = 200;
// The test server writes the metadata backup for real: a directory that exists.
const BKM = `${mkdtempSync(join(tmpdir(), 'mbam-bench-'))}/bench.bkm`;
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function ours(): Promise<number> {
  const t = process.hrtime.bigint();
  const f = await SnapshotFreeze.begin(serverFor(server), dbs);
  await f.backupMetadata(BKM);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function bare(): Promise<number> {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const c = new Connection({ server: '127.0.0.1', authentication: { type: 'default', options: { userName: 'mbam_vss', password: SQL_PASSWORD } }, options: { port: server.port, encrypt: false, database: 'master' } });
    const exec = (sql: string) => new Promise<void>((res, rej) => c.execSqlBatch(new Request(sql, (e: Error | null) => (e ? rej(e) : res()))));
    const status = tagged('suspend-status', "SELECT @@SPID AS spid, CAST(DATABASEPROPERTYEX(@db0, 'IsDatabaseSuspendedForSnapshotBackup') AS int) AS s0, CAST(DATABASEPROPERTYEX(@db1, 'IsDatabaseSuspendedForSnapshotBackup') AS int) AS s1");
    const check = () =>
      new Promise<void>((res, rej) => {
        const r = new Request(status, (e: Error | null) => (e ? rej(e) : res()));
        r.addParameter('db0', TYPES.NVarChar, dbs[0], { length: 4000 });
        r.addParameter('db1', TYPES.NVarChar, dbs[1], { length: 4000 });
        c.execSql(r);
      });
    c.on('connect', async (err: Error | undefined) => {
      if (err) return reject(err);
      try {
        await exec(tagged('identity', IDENTITY_STATEMENT));
        await exec(tagged('suspend', suspendStatement(dbs, true)));
        await check();
        await check();
        await exec(tagged('backup-metadata', metadataBackupStatement(dbs, BKM)));
        c.close();
      } catch (e) {
        reject(e);
      }
    });
    c.on('end', () => resolve(Number(process.hrtime.bigint() - t) / 1e6));
    c.connect();
  });
}

for (let i = 0; i < 20; i++) { await ours(); await bare(); } // warm-up
const a: number[] = [];
const b: number[] = [];
for (let i = 0; i < reps; i++) {
  a.push(await ours());
  b.push(await bare());
}
await server.close();
rmSync(dirname(BKM), { recursive: true, force: true });
console.log(JSON.stringify({ reps, oursMs: median(a), bareMs: median(b), oursP99: a.sort((x, y) => x - y)[Math.floor(reps * 0.99)], bareP99: b.sort((x, y) => x - y)[Math.floor(reps * 0.99)] }));
