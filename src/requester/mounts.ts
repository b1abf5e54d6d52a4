/**
 * Where files live: the mount (and, on btrfs, the subvolume) that holds a path, read from
 * /proc/self/mountinfo, which describes this process's mount namespace exactly.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, sep } from 'node:path';

export interface MountInfo {
  mountPoint: string;
  fsType: string;
  source: string;
  /** major:minor of the mounted filesystem: one superblock, whichever mounts show it. */
  device: string;
  /** The directory of the filesystem this mount shows: '/', or a bind mount's (or btrfs subvolume's) directory. */
  root: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function readMounts(): MountInfo[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pre, post] = line.split(' - ');
      const f = pre!.split(' ');
      const g = post!.split(' ');
      return { mountPoint: unescapeMount(f[4]!), root: unescapeMount(f[3]!), device: f[2]!, fsType: g[0]!, source: unescapeMount(g[1]!) };
    });
}

/** The mount holding `path` (the longest mount point that is a prefix of its real path). */
export function mountOf(path: string, mounts = readMounts()): MountInfo {
  const real = realpathSync(path);
  let best: MountInfo | undefined;
  for (const m of mounts) {
    const prefix = m.mountPoint === '/' ? '/' : m.mountPoint + sep;
    if ((real === m.mountPoint || real.startsWith(prefix)) && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best!;
}

/** btrfs gives every subvolume root inode 256; the nearest one above a path is its subvolume. */
export const BTRFS_SUBVOLUME_ROOT_INO = 256;

export function btrfsSubvolumeRoot(path: string, mountPoint: string): string {
  let p = realpathSync(path);
  if (!statSync(p).isDirectory()) p = dirname(p);
  for (;;) {
    if (statSync(p).ino === BTRFS_SUBVOLUME_ROOT_INO || p === mountPoint || p === '/') return p;
    p = dirname(p);
  }
}

/**
 * The mount to freeze `m`'s filesystem through: FIFREEZE acts on the superblock, whichever mount
 * reaches it, and a second FIFREEZE of a frozen superblock fails with EBUSY. So bind mounts (and
 * btrfs subvolume mounts) of one filesystem share one freeze, through the mount of its root when
 * this namespace has one.
 */
export function freezeMount(m: MountInfo, mounts = readMounts()): MountInfo {
  return mounts.find((x) => x.device === m.device && x.root === '/') ?? m;
}

/** One mount point per filesystem: what FIFREEZE is called on, once each. */
export function freezeMountPoints(ms: MountInfo[], mounts = readMounts()): string[] {
  const byDevice = new Map<string, string>();
  for (const m of ms) if (!byDevice.has(m.device)) byDevice.set(m.device, freezeMount(m, mounts).mountPoint);
  return [...byDevice.values()];
}

/**
 * True when two paths are on the same filesystem (a freeze of one blocks writes to the other):
 * the same superblock, which st_dev alone does not show for btrfs subvolumes.
 */
export function sameFilesystem(a: string, b: string): boolean {
  try {
    if (statSync(a).dev === statSync(b).dev) return true;
    const mounts = readMounts();
    return mountOf(a, mounts).device === mountOf(b, mounts).device;
  } catch {
    return false;
  }
}
