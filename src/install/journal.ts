/**
 * The write-ahead journal of a registration transaction: one JSON record a line in
 * `<state>/transaction/journal.log`, each appended and fsynced before the next action. A record
 * torn by a crash is the last line, and since the intent is written before the act, a torn intent
 * means the act never began; the reader drops it, and recovery cuts it off before appending.
 *
 * Anything else that is not a record (a line in the middle, a record of no known kind, a first
 * record that is not 'begin') is not a crash of ours: the journal is refused, naming the line, and
 * kept untouched for an operator, since it is the only account of what an interrupted run did.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { TOOL_VERSION } from '../version.js';
import { appendSynced, ensurePrivateDir, fsyncDir, stateAccessError } from '../platform/state.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';

export type JournalRecord =
  | { t: 'begin'; op: string; txid: string; at: string; tool: string; pid: number; args: Record<string, unknown> }
  | { t: 'intent'; step: string; data?: unknown }
  | { t: 'done'; step: string; data?: unknown }
  | { t: 'undo'; step: string }
  | { t: 'undone'; step: string }
  | { t: 'undo-failed'; step: string; error: string }
  | { t: 'commit' }
  | { t: 'rollback-incomplete'; at: string };

export interface JournalStep {
  step: string;
  intent?: unknown;
  /** Present when the step's act completed. */
  done?: { data?: unknown };
  undone: boolean;
  undoError?: string;
}

export interface JournalState {
  path: string;
  begin: Extract<JournalRecord, { t: 'begin' }>;
  steps: JournalStep[];
  committed: boolean;
  rollbackIncomplete: boolean;
  /** Lines that could not be read (a torn last line after a crash). */
  tornLines: number;
  /**
   * The last line when it has no newline (a crash mid-append): its byte offset, and whether it is
   * a whole record (only the newline lost) or torn. Recovery mends it before appending.
   */
  tail?: { offset: number; whole: boolean };
}

export function transactionDir(stateDir: string): string {
  return join(stateDir, 'transaction');
}

export function journalPath(stateDir: string): string {
  return join(transactionDir(stateDir), 'journal.log');
}

export class Journal {
  private constructor(
    readonly stateDir: string,
    readonly path: string,
  ) {}

  static begin(stateDir: string, op: string, args: Record<string, unknown>): Journal {
    const dir = transactionDir(stateDir);
    ensurePrivateDir(stateDir);
    fs.mkdirSync(dir, { mode: 0o700 });
    const j = new Journal(stateDir, journalPath(stateDir));
    j.append({ t: 'begin', op, txid: randomUUID(), at: new Date().toISOString(), tool: TOOL_VERSION, pid: process.pid, args });
    fsyncDir(dir);
    fsyncDir(stateDir);
    return j;
  }

  /**
   * Continues an existing journal (recovery appends its undo records to it). A last line without
   * its newline is mended first: a torn record is cut off (the reader drops it anyway), a whole one
   * gets its newline; else the next record would be glued onto it and both be lost.
   */
  static resume(stateDir: string, state?: Pick<JournalState, 'tail'>): Journal {
    const j = new Journal(stateDir, journalPath(stateDir));
    if (state?.tail?.whole) appendSynced(j.path, '');
    else if (state?.tail) {
      const fd = fs.openSync(j.path, 'r+');
      try {
        fs.ftruncateSync(fd, state.tail.offset);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    return j;
  }

  append(r: JournalRecord): void {
    appendSynced(this.path, JSON.stringify(r));
  }

  /** Removes the journal: the transaction is over (committed, or rolled back completely). */
  finish(): void {
    fs.rmSync(transactionDir(this.stateDir), { recursive: true, force: true });
    fsyncDir(this.stateDir);
  }
}

/** Reads the journal, or undefined when no transaction is unfinished. */
export function readJournal(stateDir: string, opts: { cleanUpEmpty?: boolean } = {}): JournalState | undefined {
  const dir = transactionDir(stateDir);
  const path = journalPath(stateDir);
  const text = readJournalText(dir, path);
  if (text === undefined) {
    // A crash between creating the directory and syncing the begin record leaves it empty.
    if (opts.cleanUpEmpty && fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const records: JournalRecord[] = [];
  let torn = 0;
  let tail: JournalState['tail'];
  let begin: Extract<JournalRecord, { t: 'begin' }> | undefined;
  const lines = text.split('\n');
  let offset = 0;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    const lineOffset = offset;
    offset += Buffer.byteLength(line, 'utf8') + 1;
    const last = n === lines.length - 1;
    if (!line.trim()) continue;
    let value: unknown;
    let problem: string | undefined;
    try {
      value = JSON.parse(line);
      problem = recordProblem(value);
    } catch {
      problem = 'not JSON';
    }
    if (last) {
      // No newline after it: the append a crash interrupted.
      tail = { offset: lineOffset, whole: !problem };
      if (problem) {
        torn++;
        continue;
      }
    }
    if (problem) throw corruptJournal(path, dir, n + 1, problem, begin);
    const r = value as JournalRecord;
    if (!begin) {
      if (r.t !== 'begin') throw corruptJournal(path, dir, n + 1, `the first record is not 'begin' but '${r.t}'`, begin);
      begin = r;
    } else if (r.t === 'begin') {
      throw corruptJournal(path, dir, n + 1, "a second 'begin' record (two transactions in one journal)", begin);
    }
    records.push(r);
  }
  if (!begin) {
    // Nothing was begun: the begin record itself was torn. No act can have happened.
    if (opts.cleanUpEmpty) fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  const steps: JournalStep[] = [];
  const find = (name: string) => steps.find((s) => s.step === name);
  let committed = false;
  let rollbackIncomplete = false;
  for (const r of records) {
    switch (r.t) {
      case 'intent':
        steps.push({ step: r.step, intent: r.data, undone: false });
        break;
      case 'done': {
        const s = find(r.step);
        if (s) s.done = { data: r.data };
        break;
      }
      case 'undone': {
        const s = find(r.step);
        if (s) {
          s.undone = true;
          delete s.undoError;
        }
        break;
      }
      case 'undo-failed': {
        const s = find(r.step);
        if (s) s.undoError = r.error;
        break;
      }
      case 'commit':
        committed = true;
        break;
      case 'rollback-incomplete':
        rollbackIncomplete = true;
        break;
    }
  }
  return { path, begin, steps, committed, rollbackIncomplete, tornLines: torn, ...(tail ? { tail } : {}) };
}

/** The journal's text, or undefined when there is none; what is in the way of it is an error. */
function readJournalText(dir: string, path: string): string | undefined {
  let fd: number;
  try {
    // Not through a symbolic link: the journal drives undo, and recovery appends to it.
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') {
      throw new VssError(HR.E_INVALIDARG, {
        message: `${dir} is a file, not the journal's directory (mbam-vss keeps an unfinished transaction's journal in ${path})`,
        category: 'input',
        hint: `mbam-vss did not make it a file. Look at it, move it aside (mv '${dir}' '${dir}.moved'), then run the command again. Nothing was changed.`,
      });
    }
    if (code === 'ELOOP' || code === 'EISDIR') throw corruptJournal(path, dir, 0, code === 'ELOOP' ? 'a symbolic link, not the journal file' : 'a directory, not the journal file');
    throw stateAccessError(e, path, 'read');
  }
  try {
    if (!fs.fstatSync(fd).isFile()) throw corruptJournal(path, dir, 0, 'not a regular file');
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const STEP_RECORDS = new Set(['intent', 'done', 'undo', 'undone', 'undo-failed']);

/** Why a parsed line is not a journal record, or undefined when it is one. */
function recordProblem(v: unknown): string | undefined {
  if (!isObject(v) || typeof v['t'] !== 'string') return 'not a journal record (expected an object with a "t" field)';
  const t = v['t'];
  const str = (k: string) => typeof v[k] === 'string';
  if (t === 'begin') {
    return str('op') && str('txid') && str('at') && typeof v['pid'] === 'number' && isObject(v['args'])
      ? undefined
      : "not a journal record: a 'begin' without its op, txid, at, pid and args";
  }
  if (STEP_RECORDS.has(t)) {
    if (!str('step')) return `not a journal record: '${t}' without its step`;
    if (t === 'undo-failed' && !str('error')) return "not a journal record: 'undo-failed' without its error";
    return undefined;
  }
  if (t === 'commit') return undefined;
  if (t === 'rollback-incomplete') return str('at') ? undefined : "not a journal record: 'rollback-incomplete' without its time";
  return `not a journal record (no record is of kind ${JSON.stringify(t).slice(0, 40)})`;
}

function corruptJournal(path: string, dir: string, line: number, problem: string, begin?: Extract<JournalRecord, { t: 'begin' }>): VssError {
  const what = begin ? ` It records an unfinished ${begin.op} started ${begin.at} by pid ${begin.pid}.` : '';
  return new VssError(HR.E_INVALIDARG, {
    message: `transaction journal ${path}${line ? ` line ${line}` : ''}: ${problem}; mbam-vss cannot roll back from a journal it cannot read, so nothing was changed`,
    category: 'input',
    hint:
      `The journal is kept for an operator: it is the only account of what an interrupted install, uninstall or register-writer did.${what} ` +
      `Compare what its intent and done records name with \`mbam-vss writers\` and undo by hand what should not stay, ` +
      `then move it aside (mv '${dir}' '${dir}.damaged') and run the command again.`,
  });
}
