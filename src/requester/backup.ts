/**
 * The POSIX requester: it runs VSS's backup sequence over the writers itself.
 *
 *   Identify → PrepareForBackup → PrepareForSnapshot → Freeze (front-end, back-end, system)
 *   → snapshot → Thaw (the reverse) → PostSnapshot → copy → BackupComplete → BackupShutdown
 *
 * with Abort after any failure before PostSnapshot (never after it), each writer's state and
 * failure code as VSS would report them, and the Freeze-to-Thaw window bounded (VSS's 60 s by
 * default): a handler that does not answer in time leaves its writer FAILED_AT_<event> with
 * VSS_E_WRITERERROR_TIMEOUT, and the backup goes on to abort and thaw.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { BackupTypeName, WriterStateName } from '../vss/enums.js';
import { VssError } from '../vss/errors.js';
import type { Guid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import { componentKey, type FileDescriptor, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import { fsyncDir } from '../platform/state.js';
import { writeSetDocuments, type ManifestFile } from './backup-set.js';
import { copyAndHash } from './copy.js';
import { withDeadline } from '../util/deadline.js';
import {
  createBtrfsSnapshots, createExternalSnapshots, planVolume, releaseBtrfsSnapshots, releaseExternalSnapshots,
  type ExternalSnapshotOptions, type ProviderChoice, type Volume,
} from './providers.js';
import type { InProcessWriter, WriterEvent } from '../vss/writer-events.js';
import { candidates, selectComponents } from './selection.js';
import { WriterSession, type Participant, type WriterOutcome } from './session.js';

export type { WriterOutcome } from './session.js';

export type ProgressEvent =
  | { type: 'event'; event: WriterEvent; writer: string; state: WriterStateName; failure?: string }
  | { type: 'snapshot'; provider: string; volume: string; blockedMs?: number }
  | { type: 'file'; path: string; bytes: number; fileBytes: number; doneBytes: number; totalBytes: number }
  | { type: 'published'; dir: string }
  | { type: 'log'; writer: string; message: string };

export interface BackupOptions {
  /** The backup set to create; it must not exist. */
  to: string;
  /** In-process writers (handlers run); registered writers contribute metadata only. */
  writers?: InProcessWriter[];
  registered?: WriterMetadata[];
  /** Writer ids (or friendly names) to back up; default: every writer given. Dependencies are pulled in. */
  select?: string[];
  provider?: ProviderChoice;
  snapshotCommand?: string;
  /** Freeze to Thaw, like CVssWriter's dwTimeoutFreeze (default 60 000 ms). */
  freezeTimeoutMs?: number;
  /** Filesystem write hold for the external provider, like the kernel's 10 s. */
  writeHoldMs?: number;
  /** Per-event timeout outside the freeze window. */
  eventTimeoutMs?: number;
  backupType?: BackupTypeName;
  /** The state directory: never frozen (the caller records the backup history there). */
  stateDir?: string;
  /** Also protected from freezing. */
  protect?: string[];
  forceFreeze?: boolean;
  onProgress?: (e: ProgressEvent) => void;
}

export interface BackupResult {
  dir: string;
  snapshotSetId: Guid;
  writers: WriterOutcome[];
  files: number;
  bytes: number;
  volumes: { root: string; provider: string }[];
  /** Blocked-writes windows of external snapshots, in ms. */
  writeHolds: number[];
}

function globRegex(spec: string): RegExp {
  // Windows' "*.*" matches names without a dot too.
  if (spec === '*.*') return /^.*$/s;
  return new RegExp('^' + spec.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$', 's');
}

/** The files a descriptor names under `root` (a snapshot view of its directory). */
function expand(viewDir: string, d: FileDescriptor): string[] {
  const re = globRegex(d.filespec);
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isFile() && re.test(e.name)) out.push(r);
      else if (e.isDirectory() && d.recursive) walk(join(dir, e.name), r);
    }
  };
  walk(viewDir, '');
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(p, ms, () => {
    throw new VssError(HR.VSS_E_WRITERERROR_TIMEOUT, { message: `${what} did not answer within ${ms} ms` });
  });
}

export async function backup(o: BackupOptions): Promise<BackupResult> {
  const snapshotSetId = randomUUID();
  const progress = o.onProgress ?? (() => {});
  const freezeTimeoutMs = o.freezeTimeoutMs ?? 60_000;
  const eventTimeoutMs = o.eventTimeoutMs ?? 5 * 60_000;
  const backupType = o.backupType ?? 'FULL';
  const target = o.to;
  if (fs.existsSync(target)) throw new VssError(HR.E_INVALIDARG, { message: `backup target ${target} already exists`, category: 'input' });
  fs.mkdirSync(dirname(target), { recursive: true });
  const staging = join(dirname(target), `.${basename(target)}.partial-${snapshotSetId}`);

  // ---- Identify, selection, dependencies: all before anything is frozen ----
  const all = candidates(o.writers, o.registered);
  for (const w of all) await w.writer?.onIdentify?.();
  const session = new WriterSession(
    selectComponents(all, o.select).map(({ writer, metadata, components }) => ({
      writer,
      metadata,
      components,
      ctx: { snapshotSetId, backupType, components, log: (message: string) => progress({ type: 'log', writer: metadata.identity.friendlyName, message }) },
    })),
    { eventTimeoutMs, onEvent: (e) => progress({ type: 'event', ...e }) },
  );
  const participants = session.participants;

  // Volumes: where every selected file descriptor's directory lives, and which provider serves it.
  const volumes: Volume[] = [];
  const descriptors: { p: Participant; c: WriterComponent; d: FileDescriptor; volume: Volume }[] = [];
  for (const p of participants) {
    for (const c of p.components) {
      for (const d of c.files) {
        if (!d.path.startsWith('/')) {
          throw new VssError(HR.VSS_E_VOLUME_NOT_SUPPORTED, { message: `component ${componentKey(c)} of ${p.metadata.identity.friendlyName}: '${d.path}' is not a POSIX path`, category: 'input' });
        }
        if (!fs.existsSync(d.path)) continue;
        const planned = planVolume(d.path, o.provider ?? 'auto', !!o.snapshotCommand);
        const v = volumes.find((x) => x.root === planned.root) ?? (volumes.push(planned), planned);
        descriptors.push({ p, c, d, volume: v });
      }
    }
  }
  for (const p of participants) {
    p.ctx.writerDir = join(staging, 'writer-files', p.metadata.identity.instanceId);
  }
  fs.mkdirSync(staging, { mode: 0o700 });

  const external: ExternalSnapshotOptions | undefined = o.snapshotCommand
    ? { command: o.snapshotCommand, snapshotSetId, exposeRoot: join(staging, '..', `.${basename(target)}.snapshots-${snapshotSetId}`), writeHoldMs: o.writeHoldMs ?? 10_000, protect: [target, dirname(target), ...(o.stateDir ? [o.stateDir] : []), ...(o.protect ?? [])], ...(o.forceFreeze ? { force: true } : {}) }
    : undefined;
  const writeHolds: number[] = [];

  let published = false;
  const files: ManifestFile[] = [];
  let totalBytes = 0;
  try {
    await session.send('PrepareForBackup');
    await session.send('PrepareForSnapshot');

    // ---- the freeze window ----
    const windowDeadline = Date.now() + freezeTimeoutMs;
    for (const p of participants) p.ctx.deadline = windowDeadline;
    let snapshotError: unknown;
    try {
      await session.send('Freeze', { targets: session.byLevel(1), deadline: windowDeadline });
      const btrfs = volumes.filter((v) => v.provider === 'btrfs');
      const ext = volumes.filter((v) => v.provider === 'external');
      if (btrfs.length) {
        await withTimeout(createBtrfsSnapshots(btrfs, snapshotSetId), windowDeadline - Date.now(), 'btrfs snapshot');
        for (const v of btrfs) progress({ type: 'snapshot', provider: 'btrfs', volume: v.root });
      }
      if (ext.length) {
        const held = await createExternalSnapshots(ext, { ...external!, writeHoldMs: Math.min(external!.writeHoldMs, Math.max(1, windowDeadline - Date.now())) });
        writeHolds.push(held);
        for (const v of ext) progress({ type: 'snapshot', provider: 'external', volume: v.root, blockedMs: held });
      }
      // The copy provider takes no snapshot: its files are copied while the writers hold still.
      for (const v of volumes.filter((x) => x.provider === 'copy')) v.view = v.root;
      const copyNow = descriptors.filter((x) => x.volume.provider === 'copy');
      if (copyNow.length) {
        await withTimeout(copyFiles(copyNow, volumes, staging, files, progress, () => totalBytes, (n) => (totalBytes += n)), windowDeadline - Date.now(), 'copy inside the freeze window');
      }
      await session.send('Thaw', { targets: session.byLevel(-1), deadline: windowDeadline });
    } catch (e) {
      snapshotError = e;
    }
    if (snapshotError) throw snapshotError;
    await session.send('PostSnapshot');

    // ---- copy from the snapshots, then the documents, then publish ----
    await copyFiles(descriptors.filter((x) => x.volume.provider !== 'copy'), volumes, staging, files, progress, () => totalBytes, (n) => (totalBytes += n));
    await writeSetDocuments(staging, {
      snapshotSetId,
      backupType,
      volumes: volumes.map((v) => ({ root: v.root, provider: v.provider, fsType: v.mount.fsType })),
      writers: participants.map((p) => ({ ...p, writerDir: p.ctx.writerDir })),
      files,
    });
    fs.renameSync(staging, target);
    fsyncDir(dirname(target));
    published = true;
    progress({ type: 'published', dir: target });
    await session.sendAll('BackupComplete'); // the set is published; each writer's state says how it took it
  } catch (e) {
    await session.abort();
    throw Object.assign(e instanceof VssError ? e : new VssError(HR.E_FAIL, { message: String((e as Error).message ?? e), cause: e }), {
      details: { writers: session.outcomes() },
    });
  } finally {
    await session.sendAll('BackupShutdown');
    const btrfs = volumes.filter((v) => v.provider === 'btrfs' && v.view);
    if (btrfs.length) releaseBtrfsSnapshots(btrfs, snapshotSetId);
    const ext = volumes.filter((v) => v.provider === 'external' && v.view);
    if (ext.length && external) await releaseExternalSnapshots(ext, external).catch(() => {});
    if (external) fs.rmSync(external.exposeRoot, { recursive: true, force: true });
    if (!published) fs.rmSync(staging, { recursive: true, force: true });
  }
  return {
    dir: target,
    snapshotSetId,
    writers: session.outcomes(),
    files: files.length,
    bytes: totalBytes,
    volumes: volumes.map((v) => ({ root: v.root, provider: v.provider })),
    writeHolds,
  };
}

async function copyFiles(
  items: { p: Participant; c: WriterComponent; d: FileDescriptor; volume: Volume }[],
  volumes: Volume[],
  staging: string,
  files: ManifestFile[],
  progress: (e: ProgressEvent) => void,
  done: () => number,
  add: (n: number) => void,
): Promise<void> {
  const plan: { item: (typeof items)[number]; view: string; stat: fs.Stats; source: string; setPath: string }[] = [];
  const seen = new Set(files.map((f) => f.source));
  for (const item of items) {
    const { d, volume } = item;
    const viewDir = join(volume.view!, relative(volume.root, d.path));
    for (const rel of expand(viewDir, d)) {
      const source = join(d.path, rel);
      if (seen.has(source)) continue;
      seen.add(source);
      const setPath = ['files', String(volumes.indexOf(volume)), ...relative(volume.root, source).split('/')].join('/');
      const view = join(viewDir, rel);
      plan.push({ item, view, stat: fs.statSync(view), source, setPath });
    }
  }
  const total = plan.reduce((a, x) => a + x.stat.size, done());
  for (const x of plan) {
    const dst = join(staging, ...x.setPath.split('/'));
    fs.mkdirSync(dirname(dst), { recursive: true, mode: 0o700 });
    let fileBytes = 0;
    const { size, sha256 } = await copyAndHash(x.view, dst, (n) => {
      fileBytes += n;
      add(n);
      progress({ type: 'file', path: x.source, bytes: n, fileBytes, doneBytes: done(), totalBytes: total });
    });
    if (size === 0) progress({ type: 'file', path: x.source, bytes: 0, fileBytes: 0, doneBytes: done(), totalBytes: total });
    files.push({ writerId: x.item.p.metadata.identity.writerId, component: componentKey(x.item.c), source: x.source, path: x.setPath, size, sha256, mode: x.stat.mode & 0o7777 });
  }
}
