/**
 * Descriptor-relative file access that never follows a symbolic link (native/src/posix/safe_fs.cc).
 *
 * A path checked and then used again is re-resolved by the kernel each time, and whoever can write
 * a directory on the way can swap a component for a link in between. Walking from a directory
 * descriptor one component at a time with O_NOFOLLOW, and creating, renaming and removing names
 * relative to the descriptor that was checked, leaves no such window. Data is read and written
 * with node:fs on the descriptors returned here.
 */
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { posixAddon } from './native.js';

export type { EntryStat, SafeFsExports as SafeFs } from './native.js';
import type { SafeFsExports as SafeFs } from './native.js';

let cached: SafeFs | undefined;

export function safeFs(): SafeFs {
  if (cached) return cached;
  const native = posixAddon();
  if (typeof (native as Partial<SafeFs>).openAt !== 'function') {
    throw new VssError(HR.E_NOTIMPL, { message: 'this mbam-vss native binary has no descriptor-relative file access (openAt); restore and verify need it', category: 'precondition', hint: 'Rebuild the native addon (`npm run build:native`).' });
  }
  return (cached = native as SafeFs);
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/**
 * The errno name of a native or node:fs error ("ELOOP"), whichever table named it; for a native
 * error the typed addon wrapped into a VssError, that of its cause.
 */
export function errnoCode(e: unknown): string | undefined {
  if (e instanceof VssError) return e.cause === undefined ? undefined : errnoCode(e.cause);
  const err = e as { code?: unknown; errno?: unknown };
  if (typeof err?.code === 'string' && !/^E\d+$/.test(err.code)) return err.code;
  const n = typeof err?.errno === 'number' ? Math.abs(err.errno) : undefined;
  return n === undefined ? undefined : ERRNO_NAMES.get(n);
}

export type EntryKind = 'file' | 'dir' | 'link' | 'other';

export function entryKind(mode: number): EntryKind {
  const t = mode & fs.constants.S_IFMT;
  return t === fs.constants.S_IFREG ? 'file' : t === fs.constants.S_IFDIR ? 'dir' : t === fs.constants.S_IFLNK ? 'link' : 'other';
}

export const describeKind = (k: EntryKind): string => ({ file: 'a regular file', dir: 'a directory', link: 'a symbolic link', other: 'not a regular file' })[k];

const O_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;

/** A trusted directory (one the operator named), links on the way to it followed. */
export function openDirectory(path: string): number {
  return fs.openSync(path, O_DIR);
}

/** Why a walk below a trusted directory stopped. */
export class WalkError extends Error {
  constructor(
    /** Index of the component that failed. */
    readonly at: number,
    readonly reason: 'missing' | 'link' | 'not-a-directory',
    cause?: unknown,
  ) {
    super(reason, { cause });
  }
}

/**
 * Opens `parts` below `fd` as directories, one component at a time, none through a link. With
 * `create`, missing ones are made (`onCreate` hears each, to undo it). The caller closes the
 * result; `fd` itself stays open.
 */
export function walkDirs(fd: number, parts: readonly string[], create?: { mode: number; onCreate: (depth: number) => void }): number {
  const sf = safeFs();
  let cur = fd;
  try {
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i]!;
      let next: number | undefined;
      for (let attempt = 0; next === undefined; attempt++) {
        try {
          next = sf.openAt(cur, name, O_DIR);
        } catch (e) {
          const code = errnoCode(e);
          if (code === 'ENOENT' && create && attempt < 2) {
            try {
              sf.mkdirAt(cur, name, create.mode);
              create.onCreate(i);
            } catch (m) {
              if (errnoCode(m) !== 'EEXIST') throw m; // made meanwhile: open it like any other
            }
            continue;
          }
          if (code === 'ENOENT') throw new WalkError(i, 'missing', e);
          if (code === 'ELOOP' || code === 'ENOTDIR') {
            const st = sf.statAt(cur, name);
            throw new WalkError(i, st && entryKind(st.mode) === 'link' ? 'link' : 'not-a-directory', e);
          }
          throw e;
        }
      }
      if (cur !== fd) fs.closeSync(cur);
      cur = next;
    }
    return cur;
  } catch (e) {
    if (cur !== fd) fs.closeSync(cur);
    throw e;
  }
}

/**
 * Opens a regular file below `fd` for reading, through no link: the entry is checked before it is
 * opened (so a FIFO or device is never opened at all) and again on the descriptor (in case it was
 * swapped in between). Returns the descriptor and its size, or why it is not a readable file.
 */
export function openRegularFile(fd: number, parts: readonly string[]): { fd: number; size: number } | { missing: true } | { notRegular: string } {
  const sf = safeFs();
  let dir: number;
  try {
    dir = walkDirs(fd, parts.slice(0, -1));
  } catch (e) {
    if (!(e instanceof WalkError)) throw e;
    const where = parts.slice(0, e.at + 1).join('/');
    if (e.reason === 'missing') return { missing: true };
    return { notRegular: `${where} is ${e.reason === 'link' ? 'a symbolic link' : 'not a directory'}` };
  }
  try {
    const name = parts[parts.length - 1]!;
    const st = sf.statAt(dir, name);
    if (!st) return { missing: true };
    if (entryKind(st.mode) !== 'file') return { notRegular: describeKind(entryKind(st.mode)) };
    let file: number;
    try {
      // O_NONBLOCK: should a FIFO be swapped in after the check, open does not wait for a writer.
      file = sf.openAt(dir, name, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT') return { missing: true };
      if (code === 'ELOOP') return { notRegular: 'a symbolic link' };
      throw e;
    }
    const now = fs.fstatSync(file);
    if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) {
      fs.closeSync(file);
      return { notRegular: 'replaced while it was opened' };
    }
    return { fd: file, size: now.size };
  } finally {
    if (dir !== fd) fs.closeSync(dir);
  }
}
