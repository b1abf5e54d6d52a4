#!/usr/bin/env node
// Runs the benchmarks and prints Markdown tables for bench/README.md. Needs `npm run build` first.
//   npm run bench            all suites
//   npm run bench -- wmd     one suite
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv[2];
const runTs = (script) => JSON.parse(execFileSync(join(here, '..', 'node_modules', '.bin', 'vite-node'), [join(here, script)], { encoding: 'utf8' }).trim().split('\n').pop());
const run = (script, args) => JSON.parse(execFileSync(process.execPath, ['--expose-gc', join(here, script), ...args.map(String)], { encoding: 'utf8' }).trim().split('\n').pop());

const suites = {
  wmd() {
    console.log('### Writer metadata document: read and write\n');
    console.log('| components | XML size | bare fast-xml-parser parse | our read (parse + model) | read / bare | our write | peak RSS growth: bare / read / write |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|');
    for (const n of [1, 100, 10000]) {
      const parse = run('wmd.mjs', [n, 'parse']);
      const read = run('wmd.mjs', [n, 'read']);
      const write = run('wmd.mjs', [n, 'write']);
      const ms = (x) => (x < 1 ? `${(x * 1000).toFixed(1)} µs` : `${x.toFixed(2)} ms`);
      console.log(`| ${n} | ${(read.bytes / 1024).toFixed(1)} KiB | ${ms(parse.medianMs)} | ${ms(read.medianMs)} | ${(read.medianMs / parse.medianMs).toFixed(2)}× | ${ms(write.medianMs)} | ${parse.peakRssGrowthMiB.toFixed(1)} / ${read.peakRssGrowthMiB.toFixed(1)} / ${write.peakRssGrowthMiB.toFixed(1)} MiB |`);
    }
    console.log('');
  },
  registry() {
    console.log('### Writer registry: install (register + verify) and listWriters\n');
    console.log('| writers registered | install (journaled: register + verify) | raw: 2 files written, fsynced, renamed | ratio | listWriters | raw: read every file | ratio |');
    console.log('|---:|---:|---:|---:|---:|---:|---:|');
    for (const n of [1, 100, 1000]) {
      const r = run('registry.mjs', [n]);
      const ms = (x) => `${x.toFixed(2)} ms`;
      console.log(`| ${n} | ${ms(r.installMs)} | ${ms(r.rawMs)} | ${(r.installMs / r.rawMs).toFixed(1)}× | ${ms(r.listMs)} | ${ms(r.rawListMs)} | ${(r.listMs / r.rawListMs).toFixed(1)}× |`);
    }
    console.log('');
  },
  freeze() {
    console.log('### SQL Server snapshot freeze cycle (TDS test server on loopback)\n');
    const r = runTs('freeze.ts');
    console.log('| | median | p99 |');
    console.log('|---|---:|---:|');
    console.log(`| mbam-vss SnapshotFreeze (mssql pool of one, identity + encryption check, suspend, verify, metadata backup) | ${r.oursMs.toFixed(2)} ms | ${r.oursP99.toFixed(2)} ms |`);
    console.log(`| bare tedious, same four statements on one connection | ${r.bareMs.toFixed(2)} ms | ${r.bareP99.toFixed(2)} ms |`);
    console.log(`| ratio | ${(r.oursMs / r.bareMs).toFixed(2)}× | |`);
    console.log(`\n(${r.reps} cycles each, interleaved)\n`);
  },
  startup() {
    const r = run('startup.mjs', [30]);
    console.log('### CLI start-up beside bare Node\n');
    console.log('| command | median wall time | / `node -e 0` |');
    console.log('|---|---:|---:|');
    for (const x of r.results) console.log(`| \`${x.case}\` | ${x.medianMs.toFixed(0)} ms | ${x.ratio.toFixed(2)}× |`);
    console.log(`\n(${r.rounds} interleaved rounds; load average ${r.loadAvg} at the end)\n`);
  },
  bridge() {
    const r = run('bridge.mjs', []);
    console.log('### Event bridge (native thread → JS handler → native thread)\n');
    console.log('| | per event (median of batches) | events/s | latency median | latency p99 |');
    console.log('|---|---:|---:|---:|---:|');
    console.log(`| round trip, waiting for the answer (what a VSS thread sees) | ${r.waitUsPerEvent.toFixed(1)} µs | ${Math.round(r.eventsPerSec)} | ${r.medianUs.toFixed(1)} µs | ${r.p99Us.toFixed(1)} µs |`);
    console.log(`| floor: thread-safe-function call, no wait | ${r.floorUsPerEvent.toFixed(1)} µs | ${Math.round(r.floorEventsPerSec)} | | |`);
    console.log(`\n(${r.batches} alternating batches, ${r.n} events each way, one calling thread; a waited round trip costs ${r.ratio.toFixed(2)}× the floor)\n`);
  },
  snapshot() {
    if (process.geteuid?.() !== 0) {
      console.log('### Snapshots: skipped (needs root for loop devices, mount and FIFREEZE)\n');
      return;
    }
    const snap = (args) => JSON.parse(execFileSync(process.execPath, [join(here, 'snapshot.mjs'), ...args], { encoding: 'utf8' }).trim().split('\n').pop());
    const e = snap(['window', 'ext4']);
    const b = snap(['window', 'btrfs']);
    console.log('### Blocked-writes window (max gap between two completed write+fdatasync of a separate process)\n');
    console.log('| provider | mbam-vss | raw shell, same work | ratio |');
    console.log('|---|---:|---:|---:|');
    console.log(`| external, ext4 (freeze, copy the frozen device, thaw) | ${e.oursMs.toFixed(0)} ms (watchdog-held ${e.heldMs} ms) | ${e.rawMs.toFixed(0)} ms (\`fsfreeze -f; cp; fsfreeze -u\`) | ${(e.oursMs / e.rawMs).toFixed(2)}× |`);
    console.log(`| btrfs (read-only subvolume snapshot) | ${b.oursMs.toFixed(1)} ms | ${b.rawMs.toFixed(1)} ms (\`btrfs subvolume snapshot -r\`) | ${(b.oursMs / b.rawMs).toFixed(2)}× |`);
    const t = snap(['throughput', '2048']);
    console.log('\n### Backup throughput, one 2 GiB file (cold cache, ext4 loop image with direct I/O)\n');
    console.log('| | time | MiB/s | mbam-vss throughput relative to it |');
    console.log('|---|---:|---:|---:|');
    const row = (name, ms) => console.log(`| ${name} | ${(ms / 1000).toFixed(2)} s | ${(2048 / (ms / 1000)).toFixed(0)} | ${(ms / t.oursMs * 100).toFixed(0)}% |`);
    row('mbam-vss backup (copy + SHA-256, manifest, fsync)', t.oursMs);
    row('`cp` + `sync -f`', t.cpMs);
    row('`cp` + `sync -f` + `sha256sum` (the same work)', t.cpSha256Ms);
    const m1 = snap(['memory', '256']);
    const m2 = snap(['memory', '2048']);
    console.log('\n### Peak memory of a backup\n');
    console.log('| file size | peak RSS of the whole process |');
    console.log('|---:|---:|');
    console.log(`| 256 MiB | ${m1.peakRssMiB.toFixed(1)} MiB |`);
    console.log(`| 2 GiB | ${m2.peakRssMiB.toFixed(1)} MiB |`);
    console.log('');
  },
};

for (const [name, fn] of Object.entries(suites)) if (!only || only === name) fn();
