/**
 * The state directory and the primitives that keep it crash-safe: private directories, atomic file
 * replacement (temp file, fsync, rename, fsync of the directory), synced appends, and one lock per
 * state directory that serialises installers, across processes and within one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { posixAddon } from './native.js';

/** The system-wide state directory on POSIX (root's default). */
export const SYSTEM_STATE_DIR = '/var/lib/mbam-vss';

export function defaultStateDir(): string {
  if (process.platform === 'win32') return join(process.env['ProgramData'] ?? 'C:\\ProgramData', 'mbam-vss');
  if (typeof process.geteuid === 'function' && process.geteuid() === 0) return SYSTEM_STATE_DIR;
  return join(process.env['XDG_STATE_HOME'] || join(homedir(), '.local', 'state'), 'mbam-vss');
}

/** `--state-dir`, else MBAM_VSS_STATE_DIR, else the default for this user. */
export function resolveStateDir(explicit?: string): string {
  return explicit || process.env['MBAM_VSS_STATE_DIR'] || defaultStateDir();
}

/**
 * Creates the directory (and parents) with mode 0700, and tightens it if it already exists. A
 * directory this user cannot write, or that another user owns, is refused (exit 3, naming the
 * privilege): another user who owns the directory that holds the journal could make root's next
 * run "roll back" whatever they wrote into it.
 */
export function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw stateAccessError(e, dir, 'create');
  }
  if (process.platform === 'win32') return;
  const st = fs.statSync(dir);
  if (!st.isDirectory()) throw stateAccessError(Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }), dir, 'use');
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : st.uid;
  if (st.uid !== euid) {
    throw new VssError(HR.E_ACCESSDENIED, {
      message:
        st.uid === 0
          ? `this operation needs root: the state directory ${dir} is owned by root, not by this user (uid ${euid})`
          : `the state directory ${dir} is owned by uid ${st.uid}, not by this user (uid ${euid}): mbam-vss keeps its registry and journal only in a directory no other user can change`,
      category: 'precondition',
      hint:
        st.uid === 0
          ? 'Run it as root (sudo), or use a state directory of your own with --state-dir DIR (or MBAM_VSS_STATE_DIR).'
          : 'Use a directory this user owns (--state-dir DIR or MBAM_VSS_STATE_DIR), or chown it to this user if it is meant to be its own. Nothing was changed.',
    });
  }
  try {
    fs.chmodSync(dir, 0o700);
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (e) {
    throw stateAccessError(e, dir, 'write');
  }
}

/**
 * A failure to create, read or write the state directory (or a file in it) as the error an
 * operator can act on: the privilege it needs (exit 3), or what is in the way (exit 2). Other
 * errors are returned unchanged.
 */
export function stateAccessError(e: unknown, path: string, doing: 'create' | 'read' | 'write' | 'use'): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  const root = typeof process.geteuid === 'function' && process.geteuid() === 0;
  const what = doing === 'create' ? `cannot create the state directory ${path}` : `cannot ${doing} ${path}`;
  if (code === 'EACCES' || code === 'EPERM') {
    return new VssError(HR.E_ACCESSDENIED, {
      message: `${what}: permission denied${root ? '' : '; this needs root, or a state directory this user owns'}`,
      category: 'precondition',
      cause: e,
      hint: root ? 'Check the permissions and any security module (SELinux, AppArmor) on the path.' : 'Run it as root (sudo), or use a state directory of your own with --state-dir DIR (or MBAM_VSS_STATE_DIR).',
    });
  }
  if (code === 'EROFS') {
    return new VssError(HR.E_ACCESSDENIED, {
      message: `the state directory ${path} is on a read-only file system; ${doing === 'read' ? 'reading' : 'this operation needs to write'} it`,
      category: 'precondition',
      cause: e,
      hint: 'Remount it read-write, or use a state directory on a writable file system (--state-dir DIR). Nothing was changed.',
    });
  }
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return new VssError(HR.E_INVALIDARG, {
      message: `${what}: ${path} (or a directory above it) is not a directory`,
      category: 'input',
      cause: e,
      hint: 'Move what is there aside, or name another state directory with --state-dir DIR. Nothing was changed.',
    });
  }
  return e;
}

export function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return; // directories cannot be opened for fsync there
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function writeSyncedFile(path: string, data: string | Uint8Array, flag = 'wx'): void {
  const fd = fs.openSync(path, flag, 0o600);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `path` atomically: readers see the old content or the new, never a torn file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    writeSyncedFile(tmp, data);
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}

/** Appends one line and syncs it before returning (a write-ahead journal record). */
export function appendSynced(path: string, line: string): void {
  const fd = fs.openSync(path, 'a', 0o600);
  try {
    fs.writeSync(fd, line.endsWith('\n') ? line : line + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The state locks the current async chain holds; `held` turns false when the lock is released. */
const chainLocks = new AsyncLocalStorage<ReadonlyMap<string, { held: boolean }>>();
/** Per lock path, the last in-process holder's or waiter's turn: callers in one process queue here. */
const turns = new Map<string, Promise<void>>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn` holding the state directory's lock. The lock is an flock, so the kernel releases it if
 * this process dies. It is re-entrant only within one async chain (`fn` and what it awaits, via
 * AsyncLocalStorage): an install that registers a writer takes the lock again inside itself, while
 * two unrelated calls in one process (a library user's two installs) queue, as two processes do.
 */
export async function withStateLock<T>(stateDir: string, fn: () => Promise<T> | T, timeoutMs = 30_000): Promise<T> {
  ensurePrivateDir(stateDir);
  // Absolute, so that two spellings of one directory are one lock to the re-entrancy check.
  const lockPath = resolve(stateDir, 'lock');
  const mine = chainLocks.getStore();
  // `held` rather than presence: a callback started inside the lock may run after its release.
  if (mine?.get(lockPath)?.held) return await fn();
  const deadline = Date.now() + timeoutMs;
  const leave = await takeTurn(lockPath, deadline, timeoutMs);
  try {
    const fd = await acquire(lockPath, deadline, timeoutMs);
    const hold = { held: true };
    try {
      return await chainLocks.run(new Map([...(mine ?? []), [lockPath, hold]]), fn);
    } finally {
      hold.held = false;
      release(fd);
    }
  } finally {
    leave();
  }
}

/**
 * Waits for the in-process holders and waiters ahead of this caller. Two opens of one file would
 * also exclude each other through flock, but by polling; the queue lets each go in order at once.
 */
async function takeTurn(lockPath: string, deadline: number, timeoutMs: number): Promise<() => void> {
  const ahead = turns.get(lockPath) ?? Promise.resolve();
  let open!: () => void;
  const mine = new Promise<void>((r) => (open = r));
  const tail = ahead.then(() => mine);
  turns.set(lockPath, tail);
  const leave = () => {
    open();
    if (turns.get(lockPath) === tail) turns.delete(lockPath);
  };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, deadline - Date.now()))));
  const late = await Promise.race([ahead.then(() => false), timedOut]);
  clearTimeout(timer);
  if (late) {
    // Those behind now wait only for those ahead.
    leave();
    throw lockTimeout(lockPath, timeoutMs, 'another operation in this process');
  }
  return leave;
}

async function acquire(lockPath: string, deadline: number, timeoutMs: number): Promise<number> {
  if (process.platform === 'win32') return acquireExclusiveFile(lockPath, deadline);
  const native = posixAddon();
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const fd = native.tryLock(lockPath);
    if (fd >= 0) return fd;
    if (Date.now() >= deadline) throw lockTimeout(lockPath, timeoutMs);
    await sleep(delay);
  }
}

function release(fd: number): void {
  if (process.platform === 'win32') {
    fs.closeSync(fd);
    return;
  }
  posixAddon().unlock(fd);
}

// Windows: an exclusive share-mode open is the lock; the OS closes it when the process dies.
async function acquireExclusiveFile(lockPath: string, deadline: number): Promise<number> {
  for (;;) {
    try {
      return fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT | (fs.constants as Record<string, number>)['UV_FS_O_EXLOCK']!, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() >= deadline) throw lockTimeout(lockPath, 0);
      await sleep(50);
    }
  }
}

function lockTimeout(lockPath: string, ms: number, holder = 'another mbam-vss process'): VssError {
  return new VssError(HR.VSS_E_SNAPSHOT_SET_IN_PROGRESS, {
    message: `${holder} holds ${lockPath}${ms ? ` (waited ${ms} ms)` : ''}`,
    hint: 'Wait for the other install, uninstall or backup to finish, then run this again.',
    category: 'precondition',
  });
}
