/**
 * The writer handler interface: what an in-process writer (and the hosted writer on Windows)
 * implements. Handlers may be sync or return a promise; a throw or rejection is a writer failure
 * (the VssError's code, else VSS_E_WRITERERROR_NONRETRYABLE), as SetWriterFailure would report.
 */
import type { ApplicationLevelName, BackupTypeName, WriterStateName } from './enums.js';
import { VssError } from './errors.js';
import type { Guid } from './guid.js';
import { HR, WRITER_FAILURE_CODES } from './hresult.js';
import type { WriterComponent, WriterMetadata } from './writer-metadata.js';

export interface WriterEventContext {
  snapshotSetId: Guid;
  backupType: BackupTypeName;
  /** This writer's components taking part. */
  components: WriterComponent[];
  /**
   * Hosted writer, BackupComplete: whether VSS says the backup of every one of `components`
   * succeeded (IVssComponent::GetBackupSucceeded); absent where nothing reports it.
   */
  backupSucceeded?: boolean;
  /**
   * This writer's directory in the backup set: where it leaves files during a backup (SQL metadata
   * backups, certificates), and where it finds them again on restore.
   */
  writerDir?: string;
  /** Freeze and Thaw: when the Freeze-to-Thaw window ends (ms since the epoch). */
  deadline?: number;
  /** Restore: the directory files were restored under (--to); absent when they went back in place. */
  restoreTo?: string;
  log(message: string): void;
}

export type WriterEvent =
  | 'Identify' | 'PrepareForBackup' | 'PrepareForSnapshot' | 'Freeze' | 'Thaw' | 'PostSnapshot'
  | 'Abort' | 'BackupComplete' | 'BackupShutdown' | 'PreRestore' | 'PostRestore';

export interface WriterHandlers {
  onIdentify?(): void | Promise<void>;
  onPrepareBackup?(ctx: WriterEventContext): void | Promise<void>;
  onPrepareSnapshot?(ctx: WriterEventContext): void | Promise<void>;
  onFreeze?(ctx: WriterEventContext): void | Promise<void>;
  onThaw?(ctx: WriterEventContext): void | Promise<void>;
  onPostSnapshot?(ctx: WriterEventContext): void | Promise<void>;
  onAbort?(ctx: WriterEventContext): void | Promise<void>;
  onBackupComplete?(ctx: WriterEventContext): void | Promise<void>;
  onBackupShutdown?(ctx: WriterEventContext): void | Promise<void>;
  onPreRestore?(ctx: WriterEventContext): void | Promise<void>;
  onPostRestore?(ctx: WriterEventContext): void | Promise<void>;
}

export interface InProcessWriter extends WriterHandlers {
  metadata: WriterMetadata;
  /** Freeze goes to FRONT_END writers first, then BACK_END, then SYSTEM; thaw the other way. */
  applicationLevel?: Extract<ApplicationLevelName, 'FRONT_END' | 'BACK_END' | 'SYSTEM'>;
}

/** The handler of each event, and the state a writer is left in when it fails there. */
export const EVENT_HANDLER: Readonly<Record<WriterEvent, { handler: keyof WriterHandlers; failedState: WriterStateName; doneState?: WriterStateName }>> = {
  Identify: { handler: 'onIdentify', failedState: 'FAILED_AT_IDENTIFY' },
  PrepareForBackup: { handler: 'onPrepareBackup', failedState: 'FAILED_AT_PREPARE_BACKUP', doneState: 'STABLE' },
  PrepareForSnapshot: { handler: 'onPrepareSnapshot', failedState: 'FAILED_AT_PREPARE_SNAPSHOT', doneState: 'WAITING_FOR_FREEZE' },
  Freeze: { handler: 'onFreeze', failedState: 'FAILED_AT_FREEZE', doneState: 'WAITING_FOR_THAW' },
  Thaw: { handler: 'onThaw', failedState: 'FAILED_AT_THAW', doneState: 'WAITING_FOR_POST_SNAPSHOT' },
  PostSnapshot: { handler: 'onPostSnapshot', failedState: 'FAILED_AT_POST_SNAPSHOT', doneState: 'WAITING_FOR_BACKUP_COMPLETE' },
  // VSS has no FAILED_AT_ABORT: a failing abort handler leaves the state it had.
  Abort: { handler: 'onAbort', failedState: 'UNKNOWN' },
  BackupComplete: { handler: 'onBackupComplete', failedState: 'FAILED_AT_BACKUP_COMPLETE', doneState: 'STABLE' },
  BackupShutdown: { handler: 'onBackupShutdown', failedState: 'FAILED_AT_BACKUPSHUTDOWN' },
  PreRestore: { handler: 'onPreRestore', failedState: 'FAILED_AT_PRE_RESTORE', doneState: 'STABLE' },
  PostRestore: { handler: 'onPostRestore', failedState: 'FAILED_AT_POST_RESTORE', doneState: 'STABLE' },
};

/** The failure code a handler's throw becomes: its VssError's writer code, else NONRETRYABLE. */
export function writerFailureCode(e: unknown): number {
  if (e instanceof VssError && WRITER_FAILURE_CODES.includes(e.hresult)) return e.hresult;
  return HR.VSS_E_WRITERERROR_NONRETRYABLE;
}

/**
 * What a writer's failure tells the operator beyond its code: its hint, and whether it was a
 * precondition or bad input (the CLI's exit code) rather than a failure.
 */
export function failureDetails(e: unknown): { hint?: string; category?: VssError['category'] } {
  if (!(e instanceof VssError)) return {};
  return { category: e.category, ...(e.hint ? { hint: e.hint } : {}) };
}
