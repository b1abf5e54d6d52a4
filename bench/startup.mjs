#!/usr/bin/env node
// CLI start-up beside bare Node: `node -e 0` and each mbam-vss command, interleaved, N rounds;
// prints JSON with the median wall time of each and its ratio to bare Node. Needs `npm run build`.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'dist', 'cli', 'main.js');
const rounds = Number(process.argv[2] ?? 30);
const state = mkdtempSync(join(tmpdir(), 'mbam-startup-'));
const cases = {
  'node -e 0': ['-e', '0'],
  '--version': [cli, '--version'],
  '--help': [cli, '--help'],
  writers: [cli, 'writers', '--state-dir', state],
  status: [cli, 'status', '--state-dir', state],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const once = (args) => {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
};
for (const args of Object.values(cases)) once(args); // warm the page cache
for (let i = 0; i < rounds; i++) for (const [k, args] of Object.entries(cases)) times[k].push(once(args));
rmSync(state, { recursive: true, force: true });
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const bare = median(times['node -e 0']);
const loadAvg = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ')[0];
console.log(JSON.stringify({ rounds, loadAvg, results: Object.entries(times).map(([k, a]) => ({ case: k, medianMs: median(a), ratio: median(a) / bare })) }));
