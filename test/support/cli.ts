import { spawn, spawnSync } from 'node:child_process';
import { CLI } from './paths.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /**
   * The --json envelope `{ ok, exitCode, command, result | error }` with the result's fields also
   * at the top (envelope fields win), so tests written before the envelope keep reading
   * `json().outcome`; new tests use envelope() and result().
   */
  json<T = any>(): T;
  /** The --json document exactly as printed. */
  envelope<T = any>(): T;
  /** The envelope's `result`; throws when stdout is not an envelope with one. */
  result<T = any>(): T;
}

function cleanEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('MBAM_VSS_')) delete base[k];
  return { ...base, ...env };
}

/** Runs the built CLI (dist/) as a user would, with a clean environment for mbam-vss variables. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: cleanEnv(env), timeout: 60_000 });
  return result(r.status ?? -1, r.stdout, r.stderr);
}

/** Like runCli, without blocking this process (for tests that serve something in-process). */
export function runCliAsync(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve(result(code ?? -1, stdout, stderr)));
  });
}

function result(code: number, stdout: string, stderr: string): CliResult {
  const r = { status: code, stdout, stderr };
  return {
    code: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    json() {
      const e = JSON.parse(r.stdout);
      const res = e && typeof e === 'object' && 'exitCode' in e && e.result && typeof e.result === 'object' && !Array.isArray(e.result) ? e.result : {};
      return { ...res, ...e };
    },
    envelope() {
      return JSON.parse(r.stdout);
    },
    result() {
      const e = JSON.parse(r.stdout);
      if (!e || typeof e !== 'object' || !('exitCode' in e) || !('result' in e)) throw new Error(`not a result envelope: ${r.stdout.slice(0, 200)}`);
      return e.result;
    },
  };
}
