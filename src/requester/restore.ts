/**
 * Restore: PreRestore → files into place → PostRestore. The set is verified first (nothing is
 * written from a set that does not verify). Files go under `--to DIR`, or back to their original
 * location only where a writer known on this machine declares that location (path, filespec,
 * recursion); any path that would land outside the target, and any symlink on the way, is refused.
 *
 * Nothing is done by path below the target: each destination directory is reached from the
 * target's descriptor one component at a time without following a link, the file is written to a
 * temp file created there O_EXCL|O_NOFOLLOW under a random name, hashed as it is copied from a set
 * file opened the same way, and renamed into place only when size and hash match the manifest. A
 * replaced file keeps a second name until the whole restore is done, so that a failure or an abort
 * part-way puts every original back (all or nothing).
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join, normalize, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { throwIfAborted, VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { componentKey, type FileDescriptor, type WriterMetadata } from '../vss/writer-metadata.js';
import { SQL_WRITER_ID } from '../vss/known-writers.js';
import { posixAddon } from '../platform/native.js';
import { describeKind, entryKind, errnoCode, openDirectory, safeFs, walkDirs, WalkError } from '../platform/safe-fs.js';
import { hashDescriptor, insideSet, insideTarget, openInSet, verifyBackupSet, type ManifestFile } from './backup-set.js';
import { failureDetails, EVENT_HANDLER, writerFailureCode, type InProcessWriter, type WriterEventContext } from '../vss/writer-events.js';
import { WriterSession } from './session.js';

export interface RestoreOptions {
  from: string;
  /** Restore under this directory (original absolute paths re-rooted here). */
  to?: string;
  /** Writers known on this machine: in-process ones get PreRestore/PostRestore. */
  writers?: InProcessWriter[];
  /** Registered writers' current metadata, for in-place restores. */
  registered?: WriterMetadata[];
  onProgress?: (e: RestoreProgressEvent) => void;
  /**
   * Stops the restore between chunks: files already replaced get their originals back, temp files
   * go, and it rejects with a VssError of category 'aborted'.
   */
  signal?: AbortSignal;
}

export type RestoreProgressEvent =
  | { type: 'file'; path: string; doneBytes: number; totalBytes: number }
  | { type: 'event'; event: string; writer: string }
  | { type: 'log'; writer: string; message: string };

export interface RestoreResult {
  files: number;
  bytes: number;
  target: string;
}

/** `path` with the links in its existing part resolved; the part that does not exist yet kept as it is. */
function resolveExisting(path: string): string {
  let existing = path;
  const rest: string[] = [];
  while (!fs.existsSync(existing)) {
    rest.unshift(basename(existing));
    const up = dirname(existing);
    if (up === existing) break;
    existing = up;
  }
  return join(fs.realpathSync(existing), ...rest);
}

/** A VSS filespec (`*`, `?`, `*.*` meaning every name) as a pattern over one name. */
function filespecRegex(spec: string): RegExp {
  if (spec === '*.*') return /^.*$/s;
  return new RegExp('^' + spec.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$', 's');
}

/** The declared directory of the descriptor that covers `source`: under its path, matching its filespec, at its depth. */
function declaringRoot(md: WriterMetadata, f: ManifestFile): string | undefined {
  const descriptors: FileDescriptor[] = md.components.filter((c) => componentKey(c) === f.component).flatMap((c) => c.files);
  for (const d of descriptors) {
    const root = normalize(d.path).replace(/(.)\/+$/, '$1');
    const rel = relative(root, f.source);
    if (!rel || rel.startsWith('..') || rel.startsWith(sep)) continue;
    if (!d.recursive && rel.includes(sep)) continue;
    if (!filespecRegex(d.filespec).test(basename(rel))) continue;
    return root;
  }
  return undefined;
}

interface PlannedFile {
  f: ManifestFile;
  /** The trusted directory: --to, or the writer's declared directory (links up to it followed). */
  base: string;
  /** Components below `base`: directories, then the file's name. */
  parts: string[];
  dest: string;
  /** Setuid/setgid/sticky and ownership come back only in place, as root, with the owner recorded. */
  owner?: { uid: number; gid: number };
  keepSpecialBits: boolean;
}

const refuse = (message: string) => new VssError(HR.E_ACCESSDENIED, { message, category: 'input' });

function walkRefusal(e: WalkError, base: string, parts: readonly string[]): VssError {
  const at = join(base, ...parts.slice(0, e.at + 1));
  return refuse(`restore: ${at} is ${e.reason === 'link' ? 'a symbolic link' : 'not a directory'}; refusing to write through it`);
}

/**
 * Checks one destination without writing: no link and nothing but directories on the way, and at
 * the end nothing, or a regular file to replace.
 */
function checkDestination(p: PlannedFile): void {
  let baseFd: number;
  try {
    baseFd = openDirectory(p.base);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return; // made at write time, with everything below it
    throw refuse(`restore: ${p.base} cannot be opened as a directory (${errnoCode(e) ?? (e as Error).message})`);
  }
  let dir: number | undefined;
  try {
    try {
      dir = walkDirs(baseFd, p.parts.slice(0, -1));
    } catch (e) {
      if (e instanceof WalkError && e.reason === 'missing') return;
      if (e instanceof WalkError) throw walkRefusal(e, p.base, p.parts);
      throw e;
    }
    const st = safeFs().statAt(dir, p.parts[p.parts.length - 1]!);
    if (st && entryKind(st.mode) !== 'file') {
      const k = entryKind(st.mode);
      throw refuse(`restore: ${p.dest} is ${describeKind(k)} where a file goes; refusing to ${k === 'link' ? 'write through or replace it' : 'replace it'}`);
    }
  } finally {
    if (dir !== undefined && dir !== baseFd) fs.closeSync(dir);
    fs.closeSync(baseFd);
  }
}

export async function restore(o: RestoreOptions): Promise<RestoreResult> {
  const { manifest, problems } = await verifyBackupSet(o.from, o.signal ? { signal: o.signal } : {});
  if (problems.length) {
    throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, {
      message: `backup set ${o.from} does not verify; nothing was restored:\n` + problems.map((p) => `  ${p.problem}: ${p.path}${p.detail ? ` (${p.detail})` : ''}`).join('\n'),
      category: 'failed',
    });
  }
  const targetExisted = o.to ? fs.existsSync(o.to) : true;
  if (o.to) fs.mkdirSync(o.to, { recursive: true });
  const target = o.to ? fs.realpathSync(o.to) : '/';
  const root = typeof process.geteuid === 'function' && process.geteuid() === 0;
  const plan = manifest.files.map((f): PlannedFile => {
    const owner = root && f.uid !== undefined && f.gid !== undefined ? { uid: f.uid, gid: f.gid } : undefined;
    if (o.to) {
      const dest = insideTarget(target, f.source);
      return { f, base: target, parts: relative(target, dest).split(sep), dest, ...(owner ? { owner } : {}), keepSpecialBits: false };
    }
    insideTarget('/', f.source); // a normalised absolute path, or refused
    // In place: only where a writer known here declares the location (not the set's copy of it).
    const local = o.writers?.find((w) => w.metadata.identity.writerId === f.writerId)?.metadata ?? o.registered?.find((m) => m.identity.writerId === f.writerId);
    const declared = local ? declaringRoot(local, f) : undefined;
    if (!declared) {
      throw new VssError(HR.E_ACCESSDENIED, {
        message: `restore: ${f.source} is not a location that a writer on this machine declares for ${f.component}; restore it with --to DIR`,
        category: 'input',
        ...(f.writerId === SQL_WRITER_ID && !local
          ? { hint: 'Pass the topology (--topology FILE) so that the SQL Server writer restores its databases in place.' }
          : {}),
      });
    }
    // The declared directory is this machine's writer's word, so links on the way to it are
    // followed (a data directory moved to another disk, /var/run); below it only the set's path
    // counts, and no link is followed.
    const base = resolveExisting(declared);
    const parts = relative(declared, f.source).split(sep);
    return { f, base, parts, dest: join(base, ...parts), ...(owner ? { owner } : {}), keepSpecialBits: !!owner };
  });

  // One file per destination, and no destination inside another's (a file where a directory goes).
  const dests = new Map<string, string>();
  for (const p of plan) {
    if (dests.has(p.dest)) throw refuse(`restore: ${p.f.source} and ${dests.get(p.dest)} both restore to ${p.dest}`);
    dests.set(p.dest, p.f.source);
  }
  for (const p of plan) {
    for (let d = dirname(p.dest); d !== dirname(d); d = dirname(d)) {
      if (dests.has(d)) throw refuse(`restore: ${d} is a file of the set and also a directory on the way to ${p.dest}`);
    }
  }

  // Writers that took part in the backup get PreRestore/PostRestore, with the components the set
  // holds for them (a component may have no files of its own, e.g. SQL's master: its certificate).
  const involved = (o.writers ?? []).filter((w) => manifest.writers.some((m) => m.writerId === w.metadata.identity.writerId));
  const ctxFor = (w: InProcessWriter): WriterEventContext => {
    const inSet = manifest.writers.find((m) => m.writerId === w.metadata.identity.writerId)!;
    return {
      snapshotSetId: manifest.snapshotSetId,
      backupType: manifest.backupType as WriterEventContext['backupType'],
      components: w.metadata.components.filter((c) => inSet.components.includes(componentKey(c))),
      writerDir: insideSet(o.from, `writer-files/${inSet.instanceId}`),
      ...(o.to ? { restoreTo: target } : {}),
      log: (message) => o.onProgress?.({ type: 'log', writer: w.metadata.identity.friendlyName, message }),
    };
  };
  const session = new WriterSession(
    involved.map((w) => {
      const ctx = ctxFor(w);
      return { writer: w, metadata: w.metadata, components: ctx.components, ctx };
    }),
    { onEvent: (e) => void (e.failure || o.onProgress?.({ type: 'event', event: e.event, writer: e.writer })) },
  );
  const event = (name: 'PreRestore' | 'PostRestore') => session.send(name);

  // Every destination is checked before anything is written, so a refusal leaves nothing half
  // restored; the writes go through descriptors, so a tree changed meanwhile is refused again.
  for (const p of plan) checkDestination(p);
  throwIfAborted(o.signal, `restore from ${o.from}`);
  await event('PreRestore');
  const total = plan.reduce((a, x) => a + x.f.size, 0);
  const journal = new Journal();
  const setFd = openDirectory(o.from);
  try {
    let done = 0;
    for (const p of plan) {
      throwIfAborted(o.signal, `restore from ${o.from}`);
      await restoreFile(p, setFd, o, journal);
      done += p.f.size;
      o.onProgress?.({ type: 'file', path: p.dest, doneBytes: done, totalBytes: total });
    }
    throwIfAborted(o.signal, `restore from ${o.from}`);
  } catch (e) {
    const err = e instanceof VssError ? e : new VssError(HR.E_FAIL, { message: `restore: ${(e as Error).message}`, cause: e, category: 'failed' });
    const left = journal.rollBack();
    if (!targetExisted && o.to) fs.rmdirSync(o.to, { maxRetries: 0 }); // made by this restore, and empty again
    throw left.length
      ? new VssError(err.hresult, {
          message: `${err.message}\nthe restore could not be undone completely; left behind:\n${left.map((l) => `  ${l}`).join('\n')}`,
          category: 'incomplete',
          cause: err,
          details: { left },
          hint: 'Put the listed files right by hand (a saved original is named next to its destination), then restore again.',
        })
      : err;
  } finally {
    fs.closeSync(setFd);
  }
  // Every file is in place: the originals' second names go.
  for (const warning of journal.commit()) o.onProgress?.({ type: 'log', writer: 'restore', message: warning });
  await event('PostRestore');
  return { files: plan.length, bytes: total, target: o.to ? target : '(original locations)' };
}

// ---------------------------------------------------------------------------------------------
// Writing, with a journal of every name made or moved, so that a failure or an abort part-way is
// undone: temp files removed, originals put back under their names, new files and directories
// removed.

interface Step {
  /**
   * `dir`: a directory the restore made (`name` in `dir`); `temp`: a temp file; `saved`: the
   * original has a second name `saved`, the new file is still at `tmp`; `replaced`: the new file is
   * in place, the original at `saved`; `created`: the new file is in place where nothing was.
   */
  kind: 'dir' | 'temp' | 'saved' | 'replaced' | 'created';
  base: string;
  dir: string[];
  name: string;
  tmp?: string;
  saved?: string;
  /** `saved` is a hard link (the original is still at `name` too), not a rename. */
  linked?: boolean;
}

class Journal {
  private steps: Step[] = [];

  add(step: Step): Step {
    this.steps.push(step);
    return step;
  }

  private withDir<T>(s: Step, fn: (dirFd: number) => T): T {
    const baseFd = openDirectory(s.base);
    try {
      const dirFd = walkDirs(baseFd, s.dir);
      try {
        const r = fn(dirFd);
        fs.fsyncSync(dirFd);
        return r;
      } finally {
        if (dirFd !== baseFd) fs.closeSync(dirFd);
      }
    } finally {
      fs.closeSync(baseFd);
    }
  }

  /** Undoes every step, newest first; returns what could not be undone, each named exactly. */
  rollBack(): string[] {
    const sf = safeFs();
    const left: string[] = [];
    const ignoreMissing = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        if (errnoCode(e) !== 'ENOENT') throw e;
      }
    };
    for (const s of this.steps.reverse()) {
      const at = (name: string) => join(s.base, ...s.dir, name);
      try {
        this.withDir(s, (d) => {
          switch (s.kind) {
            case 'dir':
              return ignoreMissing(() => sf.unlinkAt(d, s.name, true));
            case 'temp':
              return ignoreMissing(() => sf.unlinkAt(d, s.tmp!));
            case 'created':
              return sf.unlinkAt(d, s.name);
            case 'saved':
              ignoreMissing(() => sf.unlinkAt(d, s.tmp!));
              return s.linked ? sf.unlinkAt(d, s.saved!) : sf.renameAt(d, s.saved!, d, s.name);
            case 'replaced':
              return sf.renameAt(d, s.saved!, d, s.name);
          }
        });
      } catch (e) {
        const why = errnoCode(e) ?? (e as Error).message;
        if (s.kind === 'dir') left.push(`${at(s.name)}/: a directory this restore made (${why})`);
        else if (s.kind === 'temp') left.push(`${at(s.tmp!)}: a temp file (${why})`);
        else if (s.kind === 'created') left.push(`${at(s.name)}: restored where there was no file (${why})`);
        else left.push(`${at(s.name)}: ${s.kind === 'replaced' ? 'restored' : 'not restored'}; the original is ${at(s.saved!)} (${why})`);
      }
    }
    this.steps = [];
    return left;
  }

  /** Every file is in place: the originals' second names go. Returns what could not be removed. */
  commit(): string[] {
    const warnings: string[] = [];
    for (const s of this.steps) {
      if (s.kind !== 'replaced') continue;
      try {
        this.withDir(s, (d) => safeFs().unlinkAt(d, s.saved!));
      } catch (e) {
        warnings.push(`the replaced original of ${join(s.base, ...s.dir, s.name)} is left at ${join(s.base, ...s.dir, s.saved!)} (${errnoCode(e) ?? (e as Error).message})`);
      }
    }
    this.steps = [];
    return warnings;
  }
}

const randomName = (suffix: string) => `.mbam-vss-${randomBytes(8).toString('hex')}.${suffix}`;

const changedSince = (p: PlannedFile, why: string) =>
  new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, { message: `restore: ${p.f.path} of the set changed after it was verified (${why}); it was not restored`, category: 'failed' });

async function restoreFile(p: PlannedFile, setFd: number, o: RestoreOptions, journal: Journal): Promise<void> {
  const sf = safeFs();
  const what = `restore from ${o.from}`;
  fs.mkdirSync(p.base, { recursive: true });
  const dirParts = p.parts.slice(0, -1);
  const name = p.parts[p.parts.length - 1]!;
  const baseFd = openDirectory(p.base);
  let dirFd = baseFd;
  try {
    try {
      dirFd = walkDirs(baseFd, dirParts, { mode: 0o755, onCreate: (depth) => journal.add({ kind: 'dir', base: p.base, dir: dirParts.slice(0, depth), name: dirParts[depth]! }) });
    } catch (e) {
      throw e instanceof WalkError ? walkRefusal(e, p.base, p.parts) : e;
    }
    const src = openInSet(setFd, o.from, p.f.path);
    if ('problem' in src) throw changedSince(p, `${src.problem}${src.detail ? `: ${src.detail}` : ''}`);
    let step: Step;
    try {
      let tmpFd: number | undefined;
      let tmp = '';
      for (let attempt = 0; tmpFd === undefined; attempt++) {
        tmp = randomName('tmp');
        try {
          tmpFd = sf.openAt(dirFd, tmp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
        } catch (e) {
          if (errnoCode(e) !== 'EEXIST' || attempt >= 4) throw e;
        }
      }
      step = journal.add({ kind: 'temp', base: p.base, dir: dirParts, name, tmp });
      try {
        // What is hashed is what was written: a set file rewritten or swapped after verify fails here.
        const got = await copyAndHash(src.fd, tmpFd, p.f.size, o.signal, what);
        if (got.size !== p.f.size) throw changedSince(p, `${got.size} bytes, manifest says ${p.f.size}`);
        if (got.sha256 !== p.f.sha256) throw changedSince(p, 'checksum');
        // chown clears setuid/setgid, so it goes first.
        if (p.owner) fs.fchownSync(tmpFd, p.owner.uid, p.owner.gid);
        fs.fchmodSync(tmpFd, p.f.mode & (p.keepSpecialBits ? 0o7777 : 0o777));
        fs.fsyncSync(tmpFd);
      } finally {
        fs.closeSync(tmpFd);
      }
    } finally {
      fs.closeSync(src.fd);
    }
    throwIfAborted(o.signal, what);

    const existing = sf.statAt(dirFd, name);
    if (existing && entryKind(existing.mode) !== 'file') {
      throw refuse(`restore: ${p.dest} became ${describeKind(entryKind(existing.mode))} during the restore; refusing to replace it`);
    }
    if (existing) {
      // The original keeps a second name until the whole restore is done: a hard link, so that
      // the destination never goes missing; a rename where the filesystem has no hard links.
      const saved = randomName('orig');
      try {
        sf.linkAt(dirFd, name, dirFd, saved);
        Object.assign(step, { kind: 'saved', saved, linked: true });
      } catch {
        sf.renameAt(dirFd, name, dirFd, saved);
        Object.assign(step, { kind: 'saved', saved, linked: false });
      }
      // rename replaces the entry itself and never follows a link at either name.
      sf.renameAt(dirFd, step.tmp!, dirFd, name);
      step.kind = 'replaced';
    } else {
      try {
        sf.renameAt(dirFd, step.tmp!, dirFd, name, true);
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'EEXIST') throw refuse(`restore: ${p.dest} appeared during the restore; refusing to replace it`);
        if (code !== 'EINVAL' && code !== 'ENOSYS') throw e;
        sf.renameAt(dirFd, step.tmp!, dirFd, name); // no RENAME_NOREPLACE here
      }
      step.kind = 'created';
    }
    fs.fsyncSync(dirFd);
  } finally {
    if (dirFd !== baseFd) fs.closeSync(dirFd);
    fs.closeSync(baseFd);
  }
}

const read = promisify(fs.read);
const write = promisify(fs.write);
const COPY_CHUNK = 4 << 20;

/**
 * Copies `srcFd` into `dstFd` and hashes what was written, in one pass: the next chunk is read
 * while the current one is hashed and written. Where the filesystem can share extents (FICLONE),
 * the data is cloned and the clone read back to hash. Checks for an abort between chunks.
 */
async function copyAndHash(srcFd: number, dstFd: number, expectedSize: number, signal: AbortSignal | undefined, what: string): Promise<{ size: number; sha256: string }> {
  const native = posixAddon();
  let cloned = false;
  try {
    cloned = expectedSize > 0 && native.reflink(srcFd, dstFd);
  } catch {
    cloned = false; // not the same filesystem, or no FICLONE: copy
  }
  if (cloned) return hashDescriptor(dstFd, expectedSize, signal, what);
  const size = Math.max(1, Math.min(COPY_CHUNK, expectedSize + 1));
  const bufs = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  const h = createHash('sha256');
  let pos = 0;
  let i = 0;
  let next = read(srcFd, bufs[0]!, 0, size, 0);
  try {
    for (;;) {
      throwIfAborted(signal, what);
      const { bytesRead } = await next;
      if (bytesRead === 0) break;
      const cur = bufs[i % 2]!;
      i++;
      next = read(srcFd, bufs[i % 2]!, 0, size, pos + bytesRead);
      h.update(cur.subarray(0, bytesRead));
      for (let off = 0; off < bytesRead; ) off += (await write(dstFd, cur, off, bytesRead - off, pos + off)).bytesWritten;
      pos += bytesRead;
    }
  } catch (e) {
    // The caller closes the descriptors: no read may still be using one.
    await next.catch(() => undefined);
    throw e;
  }
  return { size: pos, sha256: h.digest('hex') };
}
