/**
 * A process that appends checksummed 64-byte records to a file as fast as it can: each record is
 * one write() of `<seq> <sha256 prefix>` padded, and 64 divides the page size, so no record
 * straddles a page. A restored copy is consistent when it is a run of whole, valid records.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RECORD = 64;

const SCRIPT = `
const fs = require('fs'); const crypto = require('crypto');
const fd = fs.openSync(process.argv[2], 'a');
let seq = 0;
process.send && process.send('started');
for (;;) {
  const body = seq + ' ' + crypto.createHash('sha256').update(String(seq)).digest('hex').slice(0, 40);
  const rec = Buffer.alloc(${RECORD}, ' '); rec.write(body); rec[${RECORD} - 1] = 10;
  fs.writeSync(fd, rec);
  if (++seq % 256 === 0) fs.fsyncSync(fd);
}
`;

export function startAppender(dir: string, file: string): ChildProcess {
  const script = join(dir, 'appender.cjs');
  writeFileSync(script, SCRIPT);
  return spawn(process.execPath, [script, file], { stdio: 'ignore' });
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
