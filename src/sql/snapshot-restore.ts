/**
 * Restoring a T-SQL snapshot backup: the database goes OFFLINE (its files are closed and can be
 * replaced), the snapshot's files are put back, then `RESTORE DATABASE … WITH METADATA_ONLY,
 * REPLACE` reads the metadata backup (.bkm) taken at Thaw and brings the database back on those
 * files. A group metadata backup holds one backup set per database; RESTORE HEADERONLY says which
 * position is whose, so the order SQL Server wrote them in is never assumed.
 */
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import type { SqlServerConnection } from './connection.js';
import { discover } from './discovery.js';
import { quoteIdentifier, quoteStringLiteral } from './quote.js';

export function offlineStatement(database: string): string {
  // ROLLBACK IMMEDIATE: sessions using the database would otherwise keep its files open.
  return `ALTER DATABASE ${quoteIdentifier(database, 'database')} SET OFFLINE WITH ROLLBACK IMMEDIATE`;
}

export function restoreMetadataStatement(database: string, path: string, position: number, recovery = true): string {
  if (!Number.isInteger(position) || position < 1) throw new VssError(HR.E_INVALIDARG, { message: `backup set position: expected a positive integer (got ${position})`, category: 'input' });
  return `RESTORE DATABASE ${quoteIdentifier(database, 'database')} FROM DISK = ${quoteStringLiteral(path, 'metadata backup path')} WITH METADATA_ONLY, FILE = ${position}, REPLACE${recovery ? '' : ', NORECOVERY'}`;
}

/** The backup sets in a metadata backup file, as RESTORE HEADERONLY lists them. */
export async function backupSetsIn(conn: SqlServerConnection, path: string): Promise<{ position: number; database: string }[]> {
  const rows = await conn.query<{ Position: number; DatabaseName: string }>('restore-headeronly', `RESTORE HEADERONLY FROM DISK = ${quoteStringLiteral(path, 'metadata backup path')}`, {}, 'RESTORE HEADERONLY');
  return rows.map((r) => ({ position: Number(r.Position), database: String(r.DatabaseName) }));
}

/** Takes each database that exists and is not already offline offline, so its files can be replaced. */
export async function takeOffline(conn: SqlServerConnection, databases: string[]): Promise<string[]> {
  const found = await discover(conn, { ...conn.server, databases: databases.map((name) => ({ role: name, name })) });
  const taken: string[] = [];
  for (const d of databases) {
    const info = found.databases.find((x) => x.name === d);
    if (!info?.exists || info.state === 'OFFLINE') continue;
    await conn.batch('set-offline', offlineStatement(d), `take ${d} offline`);
    taken.push(d);
  }
  return taken;
}

/** RESTORE … WITH METADATA_ONLY for each database, from its backup set in `path`. */
export async function restoreFromMetadataBackup(conn: SqlServerConnection, path: string, databases: string[]): Promise<void> {
  const sets = await backupSetsIn(conn, path);
  for (const d of databases) {
    const set = sets.find((s) => s.database === d);
    if (!set) {
      throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, {
        message: `the metadata backup ${path} has no backup set for database '${d}' (it holds: ${sets.map((s) => s.database).join(', ') || 'nothing'})`,
      });
    }
    await conn.batch('restore-metadata', restoreMetadataStatement(d, path, set.position), `RESTORE DATABASE ${d} … WITH METADATA_ONLY`);
  }
}
