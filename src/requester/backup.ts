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
import { hostname } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { WriterState, type BackupTypeName, type WriterStateName } from '../vss/enums.js';
import { VssError } from '../vss/errors.js';
import { isGuid, parseGuid, type Guid } from '../vss/guid.js';
import { HR, hresultInfo } from '../vss/hresult.js';
import { writeBackupComponents } from '../vss/backup-components.js';
import { componentKey, writeWriterMetadata, type FileDescriptor, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import { fsyncDir } from '../platform/state.js';
import { SQL_WRITER_ID } from '../vss/known-writers.js';
import { TOOL_VERSION } from '../version.js';
import { MANIFEST, MANIFEST_FORMAT, sha256File, type Manifest, type ManifestFile } from './backup-set.js';
import { copyAndHash } from './copy.js';
import { withDeadline } from '../util/deadline.js';
import {
  createBtrfsSnapshots, createExternalSnapshots, planVolume, releaseBtrfsSnapshots, releaseExternalSnapshots,
  type ExternalSnapshotOptions, type ProviderChoice, type Volume,
} from './providers.js';
import { failureDetails, EVENT_HANDLER, writerFailureCode, type InProcessWriter, type WriterEvent, type WriterEventContext } from '../vss/writer-events.js';

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

export interface WriterOutcome {
  writerId: Guid;
  instanceId: Guid;
  name: string;
  state: WriterStateName;
  lastError: number;
  /** Component keys (`logicalPath\\name`) of this writer that took part. */
  components: string[];
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

interface Participant {
  writer: InProcessWriter | undefined;
  metadata: WriterMetadata;
  components: WriterComponent[];
  state: WriterStateName;
  lastError: number;
  ctx: WriterEventContext;
}

const LEVEL_ORDER = { FRONT_END: 0, BACK_END: 1, SYSTEM: 2 } as const;

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
  const all: { writer?: InProcessWriter; metadata: WriterMetadata }[] = [
    ...(o.writers ?? []).map((w) => ({ writer: w, metadata: w.metadata })),
    ...(o.registered ?? []).filter((m) => !(o.writers ?? []).some((w) => w.metadata.identity.writerId === m.identity.writerId)).map((m) => ({ metadata: m })),
  ];
  for (const w of all) await w.writer?.onIdentify?.();
  const find = (sel: string) =>
    all.find((w) => (isGuid(sel) ? w.metadata.identity.writerId === parseGuid(sel) : w.metadata.identity.friendlyName.toLowerCase() === sel.toLowerCase()));
  const chosen = new Map<string, { entry: (typeof all)[number]; components: Map<string, WriterComponent> }>();
  const include = (entry: (typeof all)[number], c: WriterComponent, chain: string[]) => {
    const key = componentKey(c);
    let slot = chosen.get(entry.metadata.identity.writerId);
    if (!slot) chosen.set(entry.metadata.identity.writerId, (slot = { entry, components: new Map() }));
    if (slot.components.has(key)) return;
    slot.components.set(key, c);
    for (const d of c.dependencies) {
      const onWriter = all.find((w) => w.metadata.identity.writerId === parseGuid(d.writerId));
      const onComponent = onWriter?.metadata.components.find((x) => x.componentName === d.componentName && (x.logicalPath ?? '') === (d.logicalPath ?? ''));
      if (!onWriter || !onComponent) {
        throw new VssError(HR.VSS_E_OBJECT_NOT_FOUND, {
          message: `component ${[...chain, key].join(' → ')} depends on writer {${d.writerId}} component ${componentKey(d)}, which ${onWriter ? 'that writer does not have' : 'no writer here provides'}`,
          category: 'precondition',
          hint: onWriter ? undefined : d.writerId === SQL_WRITER_ID
            ? 'Give the backup the topology (--topology FILE) so that the SQL Server writer (T-SQL snapshot backup) takes part.'
            : undefined,
        });
      }
      include(onWriter, onComponent, [...chain, key]);
    }
  };
  const selected = o.select?.length ? o.select.map((s) => {
    const w = find(s);
    if (!w) throw new VssError(HR.VSS_E_OBJECT_NOT_FOUND, { message: `no writer matches '${s}' (known: ${all.map((x) => x.metadata.identity.friendlyName).join(', ') || 'none'})`, category: 'input' });
    return w;
  }) : all;
  for (const w of selected) for (const c of w.metadata.components.filter((x) => x.selectable || o.select?.length)) include(w, c, []);
  if (chosen.size === 0) throw new VssError(HR.E_INVALIDARG, { message: 'nothing to back up: no writer with components was selected', category: 'input' });

  const participants: Participant[] = [...chosen.values()].map(({ entry, components }) => ({
    writer: entry.writer,
    metadata: entry.metadata,
    components: [...components.values()],
    state: 'STABLE',
    lastError: 0,
    ctx: { snapshotSetId, backupType, components: [...components.values()], log: (message: string) => progress({ type: 'log', writer: entry.metadata.identity.friendlyName, message }) },
  }));

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

  const send = async (event: WriterEvent, targets: Participant[], deadline?: number) => {
    const spec = EVENT_HANDLER[event];
    for (const p of targets) {
      const handler = p.writer?.[spec.handler] as ((ctx: WriterEventContext) => unknown) | undefined;
      const name = p.metadata.identity.friendlyName;
      try {
        if (handler) {
          const remaining = deadline !== undefined ? deadline - Date.now() : eventTimeoutMs;
          await withTimeout(Promise.resolve().then(() => handler.call(p.writer, p.ctx)), remaining, `${name} ${event}`);
        }
        if (spec.doneState) p.state = spec.doneState;
        progress({ type: 'event', event, writer: name, state: p.state });
      } catch (e) {
        if (event === 'Abort') continue; // VSS has no state for a failed abort
        p.state = spec.failedState;
        p.lastError = writerFailureCode(e);
        progress({ type: 'event', event, writer: name, state: p.state, failure: hresultInfo(p.lastError).name });
        throw new VssError(p.lastError, { message: `${name} failed at ${event}: ${(e as Error).message ?? e}`, cause: e, ...failureDetails(e) });
      }
    }
  };
  /** Delivers to every writer even when one fails (Abort, BackupShutdown). */
  const sendAll = async (event: WriterEvent, targets: Participant[]) => {
    for (const p of targets) await send(event, [p]).catch(() => {});
  };
  const byLevel = (dir: 1 | -1) => [...participants].sort((a, b) => dir * (LEVEL_ORDER[a.writer?.applicationLevel ?? 'FRONT_END'] - LEVEL_ORDER[b.writer?.applicationLevel ?? 'FRONT_END']));

  let postSnapshotSent = false;
  let published = false;
  const files: ManifestFile[] = [];
  let totalBytes = 0;
  try {
    await send('PrepareForBackup', participants);
    await send('PrepareForSnapshot', participants);

    // ---- the freeze window ----
    const windowDeadline = Date.now() + freezeTimeoutMs;
    for (const p of participants) p.ctx.deadline = windowDeadline;
    let snapshotError: unknown;
    try {
      await send('Freeze', byLevel(1), windowDeadline);
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
      await send('Thaw', byLevel(-1), windowDeadline);
    } catch (e) {
      snapshotError = e;
    }
    if (snapshotError) throw snapshotError;
    // VSS never sends Abort once PostSnapshot has been delivered, even if it fails there.
    postSnapshotSent = true;
    await send('PostSnapshot', participants);

    // ---- copy from the snapshots, then the documents, then publish ----
    await copyFiles(descriptors.filter((x) => x.volume.provider !== 'copy'), volumes, staging, files, progress, () => totalBytes, (n) => (totalBytes += n));
    await writeDocuments(staging, participants, volumes, files, snapshotSetId, backupType);
    fs.renameSync(staging, target);
    fsyncDir(dirname(target));
    published = true;
    progress({ type: 'published', dir: target });
    await sendAll('BackupComplete', participants); // the set is published; each writer's state says how it took it
  } catch (e) {
    if (!postSnapshotSent) {
      // Abort after any failure before PostSnapshot (never after it); writers that did not fail
      // return to Stable, the one that failed keeps its FAILED_AT_ state and code.
      await sendAll('Abort', participants);
      for (const p of participants) if (!p.lastError) p.state = 'STABLE';
    }
    throw Object.assign(e instanceof VssError ? e : new VssError(HR.E_FAIL, { message: String((e as Error).message ?? e), cause: e }), {
      details: { writers: outcomes(participants) },
    });
  } finally {
    await sendAll('BackupShutdown', participants);
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
    writers: outcomes(participants),
    files: files.length,
    bytes: totalBytes,
    volumes: volumes.map((v) => ({ root: v.root, provider: v.provider })),
    writeHolds,
  };
}

function outcomes(ps: Participant[]): WriterOutcome[] {
  return ps.map((p) => ({ writerId: p.metadata.identity.writerId, instanceId: p.metadata.identity.instanceId, name: p.metadata.identity.friendlyName, state: p.state, lastError: p.lastError, components: p.components.map(componentKey) }));
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

async function writeDocuments(staging: string, participants: Participant[], volumes: Volume[], files: ManifestFile[], snapshotSetId: Guid, backupType: BackupTypeName): Promise<Manifest> {
  fs.mkdirSync(join(staging, 'writers'), { mode: 0o700 });
  const extras: Manifest['extras'] = [];
  for (const p of participants) {
    const dir = p.ctx.writerDir!;
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (!fs.lstatSync(full).isFile()) continue;
      extras.push({ writerId: p.metadata.identity.writerId, path: `writer-files/${p.metadata.identity.instanceId}/${name}`, size: fs.statSync(full).size, sha256: await sha256File(full) });
    }
  }
  const bcd = 'BCDocument.xml';
  fs.writeFileSync(
    join(staging, bcd),
    writeBackupComponents({
      version: '1.2',
      backupType,
      snapshotSetId,
      selectComponents: true,
      bootableSystemStateBackup: false,
      partialFileSupport: false,
      writers: participants.map((p) => ({
        instanceId: p.metadata.identity.instanceId,
        writerId: p.metadata.identity.writerId,
        ...(p.metadata.identity.instanceName ? { instanceName: p.metadata.identity.instanceName } : {}),
        backupSchema: p.metadata.backupSchema ?? 0,
        components: p.components.map((c) => ({ ...(c.logicalPath ? { logicalPath: c.logicalPath } : {}), componentName: c.componentName, componentType: c.type })),
      })),
    }),
    { mode: 0o600 },
  );
  const writers = participants.map((p) => {
    const file = `writers/${p.metadata.identity.instanceId}.xml`;
    fs.writeFileSync(join(staging, ...file.split('/')), writeWriterMetadata(p.metadata), { mode: 0o600 });
    return { writerId: p.metadata.identity.writerId, instanceId: p.metadata.identity.instanceId, name: p.metadata.identity.friendlyName, metadataFile: file, components: p.components.map(componentKey), state: WriterState.display(p.state), lastError: p.lastError };
  });
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    tool: `mbam-vss ${TOOL_VERSION}`,
    host: hostname(),
    createdAt: new Date().toISOString(),
    snapshotSetId,
    backupType,
    volumes: volumes.map((v) => ({ root: v.root, provider: v.provider, fsType: v.mount.fsType })),
    writers,
    files,
    extras,
    backupComponentsDocument: bcd,
  };
  const m = join(staging, MANIFEST);
  fs.writeFileSync(m, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  const fd = fs.openSync(m, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fsyncDir(staging);
  return manifest;
}
