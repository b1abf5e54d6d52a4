/**
 * T-SQL snapshot backup (SQL Server 2022+): suspend the MBAM databases' writes on one session,
 * take the storage snapshot, then `BACKUP … WITH METADATA_ONLY`, which thaws them and records the
 * backup. The freeze belongs to that session: a dedicated connection (src/sql/session.ts) that no
 * pool can reap or silently replace, its @@SPID recorded and checked before the metadata backup.
 * SQL Server has no timeout of its own for a suspension, so the deadline is ours: every request
 * on the session gets only the time left, and when the deadline passes the socket is destroyed,
 * which ends the session and thaws the databases at once, even while a request is in flight.
 *
 * The suspension is COPY_ONLY unless asked otherwise: a snapshot the tool takes on its own must
 * not clear the differential bitmap nor become the differential base the DBA's own backup chain
 * relies on ("MODE = COPY_ONLY ... to not clear the differential bitmap", Learn: Create a
 * Transact-SQL snapshot backup).
 */
import type { SqlEndpoint } from './target.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { abortedError, describeServer, type ServerIdentity } from './connection.js';
import { DedicatedSession } from './session.js';
import { quoteIdentifier, quoteStringLiteral, tagged } from './quote.js';

export interface FreezeOptions {
  /** When the freeze must be over, from the moment the suspension is asked for (VSS: 60 s). */
  deadlineMs?: number;
  connectTimeoutMs?: number;
  /** false: a full (non-copy-only) snapshot backup that becomes the differential base. Default true. */
  copyOnly?: boolean;
  /** Aborting ends the freeze at once: the session is closed, which thaws. */
  signal?: AbortSignal;
}

export type FreezeState = 'suspended' | 'backed-up' | 'aborted' | 'expired';

/**
 * Builds that fix the documented suspend-state bugs: KB5023106 (CU1: 3081 "was previously
 * suspended" after a suspend in single-user mode) and KB5048510 (CU16: after a failed
 * ALTER SERVER CONFIGURATION suspend, databases stay suspended while the count says 0).
 */
export const SUSPEND_FIXES = {
  database: { build: 4003, cu: 'CU1', version: '16.0.4003.1', kb: 'KB5023106' },
  group: { build: 4165, cu: 'CU16', version: '16.0.4165.4', kb: 'KB5048510' },
} as const;

/** Refuses a server without T-SQL snapshot backup, or one whose build has the documented suspend bugs. */
export function checkSuspendSupport(server: SqlEndpoint, id: ServerIdentity, databases: number): void {
  if (id.majorVersion < 16) {
    throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, {
      message: `SQL Server ${describeServer(server)} is version ${id.majorVersion}; T-SQL snapshot backup needs SQL Server 2022 (16) or later`,
      category: 'precondition',
      hint: 'On Windows the SQL Server VSS writer freezes these databases for the snapshot; use the VSS path there.',
    });
  }
  if (id.majorVersion > 16) return;
  const fix = databases > 1 ? SUSPEND_FIXES.group : SUSPEND_FIXES.database;
  const build = Number(id.productVersion.split('.')[2] ?? 0);
  if (build < fix.build) {
    throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, {
      message: `SQL Server ${describeServer(server)} is build ${id.productVersion}${id.updateLevel ? ` (${id.updateLevel})` : ''}; suspending ${databases > 1 ? 'a group of databases' : 'a database'} for snapshot backup needs ${fix.version} (${fix.cu}) or later, which fixes ${fix.kb}`,
      category: 'precondition',
      hint: `Install SQL Server 2022 ${fix.cu} or a later cumulative update (${fix.kb}: without it a database can stay suspended, or a later suspend fails with error 3081).`,
    });
  }
}

function identifierList(databases: string[]): string {
  return databases.map((d) => quoteIdentifier(d, 'database')).join(', ');
}

export function suspendStatement(databases: string[], on: boolean, copyOnly = true): string {
  if (!on) {
    return databases.length === 1
      ? `ALTER DATABASE ${quoteIdentifier(databases[0]!, 'database')} SET SUSPEND_FOR_SNAPSHOT_BACKUP = OFF`
      : `ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = OFF (GROUP = (${identifierList(databases)}))`;
  }
  return databases.length === 1
    ? `ALTER DATABASE ${quoteIdentifier(databases[0]!, 'database')} SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON${copyOnly ? ' (MODE = COPY_ONLY)' : ''}`
    : `ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ON (GROUP = (${identifierList(databases)})${copyOnly ? ', MODE = COPY_ONLY' : ''})`;
}

export function metadataBackupStatement(databases: string[], path: string, copyOnly = true): string {
  const what = databases.length === 1 ? `DATABASE ${quoteIdentifier(databases[0]!, 'database')}` : `GROUP ${identifierList(databases)}`;
  return `BACKUP ${what} TO DISK = ${quoteStringLiteral(path, 'backup path')} WITH METADATA_ONLY, FORMAT${copyOnly ? ', COPY_ONLY' : ''}`;
}

export class SnapshotFreeze {
  private timer: NodeJS.Timeout | undefined;
  state: FreezeState = 'suspended';
  readonly suspendedAt = Date.now();
  private readonly onAbort = () => this.end('aborted');

  private constructor(
    private readonly session: DedicatedSession,
    readonly databases: string[],
    /** The session that holds the suspension. */
    readonly spid: number,
    /** Date.now() by which the freeze is over. */
    readonly deadline: number,
    readonly copyOnly: boolean,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => this.end('expired'), Math.max(0, deadline - Date.now()));
    this.timer.unref?.();
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get server(): string {
    return this.session.name;
  }

  /** Suspends the databases' writes on a dedicated session and confirms the server holds them. */
  static async begin(server: SqlEndpoint, databases: string[], opts: FreezeOptions = {}): Promise<SnapshotFreeze> {
    if (databases.length === 0) throw new VssError(HR.E_INVALIDARG, { message: 'freeze: no databases', category: 'input' });
    if (databases.length > 64) {
      throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, { message: `freeze: ${databases.length} databases; SQL Server suspends at most 64 in one group (error 925)` });
    }
    const deadlineMs = opts.deadlineMs ?? 60_000;
    const deadline = Date.now() + deadlineMs;
    const copyOnly = opts.copyOnly ?? true;
    // The session must be up well inside the freeze budget; a cancelled request cannot wait past it.
    const session = await DedicatedSession.open(server, { connectTimeoutMs: opts.connectTimeoutMs ?? Math.min(15_000, deadlineMs), cancelTimeoutMs: Math.min(5_000, deadlineMs), ...(opts.signal ? { signal: opts.signal } : {}) });
    try {
      checkSuspendSupport(server, session.identity, databases.length);
      const left = deadline - Date.now();
      if (left <= 0) throw new VssError(HR.VSS_E_WRITERERROR_TIMEOUT, { message: `freeze on ${session.name}: the deadline passed before the suspension was asked for` });
      await session.execute(tagged('suspend', suspendStatement(databases, true, copyOnly)), { operation: 'suspend for snapshot backup', timeoutMs: left });
    } catch (e) {
      session.destroy();
      if (opts.signal?.aborted) throw abortedError(session.name, 'suspend for snapshot backup', opts.signal);
      throw e;
    }
    const freeze = new SnapshotFreeze(session, databases, session.identity.spid, deadline, copyOnly, opts.signal);
    try {
      await freeze.verifyHeld();
    } catch (e) {
      await freeze.abort();
      throw e;
    }
    return freeze;
  }

  private remaining(operation: string): number {
    const left = this.deadline - Date.now();
    if (left <= 0) {
      this.end('expired');
      throw this.notHeld(operation);
    }
    return left;
  }

  private notHeld(operation: string): VssError {
    if (this.state === 'aborted' && this.signal?.aborted) return abortedError(this.server, operation, this.signal);
    return new VssError(this.state === 'expired' ? HR.VSS_E_WRITERERROR_TIMEOUT : HR.VSS_E_BAD_STATE, {
      message: `freeze on ${this.server} is ${this.state}${this.state === 'expired' ? ': the deadline passed and the databases were thawed' : ''}`,
    });
  }

  /** A request on the session: the time left, and the freeze's own verdict if it ended meanwhile. */
  private async request(operation: string, statement: string, params?: Record<string, string>): Promise<Record<string, unknown>[]> {
    if (this.state !== 'suspended') throw this.notHeld(operation);
    const timeoutMs = this.remaining(operation);
    try {
      return await this.session.execute(statement, { operation, timeoutMs, ...(params ? { params } : {}) });
    } catch (e) {
      if (this.ended()) throw this.notHeld(operation);
      throw e;
    }
  }

  /** Fails unless this same session (by @@SPID) is alive and every database is still suspended. */
  async verifyHeld(): Promise<void> {
    if (this.state !== 'suspended') throw this.notHeld('check the suspension');
    if (!this.session.open) {
      throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, {
        message: `freeze on ${this.server}: the suspending session ${this.spid} was lost (${this.session.closedReason}); its databases were thawed, so the snapshot is not consistent`,
      });
    }
    // DATABASEPROPERTYEX needs no server permission (sys.dm_server_suspend_status needs VIEW SERVER
    // PERFORMANCE STATE). The session is ours alone, and a database suspended by us cannot be
    // suspended by another session (3081), so "our session is alive and the database is suspended"
    // means we hold it.
    const params = Object.fromEntries(this.databases.map((d, i) => [`db${i}`, d]));
    const cols = this.databases.map((_, i) => `CAST(DATABASEPROPERTYEX(@db${i}, 'IsDatabaseSuspendedForSnapshotBackup') AS int) AS s${i}`).join(', ');
    let rows: Record<string, unknown>[];
    try {
      rows = await this.request('check the suspension', tagged('suspend-status', `SELECT @@SPID AS spid, ${cols}`), params);
    } catch (e) {
      if (!this.session.open && this.state === 'suspended') {
        throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, {
          message: `freeze on ${this.server}: the suspending session ${this.spid} was lost (${this.session.closedReason}); its databases were thawed, so the snapshot is not consistent`,
          cause: e,
        });
      }
      throw e;
    }
    const askedFrom = Number(rows[0]?.['spid']);
    if (askedFrom !== this.spid) {
      throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, {
        message: `freeze on ${this.server}: the suspending session ${this.spid} was lost (now on session ${askedFrom}); its databases were thawed, so the snapshot is not consistent`,
      });
    }
    this.databases.forEach((d, i) => {
      if (Number(rows[0]?.[`s${i}`]) !== 1) {
        throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, { message: `freeze on ${this.server}: database '${d}' is no longer suspended, so the snapshot is not consistent` });
      }
    });
  }

  /**
   * After the storage snapshot: checks the suspension is still ours, then records the backup with
   * `BACKUP … WITH METADATA_ONLY`, which also thaws the databases.
   */
  async backupMetadata(path: string): Promise<void> {
    try {
      await this.verifyHeld();
      await this.request('BACKUP … WITH METADATA_ONLY', tagged('backup-metadata', metadataBackupStatement(this.databases, path, this.copyOnly)));
      this.state = 'backed-up';
    } catch (e) {
      await this.abort();
      throw e;
    } finally {
      this.clearTimer();
      await this.session.close();
    }
  }

  /** Ends the freeze without a backup: `OFF` on the session, and the session is closed anyway. */
  async abort(): Promise<void> {
    this.clearTimer();
    if (this.state === 'suspended') {
      this.state = 'aborted';
      await this.session
        .execute(tagged('resume', suspendStatement(this.databases, false)), { operation: 'resume after abort', timeoutMs: Math.max(1, Math.min(5_000, this.deadline - Date.now())) })
        .catch(() => {});
    }
    await this.session.close();
  }

  /** The deadline or an abort: the socket goes at once, which thaws even if a request is stuck. */
  private end(state: 'expired' | 'aborted'): void {
    this.clearTimer();
    if (this.state !== 'suspended') return;
    this.state = state;
    this.session.destroy();
  }

  private ended(): boolean {
    return this.state === 'expired' || this.state === 'aborted';
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
