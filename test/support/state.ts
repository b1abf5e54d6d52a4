import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE_TOPOLOGY } from './paths.js';

export function tempDir(prefix = 'mbam-state-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The example topology with the Recovery database renamed: a "changed topology". */
export function changedTopology(dir: string, recoveryName = 'MBAM Recovery Renamed'): string {
  const t = JSON.parse(readFileSync(EXAMPLE_TOPOLOGY, 'utf8'));
  t.servers[0].databases.recovery = { name: recoveryName };
  const file = join(dir, `topology-${recoveryName.replace(/\W/g, '')}.json`);
  writeFileSync(file, JSON.stringify(t, null, 2));
  return file;
}
