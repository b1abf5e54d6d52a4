/**
 * What every subcommand shares: global options, output (human text or --json), and the exit codes
 * an installer acts on.
 */
import type { Command } from 'commander';
import { VssError, type VssErrorCategory } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { openPlatform, type Platform } from '../platform/index.js';
import { resolveStateDir } from '../platform/state.js';

export const EXIT = {
  OK: 0,
  /** The operation failed and was rolled back cleanly. */
  FAILED: 1,
  /** Bad usage or bad input; nothing was changed. */
  USAGE: 2,
  /** A precondition is not met (privileges, SQL writer, SQL Server reachable). */
  PRECONDITION: 3,
  /** Failed, and the rollback did not complete: an operator must look (`mbam-vss status`). */
  INCOMPLETE: 4,
  /** Stopped (by SIGINT or the caller) and undone: 128 + SIGINT, as shells report it. */
  ABORTED: 130,
} as const;

const CATEGORY_EXIT: Record<VssErrorCategory, number> = {
  input: EXIT.USAGE,
  precondition: EXIT.PRECONDITION,
  failed: EXIT.FAILED,
  incomplete: EXIT.INCOMPLETE,
  aborted: EXIT.ABORTED,
};

export interface GlobalOptions {
  stateDir?: string;
  json?: boolean;
  quiet?: boolean;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export class Output {
  constructor(readonly opts: GlobalOptions) {}

  get json(): boolean {
    return !!this.opts.json;
  }

  /** Human text to stdout (suppressed by --quiet and --json). */
  info(text: string): void {
    if (!this.opts.quiet && !this.opts.json) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** Warnings to stderr; in --json mode they still go to stderr so stdout stays parseable. */
  warn(text: string): void {
    if (!this.opts.quiet) process.stderr.write(`warning: ${text}\n`);
  }

  result(value: unknown, human: () => string): void {
    if (this.json) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
    else if (!this.opts.quiet) {
      const t = human();
      if (t) process.stdout.write(t.endsWith('\n') ? t : t + '\n');
    }
  }
}

export function platformFor(opts: GlobalOptions): Platform {
  return openPlatform({ stateDir: resolveStateDir(opts.stateDir) });
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
/** The signal that interrupted this command, which sets the exit code of its 'aborted' error. */
let interruptedBy: keyof typeof SIGNAL_EXIT | undefined;

/**
 * Runs `fn` with a signal that SIGINT and SIGTERM abort; `fn` cleans up before it settles, and its
 * 'aborted' error then exits with 128 + the signal's number. A second signal exits at once (the
 * freeze watchdog thaws when this process dies; `status` lists a snapshot left behind).
 */
export async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  const handlers = (Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[]).map((sig) => {
    const h = () => {
      if (ctl.signal.aborted) process.exit(SIGNAL_EXIT[sig]);
      interruptedBy = sig;
      ctl.abort(new VssError(HR.E_ABORT, { message: `interrupted by ${sig}; the backup was stopped and cleaned up`, category: 'aborted' }));
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    return await fn(ctl.signal);
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}

/** Prints an error the way the user can act on it and returns the exit code it maps to. */
export function reportError(e: unknown, opts: GlobalOptions): number {
  const err = e instanceof VssError ? e : undefined;
  const code = err ? (err.category === 'aborted' && interruptedBy ? SIGNAL_EXIT[interruptedBy] : CATEGORY_EXIT[err.category]) : EXIT.FAILED;
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ok: false, exitCode: code, error: err ? err.toJSON() : { message: String((e as Error)?.message ?? e) } }, null, 2) + '\n');
  } else if (err) {
    process.stderr.write(`mbam-vss: ${err.message}\n  (${err.codeText}${err.retryable ? ', retryable' : ''})\n${err.hint ? `  ${err.hint}\n` : ''}`);
  } else {
    process.stderr.write(`mbam-vss: internal error: ${(e as Error)?.stack ?? e}\n`);
  }
  return code;
}

/** Wraps an action: runs it, maps a thrown error to its exit code. */
export function action<A extends unknown[]>(fn: (out: Output, ...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = globals(cmd);
    try {
      process.exitCode = (await fn(new Output(opts), ...args)) ?? EXIT.OK;
    } catch (e) {
      process.exitCode = reportError(e, opts);
    }
  };
}
