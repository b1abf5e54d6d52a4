/**
 * Restore: PreRestore → files into place → PostRestore. The set is verified first (nothing is
 * written from a set that does not verify). Files go under `--to DIR`, or back to their original
 * location only where a writer known on this machine declares that location; any path that would
 * land outside the target, and any symlink on the way, is refused.
 */
import * as fs from 'node:fs';
import { basename, dirname, join, normalize, relative, sep } from 'node:path';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { componentKey, type WriterMetadata } from '../vss/writer-metadata.js';
import { fsyncDir } from '../platform/state.js';
import { SQL_WRITER_ID } from '../vss/known-writers.js';
import { insideSet, insideTarget, verifyBackupSet } from './backup-set.js';
import type { InProcessWriter, WriterEventContext } from '../vss/writer-events.js';
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

/**
 * Refuses when any existing component between `root` and `dest` is a symlink (or not a
 * directory); with `create`, makes the missing ones.
 */
function ensureDirectoryNoSymlinks(root: string, dest: string, create: boolean): void {
  const rel = relative(root, dirname(dest));
  let p = root;
  for (const part of rel ? rel.split(sep) : []) {
    p = join(p, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(p);
    } catch {
      if (!create) return; // nothing below a missing directory exists yet
      fs.mkdirSync(p, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink() || !st.isDirectory()) {
      throw new VssError(HR.E_ACCESSDENIED, { message: `restore: ${p} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; refusing to write through it`, category: 'input' });
    }
  }
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

function declaredRoots(md: WriterMetadata, component: string): string[] {
  return md.components.filter((c) => componentKey(c) === component).flatMap((c) => c.files.map((f) => f.path));
}

export async function restore(o: RestoreOptions): Promise<RestoreResult> {
  const { manifest, problems } = await verifyBackupSet(o.from);
  if (problems.length) {
    throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, {
      message: `backup set ${o.from} does not verify; nothing was restored:\n` + problems.map((p) => `  ${p.problem}: ${p.path}${p.detail ? ` (${p.detail})` : ''}`).join('\n'),
      category: 'failed',
    });
  }
  if (o.to) fs.mkdirSync(o.to, { recursive: true });
  const target = o.to ? fs.realpathSync(o.to) : '/';
  const plan = manifest.files.map((f) => {
    const src = insideSet(o.from, f.path);
    if (o.to) return { f, src, dest: insideTarget(target, f.source), base: target };
    insideTarget('/', f.source); // a normalised absolute path, or refused
    // In place: only where a writer known here declares the location (not the set's copy of it).
    const local = o.writers?.find((w) => w.metadata.identity.writerId === f.writerId)?.metadata ?? o.registered?.find((m) => m.identity.writerId === f.writerId);
    const root = (local ? declaredRoots(local, f.component) : []).map((r) => normalize(r)).find((r) => f.source.startsWith(r.endsWith('/') ? r : r + '/'));
    if (!root) {
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
    const base = resolveExisting(root);
    return { f, src, dest: join(base, relative(root, f.source)), base };
  });

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
  // restored; each is checked again as it is written, in case the tree changed meanwhile.
  for (const { dest, base } of plan) if (fs.existsSync(base)) ensureDirectoryNoSymlinks(base, dest, false);
  await event('PreRestore');
  const total = plan.reduce((a, x) => a + x.f.size, 0);
  let done = 0;
  for (const { f, src, dest, base } of plan) {
    fs.mkdirSync(base, { recursive: true });
    ensureDirectoryNoSymlinks(base, dest, true);
    const tmp = `${dest}.mbam-vss-restore-${process.pid}`;
    fs.copyFileSync(src, tmp, fs.constants.COPYFILE_FICLONE);
    fs.chmodSync(tmp, f.mode & 0o7777);
    const fd = fs.openSync(tmp, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    // rename replaces a file, never follows a symlink at the destination name.
    fs.renameSync(tmp, dest);
    fsyncDir(dirname(dest));
    done += f.size;
    o.onProgress?.({ type: 'file', path: dest, doneBytes: done, totalBytes: total });
  }
  await event('PostRestore');
  return { files: plan.length, bytes: total, target: o.to ? target : '(original locations)' };
}

