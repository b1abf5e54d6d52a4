import { spawnSync } from 'node:child_process';
import { CLI } from './paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = any>(): T;
}

/** Runs the built CLI (dist/) as a user would, with a clean environment for mbam-vss variables. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): CliResult {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('MBAM_VSS_')) delete base[k];
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...base, ...env }, timeout: 60_000 });
  return {
    code: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    json() {
      return JSON.parse(r.stdout);
    },
  };
}
