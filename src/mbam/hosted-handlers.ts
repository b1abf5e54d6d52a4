/**
 * What the MBAM writer does when it runs as a hosted writer (`mbam-vss serve`): before the
 * snapshot, it checks that its databases are ONLINE and the Recovery certificate is in master;
 * after a successful backup it records it in the history `health` reads; around a restore it runs
 * the operator's commands (e.g. stopping and starting the MBAM IIS application pools).
 */
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import type { WriterHandlers } from '../vss/writer-events.js';
import { runBoundedCommand } from '../util/bounded-command.js';
import { SqlServerConnection } from '../sql/connection.js';
import { discover } from '../sql/discovery.js';
import { recordBackup } from './history.js';
import { sqlTargetOf, type ServerTopology } from './topology.js';

export interface MbamHandlerOptions {
  server: ServerTopology;
  stateDir: string;
  preRestoreCommand?: string;
  postRestoreCommand?: string;
  commandTimeoutMs?: number;
  /** Connect/query timeout of the PrepareSnapshot check. */
  sqlTimeoutMs?: number;
  /** Also record COPY backups (which do not count as the backup of record) in the history. */
  recordCopyBackups?: boolean;
}

export function mbamWriterHandlers(o: MbamHandlerOptions): WriterHandlers {
  const timeout = o.commandTimeoutMs ?? 120_000;
  const run = async (command: string | undefined, what: string) => {
    if (!command) return;
    try {
      await runBoundedCommand(command, { ...process.env, MBAM_VSS_SERVER: o.server.name }, timeout, what);
    } catch (e) {
      throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, { message: (e as Error).message, cause: e });
    }
  };
  return {
    async onPrepareSnapshot() {
      let conn: SqlServerConnection;
      try {
        conn = await SqlServerConnection.open(o.server, { connectTimeoutMs: o.sqlTimeoutMs ?? 15_000, requestTimeoutMs: o.sqlTimeoutMs ?? 15_000 });
      } catch (e) {
        // SQL Server may come back: a retry later can succeed.
        throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, { message: `MBAM writer: ${(e as Error).message}`, cause: e });
      }
      try {
        const d = await discover(conn, sqlTargetOf(o.server));
        for (const db of d.databases) {
          if (!db.exists) throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, { message: `MBAM writer: database '${db.name}' does not exist` });
          if (db.state !== 'ONLINE') throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, { message: `MBAM writer: database '${db.name}' is ${db.state}, not ONLINE` });
        }
        if (o.server.databases.recovery && !d.certificate) {
          throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, { message: "MBAM writer: 'MBAM Recovery Encryption Certificate' is missing from master; a backup of the Recovery database could not be restored elsewhere" });
        }
      } finally {
        await conn.close();
      }
    },
    // `health` trusts the history as "a restore point of MBAM exists": record only a backup that
    // selected MBAM's components, that VSS says succeeded (absent: the in-process requester, which
    // sends BackupComplete only after a successful backup), and that is not a COPY (a copy backup
    // leaves the backup of record alone, e.g. an ad-hoc DiskShadow copy), unless asked.
    onBackupComplete(ctx) {
      if (ctx.components.length === 0) return;
      if (ctx.backupSucceeded === false) return;
      if (ctx.backupType === 'COPY' && !o.recordCopyBackups) return;
      recordBackup(o.stateDir, { ok: true, by: 'hosted-writer', server: o.server.name, components: ctx.components.map((c) => c.componentName) });
    },
    onPreRestore: () => run(o.preRestoreCommand, 'pre-restore command'),
    onPostRestore: () => run(o.postRestoreCommand, 'post-restore command'),
  };
}
