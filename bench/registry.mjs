#!/usr/bin/env node
// Registration and listing against the POSIX writer registry, beside the bare file operations
// they are made of, in the same process:
//   node bench/registry.mjs <registered-writers>
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { buildMbamWriterMetadata, loadTopology, writeWriterMetadata } from '../dist/index.js';
import { install as installTx, uninstall as uninstallTx } from '../dist/install/operations.js';
import { WriterRegistry } from '../dist/platform/writer-registry.js';
import { PosixPlatform } from '../dist/platform/posix.js';

const n = Number(process.argv[2]);
const topologyFile = new URL('../examples/two-servers.json', import.meta.url).pathname;
const md = buildMbamWriterMetadata(loadTopology(topologyFile), 'MBAM-REC01');
const stateDir = mkdtempSync(join(tmpdir(), 'bench-reg-'));
const registry = new WriterRegistry(stateDir);
for (let i = 1; i < n; i++) {
  const other = structuredClone(md);
  other.identity.writerId = randomUUID();
  other.identity.instanceId = randomUUID();
  other.identity.friendlyName = `Writer ${i}`;
  registry.register(other);
}
const platform = new PosixPlatform(stateDir);
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (fn, reps) => {
  const out = [];
  for (let i = 0; i < reps; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(out);
};

// install alone (uninstall between runs is not timed) = journaled transaction: preflight, save-previous, register (2 files, fsync, rename), verify (read back), commit.
// A new platform each time, as each CLI run has: nothing read by the previous install is reused.
const installTimes = [];
for (let i = 0; i < 20; i++) {
  const fresh = new PosixPlatform(stateDir);
  const t = process.hrtime.bigint();
  await installTx({ topologyFile, server: 'MBAM-REC01', skipSqlChecks: true, platform: fresh, stateDir });
  installTimes.push(Number(process.hrtime.bigint() - t) / 1e6);
  await uninstallTx({ platform, stateDir });
}
const installMs = median(installTimes);
// The raw floor of a registration: the same two files written, synced, renamed into place, synced.
const xml = writeWriterMetadata(md);
const rawDir = mkdtempSync(join(tmpdir(), 'bench-raw-'));
const rawMs = await time((i) => {
  const tmp = join(rawDir, `.tmp-${i}`);
  mkdirSync(tmp);
  for (const [f, data] of [['metadata.xml', xml], ['record.json', '{}']]) {
    const fd = openSync(join(tmp, f), 'wx', 0o600);
    writeSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
  }
  const d = openSync(tmp, 'r'); fsyncSync(d); closeSync(d);
  renameSync(tmp, join(rawDir, `w${i}`));
  const p = openSync(rawDir, 'r'); fsyncSync(p); closeSync(p);
}, 20);

const listMs = await time(() => platform.listWriters(), n >= 1000 ? 5 : 50);
const rawListMs = await time(() => {
  for (const name of readdirSync(registry.dir)) {
    readFileSync(join(registry.dir, name, 'metadata.xml'));
    readFileSync(join(registry.dir, name, 'record.json'));
  }
}, n >= 1000 ? 5 : 50);
rmSync(stateDir, { recursive: true, force: true });
rmSync(rawDir, { recursive: true, force: true });
console.log(JSON.stringify({ n, installMs, rawMs, listMs, rawListMs }));
