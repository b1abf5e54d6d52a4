/**
 * A process that appends checksummed 64-byte records to a file as fast as it can: each record is
 * one write() of `<seq> <sha256 prefix>` padded, and 64 divides the page size, so no record
 * straddles a page. A restored copy is consistent when it is a run of whole, valid records.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RECORD = 64;

const SCRIPT = `
const fs = require('fs'); const crypto = require('crypto');
const fd = fs.openSync(process.argv[2], 'a');
let seq = 0;
for (;;) {
  const body = seq + ' ' + crypto.createHash('sha256').update(String(seq)).digest('hex').slice(0, 40);
  const rec = Buffer.alloc(${RECORD}, ' '); rec.write(body); rec[${RECORD} - 1] = 10;
  fs.writeSync(fd, rec);
  if (++seq % 256 === 0) fs.fsyncSync(fd);
}
`;

/**
 * Starts the appender and resolves once `records` whole records are in the file (the first fsync
 * comes at 256), so that a backup taken next has something to copy however busy the machine is.
 * `onStart` gets the process at once, so that a test can register its kill before waiting.
 */
export async function startAppender(dir: string, file: string, onStart: (p: ChildProcess) => void, records = 256, timeoutMs = 30_000): Promise<ChildProcess> {
  const script = join(dir, 'appender.cjs');
  writeFileSync(script, SCRIPT);
  const p = spawn(process.execPath, [script, file], { stdio: 'ignore' });
  onStart(p);
  const t0 = Date.now();
  for (;;) {
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      // not created yet
    }
    if (size >= records * RECORD) return p;
    if (p.exitCode !== null || p.signalCode !== null) throw new Error(`the appender exited (${p.exitCode ?? p.signalCode}) before writing ${records} records to ${file}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`the appender wrote ${Math.floor(size / RECORD)} of ${records} records to ${file} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Returns the number of whole valid records, or throws naming the first bad one. */
export function checkRecords(file: string): number {
  const data = readFileSync(file);
  if (data.length % RECORD !== 0) throw new Error(`${file}: ${data.length} bytes is not a whole number of ${RECORD}-byte records (a torn record)`);
  for (let i = 0; i < data.length / RECORD; i++) {
    const rec = data.subarray(i * RECORD, (i + 1) * RECORD).toString().trimEnd();
    const [seq, sum] = rec.split(' ');
    if (Number(seq) !== i || createHash('sha256').update(String(i)).digest('hex').slice(0, 40) !== sum) throw new Error(`${file}: record ${i} is damaged: ${JSON.stringify(rec)}`);
  }
  return data.length / RECORD;
}
