/**
 * Restoring a T-SQL snapshot backup: the database goes OFFLINE (its files are closed and can be
 * replaced), the snapshot's files are put back, then `RESTORE DATABASE … WITH METADATA_ONLY,
 * REPLACE` reads the metadata backup (.bkm) taken at Thaw and brings the database back on those
 * files.
 *
 * A group metadata backup (BACKUP GROUP) is one backup set holding several databases, and RESTORE
 * "selects the first database in the snapshot backup set" unless DBNAME names another (Learn:
 * Create a Transact-SQL snapshot backup). So each database is restored from the set that holds
 * it (RESTORE HEADERONLY … WITH METADATA_ONLY lists them) with DBNAME naming it: without DBNAME,
 * restoring the second MBAM database would restore the first one's metadata in its place.
 *
 * WITH NORECOVERY leaves the databases RESTORING so log backups taken after the snapshot can be
 * applied (RESTORE LOG … WITH STOPAT for a point in time), then RESTORE DATABASE … WITH RECOVERY.
 */
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import type { RequestOptions, SqlServerConnection } from './connection.js';
import { discover } from './discovery.js';
import { quoteIdentifier, quoteStringLiteral } from './quote.js';

/**
 * Timeouts sized for the work, not the driver's 15 s: SET OFFLINE WITH ROLLBACK IMMEDIATE waits
 * for other sessions' transactions to roll back, and RESTORE … METADATA_ONLY runs recovery.
 */
export const RESTORE_TIMEOUTS = { offlineMs: 10 * 60_000, restoreMs: 60 * 60_000, headerMs: 2 * 60_000 } as const;

export function offlineStatement(database: string): string {
  // ROLLBACK IMMEDIATE: sessions using the database would otherwise keep its files open.
  return `ALTER DATABASE ${quoteIdentifier(database, 'database')} SET OFFLINE WITH ROLLBACK IMMEDIATE`;
}

export function restoreMetadataStatement(database: string, path: string, position: number, recovery = true, dbName: string = database): string {
  if (!Number.isInteger(position) || position < 1) throw new VssError(HR.E_INVALIDARG, { message: `backup set position: expected a positive integer (got ${position})`, category: 'input' });
  return (
    `RESTORE DATABASE ${quoteIdentifier(database, 'database')} FROM DISK = ${quoteStringLiteral(path, 'metadata backup path')} ` +
    `WITH METADATA_ONLY, FILE = ${position}, DBNAME = ${quoteStringLiteral(dbName, 'database')}, REPLACE${recovery ? '' : ', NORECOVERY'}`
  );
}

/** The backup sets in a metadata backup file and the databases each holds, as RESTORE HEADERONLY lists them. */
export async function backupSetsIn(conn: SqlServerConnection, path: string, ro: RequestOptions = {}): Promise<{ position: number; database: string }[]> {
  const rows = await conn.query<{ Position: number; DatabaseName: string }>(
    'restore-headeronly',
    `RESTORE HEADERONLY FROM DISK = ${quoteStringLiteral(path, 'metadata backup path')} WITH METADATA_ONLY`,
    {},
    { operation: 'RESTORE HEADERONLY', timeoutMs: RESTORE_TIMEOUTS.headerMs, ...ro },
  );
  return rows.map((r) => ({ position: Number(r.Position), database: String(r.DatabaseName) }));
}

/**
 * Takes each database that exists and is not already offline offline, so its files can be
 * replaced. A database in an availability group is refused before anything changes: it cannot go
 * offline (1468) nor be restored over (3104) while it is in the group.
 */
export async function takeOffline(conn: SqlServerConnection, databases: string[], ro: RequestOptions = {}): Promise<string[]> {
  const found = await discover(conn, { ...conn.server, databases: databases.map((name) => ({ role: name, name })) });
  const inGroup = found.databases.filter((d) => d.availabilityGroup).map((d) => d.name);
  if (inGroup.length) {
    throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, {
      message: `SQL Server ${conn.name}: ${inGroup.join(', ')} ${inGroup.length > 1 ? 'are' : 'is'} in an availability group; an in-place restore would have to take ${inGroup.length > 1 ? 'them' : 'it'} offline and restore over ${inGroup.length > 1 ? 'them' : 'it'}, which SQL Server refuses for availability databases`,
      category: 'precondition',
      hint: 'Remove the database from the availability group first (ALTER AVAILABILITY GROUP … REMOVE DATABASE on the primary), restore, then add it back and reseed the secondaries; or restore under --to and attach the files yourself.',
    });
  }
  const taken: string[] = [];
  for (const d of databases) {
    const info = found.databases.find((x) => x.name === d);
    if (!info?.exists || info.state === 'OFFLINE') continue;
    await conn.batch('set-offline', offlineStatement(d), { operation: `take ${d} offline`, timeoutMs: RESTORE_TIMEOUTS.offlineMs, ...ro });
    taken.push(d);
  }
  return taken;
}

/** RESTORE … WITH METADATA_ONLY for each database, from the backup set in `path` that holds it. */
export async function restoreFromMetadataBackup(conn: SqlServerConnection, path: string, databases: string[], opts: { recovery?: boolean } & RequestOptions = {}): Promise<void> {
  const { recovery = true, ...ro } = opts;
  const sets = await backupSetsIn(conn, path, ro);
  for (const d of databases) {
    // The last set holding the database: the file is written WITH FORMAT, so there is one; after an append, the newest.
    const set = sets.filter((s) => s.database.toLowerCase() === d.toLowerCase()).at(-1);
    if (!set) {
      throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, {
        message: `the metadata backup ${path} has no backup set for database '${d}' (it holds: ${[...new Set(sets.map((s) => s.database))].join(', ') || 'nothing'})`,
      });
    }
    await conn.batch('restore-metadata', restoreMetadataStatement(d, path, set.position, recovery, set.database), {
      operation: `RESTORE DATABASE ${d} … WITH METADATA_ONLY`,
      timeoutMs: RESTORE_TIMEOUTS.restoreMs,
      ...ro,
    });
  }
}
