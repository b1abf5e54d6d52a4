/**
 * T-SQL snapshot backup (SQL Server 2022+): suspend the MBAM databases' writes on one session,
 * take the storage snapshot, then `BACKUP … WITH METADATA_ONLY`, which thaws them and records the
 * backup. The freeze belongs to that session: it is pinned (a pool of one, never shared), its
 * @@SPID recorded, and before the metadata backup the server is asked whether that same session
 * still holds the suspension — a pool would silently reconnect with a new session after a drop.
 * SQL Server has no timeout of its own for a suspension, so the deadline is ours: when it passes,
 * the connection is closed, which thaws the databases at once.
 */
import type { SqlEndpoint } from './target.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { SqlServerConnection, describeServer } from './connection.js';
import { quoteIdentifier, quoteStringLiteral } from './quote.js';

export interface FreezeOptions {
  /** When the freeze must be over, from the moment the suspension is confirmed (VSS: 60 s). */
  deadlineMs?: number;
  connectTimeoutMs?: number;
}

export type FreezeState = 'suspended' | 'backed-up' | 'aborted' | 'expired';

function identifierList(databases: string[]): string {
  return databases.map((d) => quoteIdentifier(d, 'database')).join(', ');
}

export function suspendStatement(databases: string[], on: boolean): string {
  const value = on ? 'ON' : 'OFF';
  return databases.length === 1
    ? `ALTER DATABASE ${quoteIdentifier(databases[0]!, 'database')} SET SUSPEND_FOR_SNAPSHOT_BACKUP = ${value}`
    : `ALTER SERVER CONFIGURATION SET SUSPEND_FOR_SNAPSHOT_BACKUP = ${value} (GROUP = (${identifierList(databases)}))`;
}

export function metadataBackupStatement(databases: string[], path: string): string {
  const what = databases.length === 1 ? `DATABASE ${quoteIdentifier(databases[0]!, 'database')}` : `GROUP ${identifierList(databases)}`;
  return `BACKUP ${what} TO DISK = ${quoteStringLiteral(path, 'backup path')} WITH METADATA_ONLY, FORMAT`;
}

export class SnapshotFreeze {
  private timer: NodeJS.Timeout | undefined;
  state: FreezeState = 'suspended';
  readonly suspendedAt = Date.now();

  private constructor(
    private readonly conn: SqlServerConnection,
    readonly databases: string[],
    /** The session that holds the suspension. */
    readonly spid: number,
    deadlineMs: number,
  ) {
    this.timer = setTimeout(() => void this.expire(), deadlineMs);
    this.timer.unref?.();
  }

  get server(): string {
    return this.conn.name;
  }

  /** Suspends the databases' writes on a pinned session and confirms the server holds them. */
  static async begin(server: SqlEndpoint, databases: string[], opts: FreezeOptions = {}): Promise<SnapshotFreeze> {
    if (databases.length === 0) throw new VssError(HR.E_INVALIDARG, { message: 'freeze: no databases', category: 'input' });
    if (databases.length > 64) {
      throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, { message: `freeze: ${databases.length} databases; SQL Server suspends at most 64 in one group (error 925)` });
    }
    const deadlineMs = opts.deadlineMs ?? 60_000;
    // The session must be up well inside the freeze budget.
    const conn = await SqlServerConnection.open(
      server,
      // tedious waits 5 s by default for a cancelled request; a freeze cannot wait past its deadline.
      { connectTimeoutMs: opts.connectTimeoutMs ?? Math.min(15_000, deadlineMs), requestTimeoutMs: deadlineMs, cancelTimeoutMs: Math.min(5_000, deadlineMs) },
      1,
    );
    if (conn.identity.majorVersion < 16) {
      await conn.close();
      throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, {
        message: `SQL Server ${describeServer(server)} is version ${conn.identity.majorVersion}; T-SQL snapshot backup needs SQL Server 2022 (16) or later`,
        category: 'precondition',
        hint: 'On Windows the SQL Server VSS writer freezes these databases for the snapshot; use the VSS path there.',
      });
    }
    try {
      await conn.batch('suspend', suspendStatement(databases, true), 'suspend for snapshot backup');
    } catch (e) {
      await conn.close();
      throw e;
    }
    const freeze = new SnapshotFreeze(conn, databases, conn.identity.spid, deadlineMs);
    try {
      await freeze.verifyHeld();
    } catch (e) {
      await freeze.abort();
      throw e;
    }
    return freeze;
  }

  /** Fails unless this same session (by @@SPID) still holds every database's suspension. */
  async verifyHeld(): Promise<void> {
    if (this.state !== 'suspended') {
      throw new VssError(this.state === 'expired' ? HR.VSS_E_WRITERERROR_TIMEOUT : HR.VSS_E_BAD_STATE, {
        message: `freeze on ${this.server} is ${this.state}${this.state === 'expired' ? ': the deadline passed and the databases were thawed' : ''}`,
      });
    }
    // Joined to a one-row source so that @@SPID comes back even when nothing is suspended.
    const rows = await this.conn.query<{ database: string | null; suspendSessionId: number | null; spid: number }>(
      'suspend-status',
      'SELECT @@SPID AS spid, s.db_name AS [database], s.suspend_session_id AS suspendSessionId FROM (SELECT 1 AS one) AS x LEFT JOIN sys.dm_server_suspend_status AS s ON 1 = 1',
      {},
      'check the suspension',
    );
    const askedFrom = Number(rows[0]?.spid);
    if (askedFrom !== this.spid) {
      throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, {
        message: `freeze on ${this.server}: the suspending session ${this.spid} was lost (now on session ${askedFrom}); its databases were thawed, so the snapshot is not consistent`,
      });
    }
    for (const d of this.databases) {
      const held = rows.find((r) => r.database === d);
      if (!held || held.suspendSessionId !== this.spid) {
        throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, {
          message: `freeze on ${this.server}: database '${d}' is ${held ? `held by session ${held.suspendSessionId}` : 'no longer suspended'}, not by session ${this.spid}`,
        });
      }
    }
  }

  /**
   * After the storage snapshot: checks the suspension is still ours, then records the backup with
   * `BACKUP … WITH METADATA_ONLY`, which also thaws the databases.
   */
  async backupMetadata(path: string): Promise<void> {
    try {
      await this.verifyHeld();
      await this.conn.batch('backup-metadata', metadataBackupStatement(this.databases, path), 'BACKUP … WITH METADATA_ONLY');
      this.state = 'backed-up';
    } catch (e) {
      await this.abort();
      throw e;
    } finally {
      this.clearTimer();
      await this.conn.close();
    }
  }

  /** Ends the freeze without a backup: `OFF` on the session, and the session is closed anyway. */
  async abort(): Promise<void> {
    this.clearTimer();
    if (this.state === 'suspended') {
      this.state = 'aborted';
      await this.conn.batch('resume', suspendStatement(this.databases, false), 'resume after abort').catch(() => {});
    }
    await this.conn.close();
  }

  private async expire(): Promise<void> {
    if (this.state !== 'suspended') return;
    this.state = 'expired';
    // Closing the suspending session thaws at once, even if a request on it is stuck.
    await this.conn.close();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
