/**
 * Loop-mounted filesystem images the snapshot tests create (and only ever freeze): a sparse file,
 * mkfs, mount -o loop under a fresh temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCommand, isRoot, prereq, type Prereq } from './prereq.js';

export type FsKind = 'btrfs' | 'ext4' | 'xfs';

const MKFS: Record<FsKind, string[]> = { btrfs: ['mkfs.btrfs', '-q', '-f'], ext4: ['mkfs.ext4', '-q', '-F'], xfs: ['mkfs.xfs', '-q', '-f'] };

export function loopPrereq(kind: FsKind): Prereq {
  if (!isRoot()) return prereq(false, 'root (loop devices, mount, FIFREEZE)');
  if (!hasCommand('losetup') || !existsSync('/dev/loop-control')) return prereq(false, 'loop devices (losetup, /dev/loop-control)');
  if (!hasCommand(MKFS[kind][0]!)) return prereq(false, `${MKFS[kind][0]} (apt-get install ${kind === 'btrfs' ? 'btrfs-progs' : kind === 'xfs' ? 'xfsprogs' : 'e2fsprogs'})`);
  return prereq(true, '');
}

export interface LoopFs {
  dir: string;
  image: string;
  mountPoint: string;
  device: string;
  cleanup(): void;
}

export function makeLoopFs(kind: FsKind, sizeMiB = 320): LoopFs {
  const dir = mkdtempSync(join(tmpdir(), `mbam-${kind}-`));
  const image = join(dir, `${kind}.img`);
  const mountPoint = join(dir, 'mnt');
  mkdirSync(mountPoint);
  execFileSync('truncate', ['-s', `${sizeMiB}M`, image]);
  execFileSync(MKFS[kind][0]!, [...MKFS[kind].slice(1), image], { stdio: 'pipe' });
  const device = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
  execFileSync('mount', [device, mountPoint]);
  return {
    dir,
    image,
    mountPoint,
    device,
    cleanup() {
      // Never leave a frozen filesystem behind, whatever a test did.
      try { execFileSync('fsfreeze', ['-u', mountPoint], { stdio: 'ignore' }); } catch { /* not frozen */ }
      try { execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' }); } catch { /* gone */ }
      try { execFileSync('losetup', ['-d', device], { stdio: 'ignore' }); } catch { /* gone */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
