#!/usr/bin/env node
// Runs vitest and closes with one plain line, "tests: N passed, N failed, N skipped", so that a CI
// log states what ran. The exit code is vitest's.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const results = '.vitest-results.json';
rmSync(results, { force: true });
const r = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${results}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
let code = r.status ?? 1;
if (existsSync(results)) {
  const j = JSON.parse(readFileSync(results, 'utf8'));
  const skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  console.log(`\ntests: ${j.numPassedTests} passed, ${j.numFailedTests} failed, ${skipped} skipped`);
  if (j.numTotalTests === 0) {
    console.log('no test ran');
    code = code || 1;
  }
} else {
  console.log('\ntests: 0 passed, 1 failed (vitest wrote no results)');
  code = code || 1;
}
process.exit(code);
