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
};

for (const [name, fn] of Object.entries(suites)) if (!only || only === name) fn();
