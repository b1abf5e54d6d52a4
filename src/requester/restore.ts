/**
 * Restore: PreRestore → files into place → PostRestore. The set is verified first (nothing is
 * written from a set that does not verify). Files go under `--to DIR`, or back to their original
 * location only where a writer known on this machine declares that location; any path that would
 * land outside the target, and any symlink on the way, is refused.
 */
import * as fs from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { componentKey, type WriterMetadata } from '../vss/writer-metadata.js';
import { fsyncDir } from '../platform/state.js';
import { SQL_WRITER_ID } from '../mbam/writer.js';
import { insideSet, insideTarget, verifyBackupSet } from './backup-set.js';
import { carried, EVENT_HANDLER, writerFailureCode, type InProcessWriter, type WriterEventContext } from './writer.js';

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

/** Refuses when any existing component between `root` and `dest` is a symlink (or not a directory). */
function ensureDirectoryNoSymlinks(root: string, dest: string): void {
  const rel = relative(root, dirname(dest));
  let p = root;
  for (const part of rel ? rel.split(sep) : []) {
    p = join(p, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(p);
    } catch {
      fs.mkdirSync(p, { mode: 0o755 });
      continue;
    }
    if (st.isSymbolicLink() || !st.isDirectory()) {
      throw new VssError(HR.E_ACCESSDENIED, { message: `restore: ${p} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; refusing to write through it`, category: 'input' });
    }
  }
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
    let dest: string;
    if (o.to) dest = insideTarget(target, f.source);
    else {
      // In place: only where a writer known here declares the location (not the set's copy of it).
      const local = o.writers?.find((w) => w.metadata.identity.writerId === f.writerId)?.metadata ?? o.registered?.find((m) => m.identity.writerId === f.writerId);
      const roots = local ? declaredRoots(local, f.component) : [];
      const ok = roots.some((r) => f.source.startsWith(r.endsWith('/') ? r : r + '/'));
      if (!ok) {
        throw new VssError(HR.E_ACCESSDENIED, {
          message: `restore: ${f.source} is not a location that a writer on this machine declares for ${f.component}; restore it with --to DIR`,
          category: 'input',
          ...(f.writerId === SQL_WRITER_ID && !local
            ? { hint: 'Pass the topology (--topology FILE) so that the SQL Server writer restores its databases in place.' }
            : {}),
        });
      }
      insideTarget('/', f.source);
      dest = f.source;
    }
    return { f, src, dest };
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
  const event = async (name: 'PreRestore' | 'PostRestore') => {
    for (const w of involved) {
      const handler = w[EVENT_HANDLER[name].handler] as ((c: WriterEventContext) => unknown) | undefined;
      try {
        await handler?.call(w, ctxFor(w));
        o.onProgress?.({ type: 'event', event: name, writer: w.metadata.identity.friendlyName });
      } catch (e) {
        throw new VssError(writerFailureCode(e), { message: `${w.metadata.identity.friendlyName} failed at ${name} (${EVENT_HANDLER[name].failedState}): ${(e as Error).message}`, cause: e, ...carried(e) });
      }
    }
  };

  await event('PreRestore');
  const total = plan.reduce((a, x) => a + x.f.size, 0);
  let done = 0;
  for (const { f, src, dest } of plan) {
    ensureDirectoryNoSymlinks(o.to ? target : '/', dest);
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

