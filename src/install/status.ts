/**
 * `status`: the registered writers, unreadable registry entries and any unfinished transaction's
 * journal. Apart from operations.ts (which re-exports it) so that `mbam-vss status` does not load
 * the transactions and their SQL Server checks (issue #16: start-up).
 */
import type { Platform } from '../platform/platform.js';
import { readJournal, type JournalState } from './journal.js';

export interface StatusReport {
  stateDir: string;
  writers: Awaited<ReturnType<Platform['listWriters']>>;
  problems: Awaited<ReturnType<Platform['registryProblems']>>;
  unfinished?: {
    op: string;
    startedAt: string;
    pid: number;
    args: Record<string, unknown>;
    committed: boolean;
    rollbackIncomplete: boolean;
    steps: { step: string; acted: 'yes' | 'maybe'; undone: boolean; undoError?: string }[];
  };
}

export async function status(opts: { platform: Platform; stateDir: string }): Promise<StatusReport> {
  const report: StatusReport = { stateDir: opts.stateDir, writers: await opts.platform.listWriters(), problems: await opts.platform.registryProblems() };
  const j: JournalState | undefined = readJournal(opts.stateDir);
  if (j) {
    report.unfinished = {
      op: j.begin.op,
      startedAt: j.begin.at,
      pid: j.begin.pid,
      args: j.begin.args,
      committed: j.committed,
      rollbackIncomplete: j.rollbackIncomplete,
      steps: j.steps.map((s) => ({ step: s.step, acted: s.done ? 'yes' : 'maybe', undone: s.undone, ...(s.undoError ? { undoError: s.undoError } : {}) })),
    };
  }
  return report;
}
