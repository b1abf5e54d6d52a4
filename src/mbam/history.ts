/**
 * The backup history: one JSON line per finished backup in `<state>/history.jsonl`, appended and
 * synced by whoever completed it (the requester, the hosted writer at BackupComplete). `health`
 * reads the newest success to say how old the last restore point is.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { appendSynced, ensurePrivateDir } from '../platform/state.js';

export interface BackupHistoryEntry {
  at: string;
  ok: boolean;
  /** Who recorded it: 'requester' | 'hosted-writer' | another tool's name. */
  by: string;
  server?: string;
  components?: string[];
  backupSet?: string;
  error?: string;
}

export function historyPath(stateDir: string): string {
  return join(stateDir, 'history.jsonl');
}

export function recordBackup(stateDir: string, entry: Omit<BackupHistoryEntry, 'at'> & { at?: string }): void {
  ensurePrivateDir(stateDir);
  appendSynced(historyPath(stateDir), JSON.stringify({ at: new Date().toISOString(), ...entry }));
}

/** Every readable entry, oldest first; a torn last line (a crash mid-append) is skipped. */
export function readHistory(stateDir: string): BackupHistoryEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(historyPath(stateDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: BackupHistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as BackupHistoryEntry;
      if (typeof e.at === 'string' && typeof e.ok === 'boolean') out.push(e);
    } catch {
      // torn line
    }
  }
  return out;
}

export function lastSuccessfulBackup(stateDir: string): BackupHistoryEntry | undefined {
  return readHistory(stateDir).filter((e) => e.ok).sort((a, b) => a.at.localeCompare(b.at)).pop();
}
