/**
 * The native addon, typed. node-gyp-build loads it from `prebuilds/<platform>-<arch>/` (shipped in
 * the package, because npm 11 skips dependencies' install scripts) or a local `build/Release/`.
 *
 * `posixAddon()` and `windowsAddon()` are the only way the rest of the library reaches it: each
 * interface below lists exactly what one build exports (read from the `exports.Set` calls in
 * native/src/**), one interface per native source file, so a new native module adds one interface
 * and one `extends` entry. Their functions are wrapped once here: a failure thrown or rejected by
 * native code reaches callers as a VssError, so no caller converts native errors itself.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VssError } from '../vss/errors.js';
import { HR, hresultInfo } from '../vss/hresult.js';
import type { ExpressWriterSpec } from '../vss/express-writer.js';

export interface NativeCapabilities {
  privileged: boolean;
  fsFreeze: boolean;
  reflink: boolean;
  btrfsSnapshot: boolean;
  expressWriter: boolean;
  wine: boolean;
  /** Windows: why express writers are unavailable (null when they are available). */
  expressWriterUnavailableReason?: string | null;
}

// ---- common to every build: native/src/addon.cc, platform_*.cc, common/event_bridge.cc ----------

/** The JS side of one event bridge (native/src/common/event_bridge.cc, class EventBridge). */
export interface NativeEventBridge {
  /** Fails every waiting call with VSS_E_WRITERERROR_RETRYABLE and refuses new ones. */
  close(): void;
  /** Calls waiting for their handler right now. */
  pending(): number;
  ref(): void;
  unref(): void;
}

/**
 * The bridge's handler, on the JS thread: `complete(callId, hr)` answers the calling native thread
 * (0 = success); a second answer, or one after the deadline, is ignored. `complete` is the same
 * function for every call of a bridge, so that no call allocates one.
 */
export type NativeBridgeHandler = (event: string, payload: string, callId: number, complete: (callId: number, hr: number) => void) => void;

/** Objects the addon holds right now (debug counters: the tests' leak checks). */
export interface NativeLiveObjects {
  /** EventBridge cores (freed when closed and collected, or collected). */
  bridges: number;
  /** Bridge calls whose state is still held (waiting, or queued without a wait). */
  bridgeCalls: number;
  /** Hosted writer host objects (Windows; 0 elsewhere). */
  hostedWriters: number;
}

export interface CommonAddon {
  napiVersion: number;
  /** process.platform's name for the build: 'linux', 'darwin', 'win32' ('posix' for other Unixes). */
  platform: string;
  capabilities(): NativeCapabilities;
  EventBridge: new (handler: NativeBridgeHandler) => NativeEventBridge;
  liveObjects(): NativeLiveObjects;
}

/** The loader's view before the platform is known: what every build exports. */
export type NativeAddon = CommonAddon;

// ---- POSIX: native/src/posix/ ---------------------------------------------------------------

/** file_lock.cc */
export interface FileLockExports {
  /** The descriptor holding an exclusive flock on `path`, or -1 when another process holds it. */
  tryLock(path: string): number;
  unlock(fd: number): void;
}

/** What the freeze guard's watchdog reports once it has thawed (freeze_guard.cc, EndWorker). */
export interface NativeThawReport {
  /**
   * What ended the freeze: this process asked; the deadline; the snapshot command exited; the
   * watchdog was signalled (`signal`); or the watchdog died (`watchdog-lost`) or did not thaw by
   * its deadline (`watchdog-overdue`, e.g. stopped) and this process thawed instead.
   */
  reason: 'requested' | 'deadline' | 'command-done' | 'signalled' | 'watchdog-lost' | 'watchdog-overdue';
  /** The signal that made the watchdog thaw ("SIGTERM"), with reason 'signalled'. */
  signal?: string;
  thawErrors: number;
  /** errno name of the first failed FITHAW, when thawErrors > 0. */
  firstError?: string;
  /** Exit code of the snapshot command (128 + signal), or -1. */
  commandStatus: number;
  /** From the first FIFREEZE to the last FITHAW, measured by the watchdog. */
  heldMs: number;
}

/** freeze_guard.cc (Linux) */
export interface FreezeGuardExports {
  /**
   * Freezes the mount points under a watchdog in a session of its own; `command.argv[0]` is an
   * absolute path and the program waits for a byte on descriptor 3 before acting. Bad arguments
   * throw (TypeError/RangeError); a watchdog that dies or stops before confirming rejects with
   * code ECHILD or ETIMEDOUT.
   */
  freezeBegin(mountPoints: string[], deadlineMs: number, command?: { argv: string[]; env: string[]; output: string } | null): Promise<NativeFreezeGuard>;
}

/** One freeze (an ObjectWrap): collected without end(), it asks for the thaw. */
export interface NativeFreezeGuard {
  /** The watchdog's process id. */
  readonly pid: number;
  /** request=true (default) asks for the thaw now; false waits for the command or the deadline. */
  end(request?: boolean): Promise<NativeThawReport>;
}

/** safe_fs.cc (Linux): descriptor-relative access that never follows a symbolic link. */
export interface EntryStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: number;
  ino: number;
  nlink: number;
}

export interface SafeFsExports {
  /** O_NOFOLLOW | O_CLOEXEC always added; `name` is one path component. */
  openAt(dirFd: number, name: string, flags: number, mode?: number): number;
  mkdirAt(dirFd: number, name: string, mode: number): void;
  /** The entry itself (a link is reported as a link); null when there is none. */
  statAt(dirFd: number, name: string): EntryStat | null;
  /** With noReplace: renameat2(RENAME_NOREPLACE); EINVAL/ENOSYS where unsupported. */
  renameAt(fromDirFd: number, from: string, toDirFd: number, to: string, noReplace?: boolean): void;
  linkAt(fromDirFd: number, from: string, toDirFd: number, to: string): void;
  unlinkAt(dirFd: number, name: string, directory?: boolean): void;
  readDirAt(dirFd: number): [string, 'dir' | 'file' | 'link' | 'other'][];
}

/** snapshot.cc (Linux) */
export interface SnapshotExports {
  btrfsSnapshot(source: string, destinationDir: string, name: string, readOnly: boolean): void;
  btrfsDeleteSubvolume(parentDir: string, name: string): void;
  /** 'btrfs' | 'ext4' | 'xfs' | 'tmpfs' | 'overlay', or the magic number as '0x…'. */
  fsType(path: string): string;
  /** True when cloned (FICLONE); false when this pair of filesystems cannot share extents. */
  reflink(srcFd: number, dstFd: number): boolean;
  startWriteback(fd: number, offset: number, length: number): void;
  /** Page-aligned memory for O_DIRECT: a positive multiple of 4096, at most 1 GiB. */
  alignedBuffer(size: number): Buffer;
}

/** The POSIX build. freeze_guard.cc and snapshot.cc are compiled on Linux only. */
export interface PosixAddon extends CommonAddon, FileLockExports, FreezeGuardExports, SafeFsExports, SnapshotExports {}

// ---- Windows: native/src/win/ ---------------------------------------------------------------

/** requester.cc: one writer as IVssBackupComponents gathered it. */
export interface GatheredWriter {
  name: string;
  writerId: string;
  instanceId: string;
  /** VSS_WRITER_STATE value, or null when the writer gave metadata but no status. */
  state: number | null;
  failure: number;
  metadataXml: string | null;
}

export type NativeServiceState = 'absent' | 'stopped' | 'start-pending' | 'stop-pending' | 'running' | 'continue-pending' | 'pause-pending' | 'paused' | 'unknown';

/** express_writer.cc, requester.cc, system.cc */
export interface VssApiExports {
  /** Registers the express writer; resolves to the metadata XML VSS was given. */
  registerExpressWriter(spec: ExpressWriterSpec): Promise<string>;
  unregisterExpressWriter(writerId: string): Promise<void>;
  /** timeoutMs bounds each of VSS's asynchronous steps (default 5 min); one still pending then is cancelled. */
  gatherWriters(timeoutMs?: number): Promise<GatheredWriter[]>;
  serviceState(name: string): { exists: boolean; state: NativeServiceState };
  privileges(): { elevated: boolean; administrators: boolean; backupOperators: boolean };
}

export interface HostedWriterOptionsNative {
  instanceName?: string;
  /** VSS_SOURCE_TYPE and VSS_APPLICATION_LEVEL values. */
  source: number;
  level: number;
  freezeTimeoutMs: number;
  eventTimeoutMs: number;
}

/**
 * hosted_writer.cc: one CVssWriter-compatible object. While subscribed it keeps itself alive (VSS
 * may call it at any time) and holds the process's MTA; unsubscribe() shuts its bridge, unsubscribes,
 * waits (up to 60 s) until no VSS callback runs in it and frees it; one whose callbacks did not
 * finish is leaked on purpose rather than freed under them. An object never subscribed, or
 * unsubscribed, or whose subscribe failed, is ended and freed when collected.
 */
export interface NativeHostedWriter {
  subscribe(): Promise<void>;
  /** Idempotent. */
  unsubscribe(): Promise<void>;
}

/**
 * What a thread that never called CoInitializeEx finds: APTTYPE (1 = MTA) and its qualifier
 * (1 = implicit MTA) while a writer holds the MTA, `hr` CO_E_NOTINITIALIZED when there is none;
 * and COMGLB_EXCEPTION_HANDLING (-1 when COM could not say). -1 where `hr` failed.
 */
export interface NativeComDiagnostics {
  hr: number;
  apartment: number;
  qualifier: number;
  exceptionHandling: number;
}

export interface HostedWriterExports {
  HostedWriterHost: new (bridge: NativeEventBridge, spec: ExpressWriterSpec, options: HostedWriterOptionsNative) => NativeHostedWriter;
  /** Diagnostics for `doctor` and the tests; probes on a thread of its own. */
  comDiagnostics(): NativeComDiagnostics;
}

/** service.cc: startService's outcome; the exit codes say why a service stopped again. */
export interface NativeServiceStart {
  state: 'running' | 'stopped' | 'pending';
  win32ExitCode: number;
  serviceSpecificExitCode: number;
}

/** service.cc */
export interface ServiceExports {
  /** `commandLine` is already quoted (src/platform/windows-service.ts). */
  createService(name: string, displayName: string, description: string, commandLine: string): void;
  /** False when the service did not exist. A running service is stopped and waited for first. */
  deleteService(name: string): boolean;
  /** Starts the service and waits (up to timeoutMs) until it runs or has stopped again. */
  startService(name: string, timeoutMs: number): NativeServiceStart;
  /**
   * Resolves when the SCM connection ends; once per process. START_PENDING is reported at once and
   * `onStart` called; `onStop` on STOP / SHUTDOWN.
   */
  runAsService(name: string, onStart: () => void, onStop: () => void): Promise<void>;
  /** JavaScript has started: the service reports RUNNING. */
  serviceRunning(): void;
  /** JavaScript has stopped, or failed to start with `hresult` (reported as ERROR_SERVICE_SPECIFIC_ERROR). */
  serviceStopped(hresult?: number): void;
  /** One Application event log entry under source `name`. */
  reportServiceEvent(name: string, isError: boolean, message: string): void;
}

export interface WindowsAddon extends CommonAddon, VssApiExports, HostedWriterExports, ServiceExports {}

// ---- loading ----------------------------------------------------------------------------------

/** The package root: dist/platform/native.js and src/platform/native.ts both sit two levels down. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: Record<string, unknown> | undefined;

/** The raw addon, unwrapped and untyped beyond the common part: prefer posixAddon() / windowsAddon(). */
export function loadNative(root = PACKAGE_ROOT): NativeAddon {
  return loadRaw(root) as unknown as NativeAddon;
}

function loadRaw(root: string): Record<string, unknown> {
  if (cached && root === PACKAGE_ROOT) return cached;
  const require = createRequire(join(root, 'package.json'));
  // Diagnostics: load a specific build of the addon (the AddressSanitizer build, a debug build).
  const override = process.env['MBAM_VSS_NATIVE_ADDON'];
  if (override && root === PACKAGE_ROOT) return (cached = require(override) as Record<string, unknown>);
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => Record<string, unknown>;
  try {
    const addon = nodeGypBuild(root);
    if (root === PACKAGE_ROOT) cached = addon;
    return addon;
  } catch (e) {
    const tag = `${process.platform}-${process.arch}`;
    const looked = [join(root, 'build', 'Release'), join(root, 'build', 'Debug'), join(root, 'prebuilds', tag)];
    throw new VssError(HR.E_NOTIMPL, {
      message:
        `no mbam-vss native binary fits ${tag} (Node ${process.versions.node}, N-API ${process.versions.napi}); looked in:\n` +
        looked.map((p) => `  ${p}${existsSync(p) ? '' : ' (missing)'}`).join('\n'),
      hint:
        'Build it from source with `npm run build:native` in the mbam-vss package (needs python3, make and a C++17 compiler), ' +
        'or install a release of mbam-vss that ships prebuilds/ for this platform.',
      category: 'precondition',
      cause: e,
    });
  }
}

/** What the addon can do on this machine; works on every platform. */
export function nativeCapabilities(): NativeCapabilities {
  return loadNative().capabilities();
}

/** Debug counters of native objects alive now (the leak tests). */
export function nativeLiveObjects(): NativeLiveObjects {
  return loadNative().liveObjects();
}

let posixWrapped: PosixAddon | undefined;
let windowsWrapped: WindowsAddon | undefined;

/** The POSIX build, its failures as VssError. On Windows: E_NOTIMPL (precondition). */
export function posixAddon(): PosixAddon {
  if (process.platform === 'win32') throw wrongPlatform('the POSIX native primitives (flock, FIFREEZE, btrfs, FICLONE)', 'Linux');
  return (posixWrapped ??= wrapFunctions(loadRaw(PACKAGE_ROOT)) as unknown as PosixAddon);
}

/** The Windows build, its failures as VssError. Elsewhere: E_NOTIMPL (precondition). */
export function windowsAddon(): WindowsAddon {
  if (process.platform !== 'win32') throw wrongPlatform('the Windows native backend (VSS, COM, the Service Control Manager)', 'Windows');
  return (windowsWrapped ??= wrapFunctions(loadRaw(PACKAGE_ROOT)) as unknown as WindowsAddon);
}

function wrongPlatform(what: string, where: string): VssError {
  return new VssError(HR.E_NOTIMPL, { message: `${what} exist on ${where} only; this is ${process.platform}`, category: 'precondition' });
}

/**
 * Each exported function, wrapped so that a synchronous throw or a rejection from native code
 * becomes a VssError named after the export. A class (a capitalised export) is wrapped the same
 * way: its constructor, and the methods of each instance it makes; the instance itself is the
 * native object, so it can still be handed back to native code (a bridge given to a host).
 */
function wrapFunctions(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== 'function') out[name] = value;
    else if (/^[A-Z]/.test(name)) out[name] = wrapClass(name, value as new (...args: unknown[]) => object);
    else out[name] = wrapCall(name, value as (...args: unknown[]) => unknown, raw);
  }
  return out;
}

function wrapCall(operation: string, fn: (...args: unknown[]) => unknown, self: unknown): (...args: unknown[]) => unknown {
  return (...args: unknown[]): unknown => {
    let r: unknown;
    try {
      r = fn.apply(self, args);
    } catch (e) {
      throw nativeError(e, operation);
    }
    if (r instanceof Promise) return r.catch((e: unknown) => Promise.reject(nativeError(e, operation)));
    return r;
  };
}

function wrapClass(name: string, Raw: new (...args: unknown[]) => object): new (...args: unknown[]) => object {
  const methods = Object.getOwnPropertyNames(Raw.prototype).filter((m) => m !== 'constructor' && typeof (Raw.prototype as Record<string, unknown>)[m] === 'function');
  return class {
    constructor(...args: unknown[]) {
      let inst: Record<string, unknown>;
      try {
        inst = new Raw(...args) as Record<string, unknown>;
      } catch (e) {
        throw nativeError(e, `new ${name}`);
      }
      // Own properties (the prototype's methods are read-only, so plain assignment would throw).
      for (const m of methods) {
        Object.defineProperty(inst, m, { value: wrapCall(`${name}.${m}`, (Raw.prototype as Record<string, (...a: unknown[]) => unknown>)[m]!, inst), configurable: true });
      }
      return inst;
    }
  };
}

/**
 * Turns an error thrown by native code (with .hresult, or an errno .code) into a VssError. A
 * VssError passes through unchanged, so an error converted at the boundary is never converted
 * twice. Argument errors (TypeError, RangeError from the addon's checks) are E_INVALIDARG.
 */
export function nativeError(e: unknown, operation: string): VssError {
  if (e instanceof VssError) return e;
  const err = e as { hresult?: number; code?: string; message?: string; path?: string };
  if (typeof err?.hresult === 'number') {
    const info = hresultInfo(err.hresult);
    const op = (e as { operation?: string }).operation;
    return new VssError(err.hresult, { message: `${operation}: ${op ? `${op}: ` : ''}${info.meaning}`, cause: e });
  }
  if ((e instanceof TypeError || e instanceof RangeError) && err.code === undefined) {
    return new VssError(HR.E_INVALIDARG, { message: `${operation}: ${err.message}`, category: 'input', cause: e });
  }
  const code = err?.code;
  const hr = code === 'EPERM' || code === 'EACCES' ? HR.E_ACCESSDENIED : code === 'ENOMEM' ? HR.E_OUTOFMEMORY : HR.E_FAIL;
  return new VssError(hr, { message: `${operation}: ${err?.message ?? String(e)}`, cause: e });
}
