/**
 * A full T-SQL snapshot-backup freeze cycle (connect, identity + encryption check, suspend, verify
 * the session holds it, BACKUP … METADATA_ONLY, close) against the TDS test server, beside the same
 * statements sent with bare tedious on one connection, in the same run. Prints one JSON line.
 *   vite-node bench/freeze.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotFreeze, suspendStatement, metadataBackupStatement } from '../src/sql/suspend.js';
import { tagged } from '../src/sql/quote.js';
import { startTdsServer } from '../test/support/tds-server.js';
import { mbamDatabases, serverFor, SQL_PASSWORD } from '../test/support/sql.js';

const require = createRequire(import.meta.url);
const { Connection, Request } = require('tedious');

const server = await startTdsServer({ databases: mbamDatabases() });
const dbs = ['MBAM Recovery and Hardware', 'MBAM Compliance Status'];
const reps = 200;
// The TDS test server writes the metadata backup where it is told, like SQL Server: the directory must exist.
const backupDir = mkdtempSync(join(tmpdir(), 'bench-freeze-'));
const bkm = join(backupDir, 'bench.bkm');
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function ours(): Promise<number> {
  const t = process.hrtime.bigint();
  const f = await SnapshotFreeze.begin(serverFor(server), dbs);
  await f.backupMetadata(bkm);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function bare(): Promise<number> {
  const t = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const c = new Connection({ server: '127.0.0.1', authentication: { type: 'default', options: { userName: 'mbam_vss', password: SQL_PASSWORD } }, options: { port: server.port, encrypt: false, database: 'master' } });
    const exec = (sql: string) => new Promise<void>((res, rej) => c.execSqlBatch(new Request(sql, (e: Error | null) => (e ? rej(e) : res()))));
    c.on('connect', async (err: Error | undefined) => {
      if (err) return reject(err);
      try {
        await exec(tagged('identity', 'SELECT @@SPID'));
        await exec(tagged('suspend', suspendStatement(dbs, true)));
        await exec(tagged('suspend-status', 'SELECT 1'));
        await exec(tagged('backup-metadata', metadataBackupStatement(dbs, bkm)));
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
rmSync(backupDir, { recursive: true, force: true });
console.log(JSON.stringify({ reps, oursMs: median(a), bareMs: median(b), oursP99: a.sort((x, y) => x - y)[Math.floor(reps * 0.99)], bareP99: b.sort((x, y) => x - y)[Math.floor(reps * 0.99)] }));
