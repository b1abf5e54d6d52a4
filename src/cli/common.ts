/**
 * What every subcommand shares: global options, output (human text or --json), and the exit codes
 * an installer acts on.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { invalidInput, VssError, type VssErrorCategory } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import type { Platform } from '../platform/index.js';

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

/**
 * The one --json document every command prints, for every outcome (docs/cli-json.md):
 * `{ ok, exitCode, command, result }` when the command ran to its report (`ok` is false when that
 * report is a failure, e.g. a set that does not verify), `{ ok: false, exitCode, command, error }`
 * when it threw or its usage was wrong.
 */
export interface Envelope {
  ok: boolean;
  exitCode: number;
  command: string | null;
  result?: unknown;
  error?: Record<string, unknown>;
}

export function writeEnvelope(env: Envelope): void {
  process.stdout.write(JSON.stringify(env, null, 2) + '\n');
}

export class Output {
  /** What `result()` recorded, printed inside the envelope once the exit code is known. */
  recorded: { value: unknown } | undefined;

  constructor(readonly opts: GlobalOptions, readonly command: string | null = null) {}

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

  /** Why something failed: to stderr, even under --quiet (a quiet failure must still say why). */
  failure(text: string): void {
    if (!this.opts.json) process.stderr.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** The command's report: recorded for the --json envelope, or printed as human text now. */
  result(value: unknown, human: () => string): void {
    if (this.json) this.recorded = { value };
    else if (!this.opts.quiet) {
      const t = human();
      if (t) process.stdout.write(t.endsWith('\n') ? t : t + '\n');
    }
  }
}

/**
 * This OS's backend for the state directory the options name, as openPlatform chooses it. Imported
 * here, on first use, and only this OS's backend (openPlatform's module imports both, and the other
 * one's module graph is a third of `writers`' start-up): building the program, `--version` and
 * `--help` load no platform code (issue #16: start-up).
 */
export async function platformFor(opts: GlobalOptions): Promise<Platform> {
  const stateDir = await stateDirOf(opts);
  return process.platform === 'win32' ? new (await import('../platform/windows.js')).WindowsPlatform(stateDir) : new (await import('../platform/posix.js')).PosixPlatform(stateDir);
}

/** The state directory the options name (`--state-dir`, MBAM_VSS_STATE_DIR, or the default). */
export async function stateDirOf(opts: GlobalOptions): Promise<string> {
  return (await import('../platform/state.js')).resolveStateDir(opts.stateDir);
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
      ctl.abort(new VssError(HR.E_ABORT, { message: `interrupted by ${sig}; the operation was stopped and cleaned up`, category: 'aborted' }));
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

/** The exit code an error maps to. */
export function exitCodeOf(e: unknown): number {
  if (!(e instanceof VssError)) return EXIT.FAILED;
  return e.category === 'aborted' && interruptedBy ? SIGNAL_EXIT[interruptedBy] : CATEGORY_EXIT[e.category];
}

/** Prints an error the way the user can act on it and returns the exit code it maps to. */
export function reportError(e: unknown, opts: GlobalOptions, command: string | null = null): number {
  const err = e instanceof VssError ? e : undefined;
  const code = exitCodeOf(e);
  if (opts.json) {
    writeEnvelope({ ok: false, exitCode: code, command, error: err ? err.toJSON() : { name: 'internal', category: 'failed', message: String((e as Error)?.message ?? e) } });
    if (!err) process.stderr.write(`mbam-vss: internal error: ${(e as Error)?.stack ?? e}\n`);
  } else if (err) {
    process.stderr.write(`mbam-vss: ${err.message}\n  (${err.codeText}${err.retryable ? ', retryable' : ''})\n${err.hint ? `  ${err.hint}\n` : ''}`);
  } else {
    process.stderr.write(`mbam-vss: internal error: ${(e as Error)?.stack ?? e}\n`);
  }
  return code;
}

/** The command's path below the program, e.g. `backup`. */
export function commandName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Reads a file the user named: a missing or unreadable file is bad input (exit 2) naming the
 * option and the path, not an internal error with a stack.
 */
/** A milliseconds option: a whole number from 1 (to `max`, where the command has a limit). */
export function milliseconds(value: string, field: string, max = Infinity): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw invalidInput(field, Number.isFinite(max) ? `milliseconds from 1 to ${max}` : 'a positive number of milliseconds', value);
  return n;
}

export function readInputFile(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : code === 'EACCES' || code === 'EPERM' ? 'not readable by this user' : (e as Error).message;
    throw new VssError(HR.E_INVALIDARG, { message: `${field}: cannot read ${path}: ${why}`, category: 'input' });
  }
}

const preparers = new WeakMap<Command, () => Promise<void>>();

/**
 * Declares the part of `cmd` that names something from an implementation module (the step names
 * of a transaction, a service name): `fn` runs before commander parses any argv that names `cmd`,
 * `help cmd` included, so that building the program imports no implementation module (issue #16:
 * `--version` and `--help` start as fast as bare Node) and that command's help stays whole.
 */
export function beforeParse(cmd: Command, fn: () => Promise<void>): void {
  preparers.set(cmd, fn);
}

/**
 * Runs the `beforeParse` of every command whose name or alias appears in argv (before `--`): a
 * superset of the one commander dispatches to (an option's value may look like a command name,
 * which costs an import, never a missing option).
 */
export async function prepareCommands(program: Command, argv: readonly string[]): Promise<void> {
  const end = argv.indexOf('--');
  const words = new Set((end < 0 ? argv : argv.slice(0, end)).slice(2));
  for (const c of program.commands) {
    const fn = preparers.get(c);
    if (fn && [c.name(), ...c.aliases()].some((n) => words.has(n))) {
      preparers.delete(c);
      await fn();
    }
  }
}

/** Wraps an action: runs it, maps a thrown error to its exit code, prints the --json envelope. */
export function action<A extends unknown[]>(fn: (out: Output, ...args: A) => Promise<number | void>) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const opts = globals(cmd);
    const name = commandName(cmd);
    const out = new Output(opts, name);
    try {
      const code = (await fn(out, ...args)) ?? EXIT.OK;
      if (out.json) writeEnvelope({ ok: code === EXIT.OK, exitCode: code, command: name, result: out.recorded ? out.recorded.value : null });
      process.exitCode = code;
    } catch (e) {
      process.exitCode = reportError(e, opts, name);
    }
  };
}
