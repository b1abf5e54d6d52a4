/**
 * The write-ahead journal of a registration transaction: one JSON record a line in
 * `<state>/transaction/journal.log`, each appended and fsynced before the next action. A record
 * torn by a crash is the last line, and since the intent is written before the act, a torn intent
 * means the act never began; the reader drops it.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { TOOL_VERSION } from '../version.js';
import { appendSynced, ensurePrivateDir, fsyncDir } from '../platform/state.js';

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

  /** Continues an existing journal (recovery appends its undo records to it). */
  static resume(stateDir: string): Journal {
    return new Journal(stateDir, journalPath(stateDir));
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
  const path = journalPath(stateDir);
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      // A crash between creating the directory and syncing the begin record leaves it empty.
      if (opts.cleanUpEmpty) fs.rmSync(transactionDir(stateDir), { recursive: true, force: true });
      return undefined;
    }
    throw e;
  }
  const records: JournalRecord[] = [];
  let torn = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as JournalRecord);
    } catch {
      torn++;
    }
  }
  const begin = records.find((r): r is Extract<JournalRecord, { t: 'begin' }> => r.t === 'begin');
  if (!begin) {
    // Nothing was begun: the begin record itself was torn. No act can have happened.
    if (opts.cleanUpEmpty) fs.rmSync(transactionDir(stateDir), { recursive: true, force: true });
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
  return { path, begin, steps, committed, rollbackIncomplete, tornLines: torn };
}
