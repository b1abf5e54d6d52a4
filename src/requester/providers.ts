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
import { join } from 'node:path';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { loadNative, nativeError } from '../platform/native.js';
import { FrozenFilesystems } from './fs-freeze.js';
import { btrfsSubvolumeRoot, freezeMountPoints, mountOf, type MountInfo } from './mounts.js';
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

interface SnapshotAddon {
  btrfsSnapshot(source: string, destinationDir: string, name: string, readOnly: boolean): void;
  btrfsDeleteSubvolume(parentDir: string, name: string): void;
}

const isRoot = () => typeof process.geteuid === 'function' && process.geteuid() === 0;

/** Which provider serves the volume holding `path`, and the volume's root. */
export function planVolume(path: string, choice: ProviderChoice, hasSnapshotCommand: boolean): Volume {
  const mount = mountOf(path);
  let provider: ProviderName;
  if (choice === 'auto') provider = mount.fsType === 'btrfs' && isRoot() ? 'btrfs' : hasSnapshotCommand ? 'external' : 'copy';
  else provider = choice;
  if (provider === 'btrfs' && mount.fsType !== 'btrfs') {
    throw new VssError(HR.VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, { message: `${path} is on ${mount.fsType} (${mount.mountPoint}), not btrfs`, category: 'precondition' });
  }
  if (provider === 'external' && !hasSnapshotCommand) {
    throw new VssError(HR.E_INVALIDARG, { message: 'the external provider needs --snapshot-command', category: 'input' });
  }
  const root = provider === 'btrfs' ? btrfsSubvolumeRoot(path, mount.mountPoint) : mount.mountPoint;
  return { root, mount, provider };
}

export function snapshotName(snapshotSetId: string): string {
  return `.mbam-vss-snapshot-${snapshotSetId}`;
}

export async function createBtrfsSnapshots(volumes: Volume[], snapshotSetId: string): Promise<void> {
  const native = loadNative() as unknown as SnapshotAddon;
  for (const v of volumes) {
    try {
      native.btrfsSnapshot(v.root, v.root, snapshotName(snapshotSetId), true);
    } catch (e) {
      throw nativeError(e, `btrfs snapshot of ${v.root}`);
    }
    v.view = join(v.root, snapshotName(snapshotSetId));
  }
}

export function releaseBtrfsSnapshots(volumes: Volume[], snapshotSetId: string): void {
  const native = loadNative() as unknown as SnapshotAddon;
  for (const v of volumes) {
    if (v.view && fs.existsSync(v.view)) native.btrfsDeleteSubvolume(v.root, snapshotName(snapshotSetId));
  }
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
  await runBoundedCommand(o.command, snapshotCommandEnv('release', volumes, o), 60_000);
}
