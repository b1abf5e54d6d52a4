/**
 * Filesystem freeze for the snapshot window, through the native guard: a watchdog process in a
 * session of its own thaws on request, at the deadline, as soon as this process dies, and when it
 * is signalled; a native thread here thaws if the watchdog dies or misses its deadline (stopped).
 * Freezing the filesystem that holds `/`, the state directory or the backup target would block
 * mbam-vss itself, so it is refused unless forced.
 */
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { posixAddon, type NativeFreezeGuard, type NativeThawReport } from '../platform/native.js';
import { sameFilesystem } from './mounts.js';

export type ThawReport = NativeThawReport;

/** A shell command the watchdog runs inside the frozen window, its output to a file. */
export interface FrozenCommand {
  /** Run by /bin/sh, as `sh -c` would. */
  script: string;
  env: string[];
  output: string;
}

/**
 * The watchdog starts the command before freezing and opens a gate (one byte on descriptor 3)
 * right after FIFREEZE, so that process start-up is not part of the blocked-writes window. The
 * shell waits at the gate, then runs the script as `sh -c` would (no positional parameters); a
 * gate closed without a byte means the freeze failed, and the script does not run.
 */
const GATED = 'IFS= read -r _ <&3 || exit 125; exec 3<&-; __mbam_vss_script=$1; shift; eval "$__mbam_vss_script"';

function gatedArgv(script: string): string[] {
  return ['/bin/sh', '-c', GATED, 'sh', script];
}

export interface FreezeOptions {
  deadlineMs: number;
  /** Run by the watchdog between freeze and thaw; the thaw follows its exit at once. */
  command?: FrozenCommand;
  /** Paths whose filesystems must not be frozen (the state directory, the backup target). */
  protect?: string[];
  force?: boolean;
}

export class FrozenFilesystems {
  private ended: Promise<ThawReport> | undefined;

  private constructor(
    readonly mountPoints: string[],
    private readonly guard: NativeFreezeGuard,
    readonly deadlineMs: number,
    readonly frozenAt: number,
  ) {}

  /** The watchdog process (its own session; it thaws on any signal it can catch). */
  get watchdogPid(): number {
    return this.guard.pid;
  }

  static async freeze(mountPoints: string[], opts: FreezeOptions): Promise<FrozenFilesystems> {
    if (!opts.force) {
      for (const m of mountPoints) {
        for (const p of ['/', ...(opts.protect ?? [])]) {
          if (sameFilesystem(m, p)) {
            throw new VssError(HR.VSS_E_VOLUME_NOT_SUPPORTED, {
              message: `refusing to freeze ${m}: it is the filesystem of ${p === '/' ? 'the root directory' : p}, and freezing it would block mbam-vss itself`,
              category: 'precondition',
              hint: 'Keep the state directory and the backup target on another filesystem, or use a snapshot provider that needs no freeze (btrfs).',
            });
          }
        }
      }
    }
    const native = posixAddon();
    try {
      const command = opts.command ? { argv: gatedArgv(opts.command.script), env: opts.command.env, output: opts.command.output } : undefined;
      const guard = await native.freezeBegin(mountPoints, opts.deadlineMs, command);
      return new FrozenFilesystems(mountPoints, guard, opts.deadlineMs, Date.now());
    } catch (e) {
      // The watchdog stopped (or starved) past the deadline before confirming: writes were held
      // too long, as VSS reports when a flush-and-hold outlasts its limit.
      const cause = (e as VssError).cause as { code?: string; message?: string } | undefined;
      if (cause?.code === 'ETIMEDOUT') {
        throw new VssError(HR.VSS_E_HOLD_WRITES_TIMEOUT, { message: `freeze ${mountPoints.join(', ')}: ${cause.message}`, cause: e });
      }
      throw new VssError((e as VssError).hresult, { message: `freeze ${mountPoints.join(', ')}: ${(e as Error).message}`, category: (e as VssError).category, cause: e });
    }
  }

  /** Thaws now (idempotent). Reports whether the deadline had already thawed them. */
  thaw(): Promise<ThawReport> {
    return this.end(true);
  }

  /** Waits for the watchdog to thaw by itself: its command finished, or the deadline passed. */
  waitForThaw(): Promise<ThawReport> {
    return this.end(false);
  }

  private end(request: boolean): Promise<ThawReport> {
    if (!this.ended) {
      this.ended = this.guard.end(request).then((r) => {
        if (r.thawErrors) throw new VssError(HR.VSS_E_UNEXPECTED, { message: `thaw of ${this.mountPoints.join(', ')} failed (${r.firstError})` });
        return r;
      });
    }
    return this.ended;
  }
}
