/**
 * Snapshot providers, the analog of VSS's system and hardware providers:
 *   btrfs     an atomic read-only subvolume snapshot; no filesystem freeze (it would block the
 *             snapshot itself)
 *   external  freeze every filesystem in the set, run the operator's snapshot command (a
 *             hypervisor, SAN, cloud-disk or LVM snapshot) under a write-hold deadline, thaw, then
 *             read the files from where the command exposed the snapshot
 *   copy      no snapshot: the files are copied inside the freeze window, for writers that hold
 *             consistency themselves (databases suspended for snapshot backup)
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { nativeError, posixAddon } from '../platform/native.js';
import { FrozenFilesystems } from './fs-freeze.js';
import { btrfsSubvolumeRoot, freezeMountPoints, mountOf, readMounts, type MountInfo } from './mounts.js';
import { runBoundedCommand } from '../util/bounded-command.js';

export type ProviderName = 'btrfs' | 'external' | 'copy';
export type ProviderChoice = ProviderName | 'auto';

export interface Volume {
  /** The directory whose snapshot view replaces it: a btrfs subvolume root, or a mount point. */
  root: string;
  mount: MountInfo;
  provider: ProviderName;
  /** Set once the snapshot exists: where the volume's contents are read from. */
  view?: string;
}

const isRoot = () => typeof process.geteuid === 'function' && process.geteuid() === 0;

/** Which provider serves the volume holding `path`, and the volume's root. */
export function planVolume(path: string, choice: ProviderChoice, hasSnapshotCommand: boolean): Volume {
  const mount = mountOf(path);
  let provider: ProviderName;
  if (choice === 'auto') {
    provider = mount.fsType === 'btrfs' && isRoot() ? 'btrfs' : hasSnapshotCommand ? 'external' : 'copy';
    // The copy provider takes no snapshot: the writers stay frozen (their I/O held) for the whole
    // copy. That is a choice an operator makes knowingly, never one 'auto' falls into.
    if (provider === 'copy') {
      throw new VssError(HR.VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, {
        message: `no snapshot provider serves ${path} on ${mount.fsType} (${mount.mountPoint}): ${mount.fsType === 'btrfs' ? 'btrfs snapshots need root' : 'it is not btrfs'} and no --snapshot-command was given; 'auto' does not fall back to copying inside the freeze window`,
        category: 'precondition',
        hint: 'Pass --provider external --snapshot-command CMD (LVM, a SAN or cloud snapshot), or --provider copy to copy while the writers are frozen (then size --freeze-timeout for the copy).',
      });
    }
  } else provider = choice;
  if (provider === 'btrfs' && mount.fsType !== 'btrfs') {
    throw new VssError(HR.VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, { message: `${path} is on ${mount.fsType} (${mount.mountPoint}), not btrfs`, category: 'precondition' });
  }
  if (provider === 'external' && !hasSnapshotCommand) {
    throw new VssError(HR.E_INVALIDARG, { message: 'the external provider needs --snapshot-command', category: 'input' });
  }
  const root = provider === 'btrfs' ? btrfsSubvolumeRoot(path, mount.mountPoint) : mount.mountPoint;
  return { root, mount, provider };
}

/**
 * The btrfs snapshot's name carries the owning process's id, so that the next backup can tell the
 * snapshot of a killed backup (its owner is gone: remove it) from a running one's (leave it).
 */
export function snapshotName(snapshotSetId: string, pid = process.pid): string {
  return `.mbam-vss-snapshot-${snapshotSetId}-pid${pid}`;
}

const SNAPSHOT_NAME = /^\.mbam-vss-snapshot-([0-9a-f-]{36})(?:-pid(\d+))?$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function createBtrfsSnapshots(volumes: Volume[], snapshotSetId: string): Promise<void> {
  const native = posixAddon();
  for (const v of volumes) {
    try {
      native.btrfsSnapshot(v.root, v.root, snapshotName(snapshotSetId), true);
    } catch (e) {
      throw nativeError(e, `btrfs snapshot of ${v.root}`);
    }
    v.view = join(v.root, snapshotName(snapshotSetId));
  }
}

/** Deletes one volume's snapshot subvolume; a failure is a VssError naming what is left behind. */
export function releaseBtrfsSnapshot(v: Volume): void {
  if (!v.view || !fs.existsSync(v.view)) return;
  const native = posixAddon();
  try {
    native.btrfsDeleteSubvolume(dirname(v.view), v.view.slice(dirname(v.view).length + 1));
  } catch (e) {
    throw nativeError(e, `deleting the btrfs snapshot ${v.view}`);
  }
}

export interface LeftoverSnapshot {
  path: string;
  kind: 'btrfs-snapshot' | 'external-mount' | 'external-expose-dir' | 'partial-set';
  /** The backup that made it is still running (only known for btrfs snapshots). */
  ownerAlive?: boolean;
}

/**
 * What killed backups left behind, for `status`: btrfs snapshot subvolumes in the subvolumes that
 * hold `paths` (a writer's file directories), external snapshots still mounted anywhere, and the
 * expose directories and partial sets next to the backup targets in `targetDirs`.
 */
export function findLeftoverSnapshots(paths: string[], targetDirs: string[] = []): LeftoverSnapshot[] {
  const out: LeftoverSnapshot[] = [];
  const seen = new Set<string>();
  const add = (x: LeftoverSnapshot) => void (seen.has(x.path) || (seen.add(x.path), out.push(x)));
  const mounts = readMounts();
  for (const p of paths) {
    let root: string;
    try {
      const m = mountOf(p, mounts);
      if (m.fsType !== 'btrfs') continue;
      root = btrfsSubvolumeRoot(p, m.mountPoint);
    } catch {
      continue; // a path that does not exist has no snapshot next to it
    }
    for (const name of safeReaddir(root)) {
      const m = SNAPSHOT_NAME.exec(name);
      if (m) add({ path: join(root, name), kind: 'btrfs-snapshot', ownerAlive: m[2] !== undefined && Number(m[2]) !== process.pid && processAlive(Number(m[2])) });
    }
  }
  for (const m of mounts) if (EXPOSED_MOUNT.test(m.mountPoint)) add({ path: m.mountPoint, kind: 'external-mount' });
  for (const dir of targetDirs) {
    for (const name of safeReaddir(dir)) {
      if (/^\..+\.snapshots-[0-9a-f-]{36}$/.test(name)) add({ path: join(dir, name), kind: 'external-expose-dir' });
      else if (/^\..+\.partial-[0-9a-f-]{36}$/.test(name)) add({ path: join(dir, name), kind: 'partial-set' });
    }
  }
  return out;
}

const EXPOSED_MOUNT = /\/\.[^/]+\.snapshots-[0-9a-f-]{36}\/\d+$/;

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Deletes the snapshots that killed backups left in the volumes' subvolumes (their owner process is
 * gone); returns what it removed. Snapshots of running backups are left alone.
 */
export function removeStaleBtrfsSnapshots(volumes: Volume[]): string[] {
  const native = posixAddon();
  const removed: string[] = [];
  for (const v of volumes) {
    for (const name of safeReaddir(v.root)) {
      const m = SNAPSHOT_NAME.exec(name);
      // A name without a pid is from a version that did not record it: its backup cannot still run.
      if (!m || (m[2] !== undefined && processAlive(Number(m[2])))) continue;
      try {
        native.btrfsDeleteSubvolume(v.root, name);
      } catch (e) {
        throw nativeError(e, `deleting the stale btrfs snapshot ${join(v.root, name)} a killed backup left`);
      }
      removed.push(join(v.root, name));
    }
  }
  return removed;
}

export interface ExternalSnapshotOptions {
  command: string;
  snapshotSetId: string;
  /** Where the command exposes mount i's snapshot, at `<root>/<i>`. */
  exposeRoot: string;
  /** The write hold: from freeze to thaw, like VSS's 10 s. */
  writeHoldMs: number;
  protect: string[];
  force?: boolean;
  onFrozen?: (frozen: FrozenFilesystems) => void;
}

/** The environment the snapshot command sees (README documents it). */
export function snapshotCommandEnv(action: 'create' | 'release', volumes: Volume[], o: ExternalSnapshotOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MBAM_VSS_SNAPSHOT_ACTION: action,
    MBAM_VSS_SNAPSHOT_SET_ID: o.snapshotSetId,
    MBAM_VSS_FROZEN_MOUNTS: volumes.map((v) => v.mount.mountPoint).join('\n'),
    MBAM_VSS_FROZEN_DEVICES: volumes.map((v) => v.mount.source).join('\n'),
    MBAM_VSS_SNAPSHOT_ROOT: o.exposeRoot,
  };
}

/**
 * Freezes the volumes' filesystems and has the freeze guard's watchdog run the command between
 * FIFREEZE and FITHAW, thawing the moment it exits (or at the write-hold deadline, killing it).
 * Returns the blocked-writes window the watchdog measured, in milliseconds.
 */
export async function createExternalSnapshots(volumes: Volume[], o: ExternalSnapshotOptions): Promise<number> {
  fs.mkdirSync(o.exposeRoot, { recursive: true, mode: 0o700 });
  volumes.forEach((_, i) => fs.mkdirSync(join(o.exposeRoot, String(i)), { recursive: true }));
  const mountPoints = freezeMountPoints(volumes.map((v) => v.mount));
  const output = join(o.exposeRoot, 'command-output.log');
  const env = Object.entries(snapshotCommandEnv('create', volumes, o)).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
  const frozen = await FrozenFilesystems.freeze(mountPoints, {
    deadlineMs: o.writeHoldMs,
    protect: o.protect,
    command: { script: o.command, env, output },
    ...(o.force ? { force: true } : {}),
  });
  o.onFrozen?.(frozen);
  const r = await frozen.waitForThaw();
  if (r.reason === 'deadline' || r.reason === 'watchdog-overdue') {
    throw new VssError(HR.VSS_E_HOLD_WRITES_TIMEOUT, { message: `the snapshot command did not finish within the write hold of ${o.writeHoldMs} ms; it was killed and the filesystems thawed${r.reason === 'watchdog-overdue' ? ' by mbam-vss (the freeze watchdog did not answer: stopped?)' : ''}` });
  }
  // Writes were held longer than promised (mbam-vss and its watchdog were both stopped, say): a
  // snapshot taken then is not one VSS would accept, even if the command succeeded.
  if (r.heldMs > o.writeHoldMs) {
    throw new VssError(HR.VSS_E_HOLD_WRITES_TIMEOUT, { message: `writes were held for ${r.heldMs} ms, longer than the write hold of ${o.writeHoldMs} ms; the snapshot is not used` });
  }
  if (r.reason !== 'command-done' || r.commandStatus !== 0) {
    let tail = '';
    try {
      tail = fs.readFileSync(output, 'utf8').trim().slice(-2000);
    } catch {
      // no output
    }
    const why = r.reason === 'command-done' ? `exit ${r.commandStatus}`
      : r.reason === 'signalled' ? `the freeze watchdog got ${r.signal}: it killed the command and thawed`
      : r.reason === 'watchdog-lost' ? 'the freeze watchdog died: mbam-vss killed the command and thawed'
      : r.reason;
    throw new VssError(HR.VSS_E_UNEXPECTED_PROVIDER_ERROR, { message: `snapshot command failed (${why})${tail ? `: ${tail}` : ''}` });
  }
  // The command exposes each volume's whole filesystem; a bind mount shows a directory of it.
  volumes.forEach((v, i) => (v.view = join(o.exposeRoot, String(i), v.mount.root)));
  return r.heldMs;
}

export async function releaseExternalSnapshots(volumes: Volume[], o: ExternalSnapshotOptions): Promise<void> {
  await runBoundedCommand(o.command, snapshotCommandEnv('release', volumes, o), 60_000, 'snapshot release command');
}

/**
 * Removes the directories the snapshot command exposed snapshots in, unless one is still a mount
 * point (the release did not unmount it): removing through a mount would delete the snapshot's
 * contents, and an operator must see the leak instead.
 */
export function removeExposeRoot(exposeRoot: string): void {
  const still = readMounts().map((m) => m.mountPoint).filter((m) => m === exposeRoot || m.startsWith(exposeRoot + '/'));
  if (still.length) {
    throw new VssError(HR.VSS_E_UNEXPECTED_PROVIDER_ERROR, {
      message: `the snapshot release left ${still.join(', ')} mounted; ${exposeRoot} was kept`,
      hint: `Unmount it (umount ${still[0]}), release the snapshot by hand, then remove ${exposeRoot}.`,
    });
  }
  fs.rmSync(exposeRoot, { recursive: true, force: true });
}
