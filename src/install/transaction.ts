/**
 * A registration transaction: named steps, each journaled as intent → act → done, undone in
 * reverse on failure. Every undo is idempotent and tolerates a half-done step (intent without
 * done), because after a crash the next run rolls back from the journal alone: undo handlers are
 * looked up by operation and step name, and get only what the journal recorded.
 *
 * Each operation is a table declared once at module level (`defineOperation`): its step names,
 * in order, and their undos. A run supplies only the step bodies. Everything else that names steps
 * (the CLI's help, --dry-run, fault injection, tests) reads the table's `stepNames`.
 */
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { checkFaultSpec, injectFault } from './faults.js';
import { Journal, readJournal, type JournalState } from './journal.js';
import type { Platform } from '../platform/platform.js';

export interface StepContext {
  platform: Platform;
  stateDir: string;
  /** Progress lines for the user (the CLI prints them unless --quiet/--json). */
  log(line: string): void;
}

/**
 * One step of an operation as its table declares it: the name (what the journal, MBAM_VSS_FAULT,
 * --dry-run and the help text use) and the undo. The undo lives here, at module level, because
 * recovery after a crash runs in a process that never ran the step: it has only the journal.
 */
export interface StepDeclaration<N extends string = string, I = any, D = any> {
  readonly name: N;
  /** Undo; `done` is undefined when the step's act may or may not have happened. */
  readonly undo?: (ctx: StepContext, intent: I, done: D | undefined) => Promise<void> | void;
}

/** What one run of a step does; the run supplies these, the table the rest. */
export interface StepBody<I = unknown, D = unknown> {
  /** What the step means to do, journaled before it acts; what undo needs for a half-done step. */
  plan?(ctx: StepContext): Promise<I> | I;
  run(ctx: StepContext, intent: I): Promise<D> | D;
}

/** The name of the commit point, which fault injection can target like a step. */
export const COMMIT_STEP = 'commit';

export interface OperationTable<S extends readonly StepDeclaration[] = readonly StepDeclaration[]> {
  readonly op: string;
  readonly steps: S;
  /** The step names in order, then the commit point. */
  readonly stepNames: readonly (S[number]['name'] | typeof COMMIT_STEP)[];
}

type IntentOf<S> = S extends { undo: (ctx: StepContext, intent: infer I, ...rest: any[]) => unknown } ? I : unknown;

/** The bodies a run supplies: exactly one per declared step, its intent typed by the step's undo. */
export type StepBodies<S extends readonly StepDeclaration[]> = { [D in S[number] as D['name']]: StepBody<IntentOf<D>, any> };

/** Every operation by name, for recovery (which knows an operation only by the journal's name). */
const OPERATIONS = new Map<string, OperationTable>();

/** Declares an operation's steps and undos, once, at module level. */
export function defineOperation<const S extends readonly StepDeclaration[]>(op: string, steps: S): OperationTable<S> {
  const names = steps.map((s) => s.name);
  if (new Set(names).size !== names.length || names.includes(COMMIT_STEP)) throw new Error(`operation ${op}: step names must be unique and not '${COMMIT_STEP}'`);
  const table: OperationTable<S> = Object.freeze({ op, steps, stepNames: Object.freeze([...names, COMMIT_STEP]) });
  OPERATIONS.set(op, table);
  return table;
}

/** Every step name any operation declares (what MBAM_VSS_FAULT may name). */
export function declaredStepNames(): Set<string> {
  return new Set([...OPERATIONS.values()].flatMap((t) => t.stepNames));
}

export interface StepReport {
  step: string;
  status: 'done' | 'failed' | 'undone' | 'undo-failed' | 'not-needed';
  detail?: string;
}

export interface RollbackReport {
  op: string;
  txid: string;
  startedAt: string;
  complete: boolean;
  steps: StepReport[];
}

/**
 * Runs the steps as one transaction. Throws the original failure after a complete rollback (its
 * category kept for input and precondition failures, else 'failed'), or an 'incomplete' error when
 * some undo failed (the journal stays for `status` and the next run).
 */
export async function runTransaction<S extends readonly StepDeclaration[]>(
  ctx: StepContext,
  table: OperationTable<S>,
  args: Record<string, unknown>,
  bodies: StepBodies<S>,
): Promise<StepReport[]> {
  const { op } = table;
  // A misspelt fault would otherwise make a fault test pass without injecting anything.
  checkFaultSpec(declaredStepNames());
  const journal = Journal.begin(ctx.stateDir, op, args);
  const reports: StepReport[] = [];
  const completed: { def: StepDeclaration; intent: unknown; done: unknown; acted: boolean }[] = [];
  try {
    for (const def of table.steps) {
      const body = (bodies as Record<string, StepBody<unknown, unknown>>)[def.name]!;
      const intent = body.plan ? await body.plan(ctx) : undefined;
      journal.append({ t: 'intent', step: def.name, data: intent });
      const entry = { def, intent, done: undefined as unknown, acted: false };
      completed.push(entry);
      injectFault(def.name, 'intent');
      entry.done = await body.run(ctx, intent);
      injectFault(def.name, 'after');
      journal.append({ t: 'done', step: def.name, data: entry.done });
      entry.acted = true;
      const notNeeded = (entry.done as { notNeeded?: boolean } | undefined)?.notNeeded === true;
      reports.push({ step: def.name, status: notNeeded ? 'not-needed' : 'done' });
    }
    journal.append({ t: 'intent', step: COMMIT_STEP });
    injectFault(COMMIT_STEP, 'intent');
    journal.append({ t: 'commit' });
    injectFault(COMMIT_STEP, 'after');
    journal.finish();
    return reports;
  } catch (failure) {
    const failed = completed.find((c) => !c.acted);
    reports.push({ step: failed?.def.name ?? COMMIT_STEP, status: 'failed', detail: (failure as Error).message });
    ctx.log(`step ${failed?.def.name ?? COMMIT_STEP} failed: ${(failure as Error).message}; rolling back`);
    const undoReports = await undoSteps(
      ctx,
      journal,
      completed.reverse().map((c) => ({ def: c.def, intent: c.intent, done: c.acted ? c.done : undefined })),
    );
    reports.push(...undoReports);
    const err = failureAfterRollback(failure, undoReports, op);
    err.details = { steps: reports };
    throw err;
  }
}

async function undoSteps(
  ctx: StepContext,
  journal: Journal,
  steps: { def: StepDeclaration | undefined; name?: string; intent: unknown; done: unknown }[],
): Promise<StepReport[]> {
  const reports: StepReport[] = [];
  let complete = true;
  for (const s of steps) {
    const name = s.def?.name ?? s.name ?? '?';
    if (!s.def?.undo) {
      if (!s.def) {
        complete = false;
        reports.push({ step: name, status: 'undo-failed', detail: 'no undo is known for this step (journal from another version?)' });
      }
      continue;
    }
    journal.append({ t: 'undo', step: name });
    try {
      await s.def.undo(ctx, s.intent, s.done);
      journal.append({ t: 'undone', step: name });
      reports.push({ step: name, status: 'undone' });
      ctx.log(`  undone: ${name}`);
    } catch (e) {
      complete = false;
      const msg = (e as Error).message ?? String(e);
      journal.append({ t: 'undo-failed', step: name, error: msg });
      reports.push({ step: name, status: 'undo-failed', detail: msg });
      ctx.log(`  could not undo ${name}: ${msg}`);
    }
  }
  if (complete) journal.finish();
  else journal.append({ t: 'rollback-incomplete', at: new Date().toISOString() });
  return reports;
}

function failureAfterRollback(failure: unknown, undo: StepReport[], op: string): VssError {
  const left = undo.filter((u) => u.status === 'undo-failed');
  if (left.length) {
    return new VssError(HR.E_FAIL, {
      message: `${op} failed (${(failure as Error).message}) and the rollback did not complete: ${left.map((l) => `${l.step}: ${l.detail}`).join('; ')}`,
      category: 'incomplete',
      cause: failure,
      hint: 'Run `mbam-vss status` to see what is left; the next install or uninstall retries the rollback first.',
    });
  }
  if (failure instanceof VssError) {
    if (failure.category === 'input' || failure.category === 'precondition') return failure;
    return new VssError(failure.hresult, { message: `${failure.message} (rolled back)`, category: 'failed', cause: failure, ...(failure.hint ? { hint: failure.hint } : {}) });
  }
  return new VssError(HR.E_FAIL, { message: `${op} failed and was rolled back: ${(failure as Error).message ?? failure}`, category: 'failed', cause: failure });
}

/**
 * Finishes whatever transaction a previous run left: a committed one is cleaned up, an unfinished
 * one is rolled back from its journal. Returns undefined when there was none. Throws an
 * 'incomplete' error when the rollback still cannot complete. Callers hold the state lock.
 */
export async function recoverUnfinished(ctx: StepContext): Promise<RollbackReport | undefined> {
  const state = readJournal(ctx.stateDir, { cleanUpEmpty: true });
  if (!state) return undefined;
  const journal = Journal.resume(ctx.stateDir, state);
  const report: RollbackReport = { op: state.begin.op, txid: state.begin.txid, startedAt: state.begin.at, complete: true, steps: [] };
  if (state.committed) {
    journal.finish();
    ctx.log(`found a committed ${state.begin.op} (${state.begin.at}) whose clean-up was interrupted; finished it`);
    return report;
  }
  ctx.log(`found an unfinished ${state.begin.op} started ${state.begin.at} (pid ${state.begin.pid}); rolling it back first`);
  const table = OPERATIONS.get(state.begin.op);
  const pending = pendingUndo(state);
  report.steps = await undoSteps(
    ctx,
    journal,
    pending.map((s) => ({ def: table?.steps.find((d) => d.name === s.step), name: s.step, intent: s.intent, done: s.done?.data })),
  );
  report.complete = !report.steps.some((s) => s.status === 'undo-failed');
  if (!report.complete) {
    throw new VssError(HR.E_FAIL, {
      message: `an unfinished ${state.begin.op} from ${state.begin.at} could not be rolled back: ${report.steps.filter((s) => s.status === 'undo-failed').map((s) => `${s.step}: ${s.detail}`).join('; ')}`,
      category: 'incomplete',
      hint: 'Fix the cause (see `mbam-vss status`), then run the command again; it retries the rollback first.',
    });
  }
  return report;
}

/** Steps begun and not yet undone, latest first (the commit marker has no undo). */
function pendingUndo(state: JournalState) {
  return state.steps.filter((s) => s.step !== COMMIT_STEP && !s.undone).reverse();
}
