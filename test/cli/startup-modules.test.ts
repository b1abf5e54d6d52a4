/**
 * Issue #16 §3: start-up. What a command loads is deterministic, so it is tested here; how long
 * that takes is measured beside bare Node in bench/ (bench/startup.mjs), never timed in a test.
 * Each run records every module the CLI process resolves and every native addon it dlopens
 * (fixtures/module-trace.mjs, loaded with --import).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, REPO } from '../support/paths.js';

const TRACER = pathToFileURL(join(REPO, 'test', 'cli', 'fixtures', 'module-trace.mjs')).href;
const work = mkdtempSync(join(tmpdir(), 'mbam-startup-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let runs = 0;
/** Runs the built CLI; returns its output, our modules it loaded (as `dist/…` paths) and its dlopens. */
function traced(args: string[]): { code: number; stdout: string; ours: string[]; dlopen: string[] } {
  const trace = join(work, `trace-${++runs}.txt`);
  const env: NodeJS.ProcessEnv = { ...process.env, MODULE_TRACE: trace };
  for (const k of Object.keys(env)) if (k.startsWith('MBAM_VSS_')) delete env[k];
  const r = spawnSync(process.execPath, ['--import', TRACER, CLI, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  const lines = [...new Set(readFileSync(trace, 'utf8').split('\n').filter(Boolean))];
  const root = pathToFileURL(REPO).href + '/';
  return {
    code: r.status ?? -1,
    stdout: r.stdout,
    ours: lines.filter((l) => l.startsWith(root)).map((l) => fileURLToPath(l).slice(REPO.length + 1)).sort(),
    dlopen: lines.filter((l) => l.startsWith('dlopen ')),
  };
}

const IMPLEMENTATION = /^dist\/(requester|install|sql|hosted|mbam)\//;

describe('CLI start-up loads only what the command needs', () => {
  it('--version loads the entry point and the version, nothing else of ours, and no addon', () => {
    const r = traced(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
    expect(r.ours).toEqual(['dist/cli/main.js', 'dist/version.js']);
    expect(r.dlopen).toEqual([]);
  });

  it('--help loads the command declarations, no implementation module, no platform code and no addon', () => {
    for (const args of [['--help'], ['--json', '--version']]) {
      const r = traced(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.ours, args.join(' ')).toContain('dist/cli/commands.js');
      expect(r.ours.filter((m) => IMPLEMENTATION.test(m) || m.startsWith('dist/platform/')), args.join(' ')).toEqual([]);
      expect(r.dlopen, args.join(' ')).toEqual([]);
    }
  });

  it('writers loads no SQL, requester or install module', () => {
    const r = traced(['writers', '--state-dir', join(work, 'state-writers')]);
    expect(r.code).toBe(0);
    expect(r.ours).toContain('dist/platform/posix.js');
    expect(r.ours.filter((m) => /^dist\/(sql|requester|install|hosted)\//.test(m))).toEqual([]);
  });

  it('status loads its implementation on demand (the trace sees lazily imported modules), no SQL module', () => {
    const r = traced(['status', '--state-dir', join(work, 'state-status')]);
    expect(r.code).toBe(0);
    expect(r.ours).toContain('dist/install/status.js');
    expect(r.ours.filter((m) => /^dist\/(sql|hosted)\//.test(m) || m === 'dist/install/operations.js')).toEqual([]);
  });

  it('help that names an implementation module (install steps, the service name) stays whole', () => {
    for (const args of [['install', '--help'], ['help', 'install'], ['uninstall', '--help'], ['register-writer', '--help']]) {
      const r = traced(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/Steps \(the names MBAM_VSS_FAULT uses\): .*commit\./);
    }
    const serve = traced(['serve', '--help']).stdout.replace(/\s+/g, ' ');
    expect(serve).toContain('--install-service register `serve` as the automatic Windows service MbamVssWriter, then exit --uninstall-service remove the MbamVssWriter service, then exit --service run under the Service Control Manager');
  });
});
