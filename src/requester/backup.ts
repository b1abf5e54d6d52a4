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
 *
 * Selection is in selection.ts, event delivery in session.ts, the set's documents in
 * backup-set.ts. Here: volumes, snapshots, the copy, and the rules that keep a failure honest: a
 * component with no files in the set fails the backup, snapshots are released before the set is
 * published (a failed release fails it), every cleanup step runs and reports, and an abort (the
 * caller's signal, a deadline) stops the work that follows instead of racing it.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { BackupTypeName, WriterStateName } from '../vss/enums.js';
import { abortError, VssError } from '../vss/errors.js';
import type { Guid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import { componentKey, type FileDescriptor, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import { fsyncDir } from '../platform/state.js';
import { writeSetDocuments, type ManifestFile } from './backup-set.js';
import { copyAndHash } from './copy.js';
import {
  createBtrfsSnapshots, createExternalSnapshots, planVolume, releaseBtrfsSnapshot, releaseExternalSnapshots, removeExposeRoot, removeStaleBtrfsSnapshots,
  type ExternalSnapshotOptions, type ProviderChoice, type Volume,
} from './providers.js';
import { CleanupStack, describeFailures, type CleanupFailure } from './cleanup.js';
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
  /**
   * Stops the backup: no further event starts, the copy stops within one buffer, writers get Abort
   * (before PostSnapshot) and BackupShutdown, snapshots are released and the partial set removed;
   * then it rejects with an E_ABORT VssError of category 'aborted' (or the signal's VssError reason).
   */
  signal?: AbortSignal;
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

/** An AbortSignal that aborts at `deadline` with `error()`; `clear` stops its timer. */
function deadlineSignal(deadline: number, error: () => VssError): { signal: AbortSignal; clear(): void } {
  const c = new AbortController();
  const timer = setTimeout(() => c.abort(error()), Math.max(0, deadline - Date.now()));
  return { signal: c.signal, clear: () => clearTimeout(timer) };
}

export async function backup(o: BackupOptions): Promise<BackupResult> {
  const snapshotSetId = randomUUID();
  const progress = o.onProgress ?? (() => {});
  const freezeTimeoutMs = o.freezeTimeoutMs ?? 60_000;
  const eventTimeoutMs = o.eventTimeoutMs ?? 5 * 60_000;
  const backupType = o.backupType ?? 'FULL';
  const target = o.to;
  if (o.signal?.aborted) throw abortError(o.signal, 'the backup');
  if (fs.existsSync(target)) throw new VssError(HR.E_INVALIDARG, { message: `backup target ${target} already exists`, category: 'input' });
  fs.mkdirSync(dirname(target), { recursive: true });
  const staging = join(dirname(target), `.${basename(target)}.partial-${snapshotSetId}`);

  // One signal for the whole run: the caller's abort, as an E_ABORT VssError.
  const run = new AbortController();
  const onCallerAbort = () => run.abort(abortError(o.signal!, 'the backup'));
  o.signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    return await backupRun(o, { snapshotSetId, progress, freezeTimeoutMs, eventTimeoutMs, backupType, target, staging, signal: run.signal });
  } finally {
    o.signal?.removeEventListener('abort', onCallerAbort);
  }
}

interface RunContext {
  snapshotSetId: Guid;
  progress: (e: ProgressEvent) => void;
  freezeTimeoutMs: number;
  eventTimeoutMs: number;
  backupType: BackupTypeName;
  target: string;
  staging: string;
  signal: AbortSignal;
}

async function backupRun(o: BackupOptions, r: RunContext): Promise<BackupResult> {
  const { snapshotSetId, progress, backupType, target, staging, signal } = r;

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
    { eventTimeoutMs: r.eventTimeoutMs, signal, onEvent: (e) => progress({ type: 'event', ...e }) },
  );
  const participants = session.participants;

  // Volumes: where every selected file descriptor's directory lives, and which provider serves it.
  const volumes: Volume[] = [];
  const descriptors: CopyItem[] = [];
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
  // Snapshots a killed backup left in these subvolumes would stay forever (and be copied by
  // nobody); their owner is gone, so they go now.
  const btrfsVolumes = volumes.filter((v) => v.provider === 'btrfs');
  if (btrfsVolumes.length) for (const path of removeStaleBtrfsSnapshots(btrfsVolumes)) progress({ type: 'log', writer: 'mbam-vss', message: `removed ${path}, the snapshot of a backup that was killed` });
  for (const p of participants) {
    p.ctx.writerDir = join(staging, 'writer-files', p.metadata.identity.instanceId);
  }
  fs.mkdirSync(staging, { mode: 0o700 });

  const external: ExternalSnapshotOptions | undefined = o.snapshotCommand
    ? { command: o.snapshotCommand, snapshotSetId, exposeRoot: join(staging, '..', `.${basename(target)}.snapshots-${snapshotSetId}`), writeHoldMs: o.writeHoldMs ?? 10_000, protect: [target, dirname(target), ...(o.stateDir ? [o.stateDir] : []), ...(o.protect ?? [])], ...(o.forceFreeze ? { force: true } : {}) }
    : undefined;
  const writeHolds: number[] = [];
  const cleanup = new CleanupStack();

  let published = false;
  let failure: unknown;
  const files: ManifestFile[] = [];
  const copy = new Copier(volumes, staging, dirname(target), files, progress);
  try {
    await session.send('PrepareForBackup');
    await session.send('PrepareForSnapshot');

    // ---- the freeze window ----
    const windowDeadline = Date.now() + r.freezeTimeoutMs;
    for (const p of participants) p.ctx.deadline = windowDeadline;
    await session.send('Freeze', { targets: session.byLevel(1), deadline: windowDeadline });
    const btrfs = volumes.filter((v) => v.provider === 'btrfs');
    const ext = volumes.filter((v) => v.provider === 'external');
    if (btrfs.length) {
      for (const v of btrfs) cleanup.push(`the btrfs snapshot of ${v.root}`, () => releaseBtrfsSnapshot(v));
      await createBtrfsSnapshots(btrfs, snapshotSetId);
      for (const v of btrfs) progress({ type: 'snapshot', provider: 'btrfs', volume: v.root });
    }
    if (ext.length) {
      cleanup.push(`the snapshot directory ${external!.exposeRoot}`, () => removeExposeRoot(external!.exposeRoot));
      const held = await createExternalSnapshots(ext, { ...external!, writeHoldMs: Math.min(external!.writeHoldMs, Math.max(1, windowDeadline - Date.now())) });
      // The release runs for what the command reported made. After a failed create nothing is
      // released, but a snapshot it left mounted keeps its directory, and that is reported.
      cleanup.push(`the external snapshot of ${ext.map((v) => v.mount.mountPoint).join(', ')} (release command)`, () => releaseExternalSnapshots(ext, external!));
      writeHolds.push(held);
      for (const v of ext) progress({ type: 'snapshot', provider: 'external', volume: v.root, blockedMs: held });
    }
    // The copy provider takes no snapshot: its files are copied while the writers hold still.
    for (const v of volumes.filter((x) => x.provider === 'copy')) v.view = v.root;
    const copyNow = descriptors.filter((x) => x.volume.provider === 'copy');
    if (copyNow.length) {
      const window = deadlineSignal(windowDeadline, () => new VssError(HR.VSS_E_WRITERERROR_TIMEOUT, { message: `the copy inside the freeze window did not finish within ${r.freezeTimeoutMs} ms` }));
      try {
        await copy.run(copyNow, AbortSignal.any([signal, window.signal]));
      } finally {
        window.clear();
      }
    }
    await session.send('Thaw', { targets: session.byLevel(-1), deadline: windowDeadline });
    await session.send('PostSnapshot');

    // ---- copy from the snapshots, release them, then the documents, then publish ----
    await copy.run(descriptors.filter((x) => x.volume.provider !== 'copy'), signal);
    copy.requireFiles(participants);
    const leaks = await cleanup.run();
    if (leaks.length) throw leakError(leaks, 'the files were copied, but the set was not published because a snapshot could not be released');
    if (signal.aborted) throw abortError(signal, 'the backup');
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
    failure = e;
    await session.abort();
  }
  await session.sendAll('BackupShutdown');
  const leaks = await cleanup.run();
  if (!published) {
    fs.rmSync(staging, { recursive: true, force: true });
    // A handler that missed its deadline may still write into its writer directory, bringing the
    // partial set back: it goes again once that handler returns.
    session.afterAbandoned(() => fs.rmSync(staging, { recursive: true, force: true }));
  }
  if (failure !== undefined || leaks.length) {
    let err = failure === undefined ? leakError(leaks, 'the set was published, but a snapshot could not be released')
      : failure instanceof VssError ? failure : new VssError(HR.E_FAIL, { message: String((failure as Error)?.message ?? failure), cause: failure });
    if (failure !== undefined && leaks.length) {
      // The original error stays the cause; what was left behind is added, and an operator must look.
      err = new VssError(err.hresult, {
        message: `${err.message}; cleaning up also failed, left behind: ${describeFailures(leaks)}`,
        cause: err,
        category: err.category === 'aborted' ? 'aborted' : 'incomplete',
        hint: 'Release what is listed by hand (mbam-vss status lists leftover snapshots).',
        details: { ...(isRecord(err.details) ? err.details : {}), leaked: leaks.map((l) => ({ what: l.what, error: l.error.message })) },
      });
    }
    err.details = { ...(isRecord(err.details) ? err.details : {}), writers: session.outcomes() };
    throw err;
  }
  return {
    dir: target,
    snapshotSetId,
    writers: session.outcomes(),
    files: files.length,
    bytes: copy.bytes,
    volumes: volumes.map((v) => ({ root: v.root, provider: v.provider })),
    writeHolds,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function leakError(leaks: CleanupFailure[], what: string): VssError {
  const first = leaks[0]!.error;
  return new VssError(first instanceof VssError ? first.hresult : HR.VSS_E_UNEXPECTED_PROVIDER_ERROR, {
    message: `${what}: ${describeFailures(leaks)}`,
    category: 'incomplete',
    hint: (first instanceof VssError && first.hint) || 'Release the snapshot by hand (mbam-vss status lists leftover snapshots), then back up again.',
    details: { leaked: leaks.map((l) => ({ what: l.what, error: l.error.message })) },
    cause: first,
  });
}

interface CopyItem {
  p: Participant;
  c: WriterComponent;
  d: FileDescriptor;
  volume: Volume;
}

/** Copies descriptors' files from their volumes' views into the set, accumulating the manifest's files. */
class Copier {
  bytes = 0;
  private readonly seen = new Set<string>();
  /** Components (writer id + key) some file matched, even one another component already copied. */
  private readonly matched = new Set<string>();

  constructor(
    private readonly volumes: Volume[],
    private readonly staging: string,
    private readonly targetDir: string,
    private readonly files: ManifestFile[],
    private readonly progress: (e: ProgressEvent) => void,
  ) {}

  async run(items: CopyItem[], signal: AbortSignal): Promise<void> {
    const plan: { item: CopyItem; view: string; stat: fs.Stats; source: string; setPath: string }[] = [];
    for (const item of items) {
      const { d, volume } = item;
      const viewDir = join(volume.view!, relative(volume.root, d.path));
      for (const rel of expand(viewDir, d)) {
        this.matched.add(`${item.p.metadata.identity.writerId}|${componentKey(item.c)}`);
        const source = join(d.path, rel);
        if (this.seen.has(source)) continue;
        this.seen.add(source);
        const setPath = ['files', String(this.volumes.indexOf(volume)), ...relative(volume.root, source).split('/')].join('/');
        const view = join(viewDir, rel);
        plan.push({ item, view, stat: fs.statSync(view), source, setPath });
      }
    }
    const total = plan.reduce((a, x) => a + x.stat.size, this.bytes);
    for (const x of plan) {
      if (signal.aborted) throw abortError(signal, 'the copy');
      const dst = join(this.staging, ...x.setPath.split('/'));
      let result: { size: number; sha256: string };
      try {
        fs.mkdirSync(dirname(dst), { recursive: true, mode: 0o700 });
        let fileBytes = 0;
        result = await copyAndHash(x.view, dst, (n) => {
          fileBytes += n;
          this.bytes += n;
          this.progress({ type: 'file', path: x.source, bytes: n, fileBytes, doneBytes: this.bytes, totalBytes: total });
        }, signal);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOSPC' || code === 'EDQUOT') {
          throw new VssError(HR.E_FAIL, {
            message: `no space left for the backup set in ${this.targetDir} (${code}) while copying ${x.source}; the partial set is removed`,
            hint: 'Free space on the target filesystem, or back up to a larger one.',
            cause: e,
          });
        }
        throw e;
      }
      if (result.size === 0) this.progress({ type: 'file', path: x.source, bytes: 0, fileBytes: 0, doneBytes: this.bytes, totalBytes: total });
      this.files.push({ writerId: x.item.p.metadata.identity.writerId, component: componentKey(x.item.c), source: x.source, path: x.setPath, size: result.size, sha256: result.sha256, mode: x.stat.mode & 0o7777, uid: x.stat.uid, gid: x.stat.gid });
    }
  }

  /**
   * Every selected component that declares files must have some in the set: zero files means the
   * snapshot exposed nothing (a snapshot command that did not mount it) or the declared files are
   * not there, and must not look like a successful backup.
   */
  requireFiles(participants: Participant[]): void {
    for (const p of participants) {
      for (const c of p.components) {
        if (!c.files.length) continue; // a component without files of its own (SQL's master: its certificate)
        const key = componentKey(c);
        if (this.matched.has(`${p.metadata.identity.writerId}|${key}`)) continue;
        const where = c.files.map((d) => `${d.path}/${d.filespec}${d.recursive ? ' (recursive)' : ''}`).join(', ');
        const external = this.volumes.some((v) => v.provider === 'external');
        throw new VssError(HR.VSS_E_OBJECT_NOT_FOUND, {
          message: `component ${key} of ${p.metadata.identity.friendlyName}: no file in the ${external ? 'snapshot' : 'backup'} matches ${where}; nothing was published`,
          hint: external
            ? 'The snapshot command must expose the snapshot of each frozen mount i at $MBAM_VSS_SNAPSHOT_ROOT/i (e.g. mount it there) when MBAM_VSS_SNAPSHOT_ACTION=create.'
            : 'Check the writer registration (mbam-vss metadata) against the files on this machine.',
        });
      }
    }
  }
}
