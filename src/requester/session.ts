/**
 * A writer session: the requester's side of the events it sends to writers, for backup and for
 * restore. It keeps each writer's state and failure code as VSS would report them, bounds every
 * handler by a deadline (the Freeze-to-Thaw window, or a per-event limit), orders Freeze and Thaw
 * by application level, and stops at the caller's abort.
 *
 * A handler cannot be cancelled: at its deadline the session stops waiting, records
 * VSS_E_WRITERERROR_TIMEOUT and goes on to Abort, as VSS does with a writer that does not answer.
 */
import type { WriterStateName } from '../vss/enums.js';
import { abortError, VssError } from '../vss/errors.js';
import type { Guid } from '../vss/guid.js';
import { HR, hresultInfo } from '../vss/hresult.js';
import { componentKey, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import { failureDetails, EVENT_HANDLER, writerFailureCode, type InProcessWriter, type WriterEvent, type WriterEventContext } from '../vss/writer-events.js';

export interface SessionWriter {
  writer?: InProcessWriter | undefined;
  metadata: WriterMetadata;
  components: WriterComponent[];
  ctx: WriterEventContext;
}

export interface Participant extends SessionWriter {
  state: WriterStateName;
  lastError: number;
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

export interface SessionEvent {
  event: WriterEvent;
  writer: string;
  state: WriterStateName;
  failure?: string;
}

export interface SessionOptions {
  /** Per-event limit outside a window with its own deadline (default 5 minutes). */
  eventTimeoutMs?: number;
  /** The caller's abort: no further event starts, and a handler in progress is no longer awaited. */
  signal?: AbortSignal;
  onEvent?: (e: SessionEvent) => void;
}

const LEVEL_ORDER = { FRONT_END: 0, BACK_END: 1, SYSTEM: 2 } as const;


/** Rejects with `abortError` as soon as `signal` aborts; never settles otherwise. */
export function whenAborted(signal: AbortSignal | undefined, what: string): { promise: Promise<never>; dispose(): void } {
  if (!signal) return { promise: new Promise<never>(() => {}), dispose() {} };
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal, what));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => {});
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

export class WriterSession {
  readonly participants: Participant[];
  private readonly eventTimeoutMs: number;
  private postSnapshotSent = false;
  /** Handlers the session stopped waiting for (a timeout, an abort) that have not settled yet. */
  private readonly abandoned = new Set<Promise<unknown>>();

  constructor(writers: SessionWriter[], private readonly opts: SessionOptions = {}) {
    this.participants = writers.map((w) => ({ ...w, state: 'STABLE', lastError: 0 }));
    this.eventTimeoutMs = opts.eventTimeoutMs ?? 5 * 60_000;
  }

  /** Front-end writers first, then back-end, then system (Freeze); `-1` the reverse (Thaw). */
  byLevel(dir: 1 | -1): Participant[] {
    return [...this.participants].sort((a, b) => dir * (LEVEL_ORDER[a.writer?.applicationLevel ?? 'FRONT_END'] - LEVEL_ORDER[b.writer?.applicationLevel ?? 'FRONT_END']));
  }

  /**
   * Sends `event` to each target in turn; the first failure (or timeout) leaves that writer in its
   * FAILED_AT_ state with its code and rejects. With `deadline`, every handler must answer before
   * it (the Freeze-to-Thaw window); otherwise each gets the per-event limit.
   */
  async send(event: WriterEvent, o: { targets?: Participant[]; deadline?: number; ignoreAbort?: boolean } = {}): Promise<void> {
    if (event === 'PostSnapshot') this.postSnapshotSent = true;
    const spec = EVENT_HANDLER[event];
    for (const p of o.targets ?? this.participants) {
      const name = p.metadata.identity.friendlyName;
      const signal = o.ignoreAbort ? undefined : this.opts.signal;
      if (signal?.aborted) throw abortError(signal, `the backup before ${event}`);
      const handler = p.writer?.[spec.handler] as ((ctx: WriterEventContext) => unknown) | undefined;
      try {
        if (handler) {
          const ms = o.deadline !== undefined ? o.deadline - Date.now() : this.eventTimeoutMs;
          const running = Promise.resolve().then(() => handler.call(p.writer, p.ctx));
          try {
            await this.bounded(running, ms, `${name} ${event}`, signal);
          } catch (e) {
            this.abandon(running);
            throw e;
          }
        }
      } catch (e) {
        // The caller's abort is not the writer's failure: its state stays what it was.
        if (e instanceof VssError && e.category === 'aborted') throw e;
        if (event === 'Abort') continue; // VSS has no state for a failed abort
        p.state = spec.failedState;
        p.lastError = writerFailureCode(e);
        this.opts.onEvent?.({ event, writer: name, state: p.state, failure: hresultInfo(p.lastError).name });
        throw new VssError(p.lastError, { message: `${name} failed at ${event} (${spec.failedState}): ${(e as Error).message ?? e}`, cause: e, ...failureDetails(e) });
      }
      if (spec.doneState) p.state = spec.doneState;
      this.opts.onEvent?.({ event, writer: name, state: p.state });
    }
  }

  /** Delivers to every writer even when one fails, and after an abort (Abort, BackupShutdown). */
  async sendAll(event: WriterEvent): Promise<void> {
    for (const p of this.participants) await this.send(event, { targets: [p], ignoreAbort: true }).catch(() => {});
  }

  /**
   * After a failure: Abort, unless PostSnapshot was already sent (VSS never aborts after it).
   * Writers that did not fail return to Stable; the one that failed keeps its state and code.
   */
  async abort(): Promise<void> {
    if (this.postSnapshotSent) return;
    await this.sendAll('Abort');
    for (const p of this.participants) if (!p.lastError) p.state = 'STABLE';
  }

  outcomes(): WriterOutcome[] {
    return this.participants.map((p) => ({ writerId: p.metadata.identity.writerId, instanceId: p.metadata.identity.instanceId, name: p.metadata.identity.friendlyName, state: p.state, lastError: p.lastError, components: p.components.map(componentKey) }));
  }

  /**
   * Runs `fn` once every handler the session stopped waiting for has returned (at once if none): a
   * handler that missed its deadline may still write into its writer directory, and the caller
   * must not wait for it (it may never return), yet must undo what it leaves.
   */
  afterAbandoned(fn: () => void): void {
    if (!this.abandoned.size) return fn();
    void Promise.allSettled([...this.abandoned]).then(fn);
  }

  private abandon(p: Promise<unknown>): void {
    const settle = () => void this.abandoned.delete(tracked);
    const tracked = p.then(settle, settle);
    this.abandoned.add(tracked);
  }

  private async bounded<T>(p: Promise<T>, ms: number, what: string, signal: AbortSignal | undefined): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new VssError(HR.VSS_E_WRITERERROR_TIMEOUT, { message: `${what} did not answer within ${ms} ms` })), Math.max(0, ms));
    });
    const aborted = whenAborted(signal, what);
    try {
      return await Promise.race([p, expiry, aborted.promise]);
    } finally {
      clearTimeout(timer);
      aborted.dispose();
    }
  }
}
