/**
 * The SQL Server checks install's preflight runs for a server: reachable (and encrypted when
 * asked), each MBAM database present and ONLINE, its files visible, the rights each later step
 * needs, named one by one, and the Recovery certificate with CONTROL on it.
 *
 * Step → right (Learn: ALTER DATABASE, ALTER SERVER CONFIGURATION, BACKUP, BACKUP CERTIFICATE,
 * sys.master_files "Permissions"):
 *   suspend one database           ALTER on the database
 *   suspend a group of databases   ALTER SETTINGS on the server (ALTER SERVER CONFIGURATION)
 *   BACKUP … WITH METADATA_ONLY    BACKUP DATABASE on the database
 *   list the database files        VIEW ANY DEFINITION (or CREATE/ALTER ANY DATABASE), or a user
 *                                  in the database (its own sys.database_files)
 *   BACKUP CERTIFICATE             CONTROL on the certificate in master
 */
import type { SqlTarget } from './target.js';
import { VssError } from '../vss/errors.js';
import { SqlServerConnection, describeServer } from './connection.js';
import { discover } from './discovery.js';
import { checkSuspendSupport } from './suspend.js';

export interface SqlCheckResult {
  check: string;
  ok: boolean;
  detail: string;
}

export async function sqlPreflight(server: SqlTarget, opts: { connectTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<SqlCheckResult[]> {
  const results: SqlCheckResult[] = [];
  let conn: SqlServerConnection;
  try {
    conn = await SqlServerConnection.open(server, { connectTimeoutMs: opts.connectTimeoutMs ?? 15_000, ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (e) {
    const err = e as VssError;
    return [{ check: 'sql-reachable', ok: false, detail: `${err.message}${err.hint ? ` — ${err.hint}` : ''}` }];
  }
  try {
    const id = conn.identity;
    const enc = id.encrypted === null ? 'encryption state unknown' : id.encrypted ? 'encrypted' : 'unencrypted (allowed by the topology)';
    results.push({ check: 'sql-reachable', ok: true, detail: `${id.serverName}, SQL Server ${id.productVersion}${id.updateLevel ? ` ${id.updateLevel}` : ''}, ${enc}` });
    const d = await discover(conn, server);
    if (d.tsqlSnapshotBackup) {
      try {
        checkSuspendSupport(server, id, server.databases.length);
        results.push({ check: 'sql-version', ok: true, detail: `build ${id.productVersion} has T-SQL snapshot backup and the suspend fixes` });
      } catch (e) {
        const err = e as VssError;
        results.push({ check: 'sql-version', ok: false, detail: `${err.message}${err.hint ? ` — ${err.hint}` : ''}` });
      }
    }
    const perms = new Set(d.serverPermissions.map((p) => p.toUpperCase()));
    for (const db of d.databases) {
      results.push(
        db.exists
          ? { check: `database-online:${db.role}`, ok: db.state === 'ONLINE', detail: `${db.name} is ${db.state}${db.availabilityGroup ? ' (in an availability group: backup works; an in-place restore needs it removed from the group first)' : ''}` }
          : { check: `database-online:${db.role}`, ok: false, detail: `database '${db.name}' does not exist on ${describeServer(server)}` },
      );
      if (!db.exists) continue;
      const missing = [!db.canAlter && 'ALTER', !db.canBackup && 'BACKUP DATABASE'].filter((x): x is string => !!x);
      results.push({
        check: `sql-rights:${db.role}`,
        ok: missing.length === 0,
        detail: missing.length ? `the login lacks ${missing.join(' and ')} on ${db.name} (${missing.includes('ALTER') ? 'ALTER suspends it for the snapshot' : ''}${missing.length === 2 ? '; ' : ''}${missing.includes('BACKUP DATABASE') ? 'BACKUP DATABASE records the metadata backup' : ''})` : `the login may ALTER and BACK UP ${db.name}`,
      });
      if (db.state === 'ONLINE') {
        results.push({
          check: `database-files:${db.role}`,
          ok: db.filesVisible,
          detail: db.filesVisible
            ? `${db.files.length} files of ${db.name} (from ${db.filesFrom})`
            : `the login sees no ${db.files.some((f) => f.type === 'ROWS') ? 'LOG' : 'ROWS'} file of ${db.name}: a backup would hold none of its data. Grant VIEW ANY DEFINITION (sys.master_files), or give the login a user in ${db.name} (its sys.database_files)`,
        });
      }
    }
    if (server.databases.length > 1) {
      // ALTER SERVER CONFIGURATION … SUSPEND_FOR_SNAPSHOT_BACKUP suspends a group together.
      results.push({
        check: 'sql-rights:server',
        ok: perms.has('ALTER SETTINGS') || perms.has('CONTROL SERVER'),
        detail: perms.has('ALTER SETTINGS') || perms.has('CONTROL SERVER') ? 'the login may suspend a group of databases (ALTER SETTINGS)' : 'the login lacks ALTER SETTINGS on the server: ALTER SERVER CONFIGURATION suspends the MBAM databases together',
      });
    }
    if (server.certificate) {
      const name = server.certificate.name;
      results.push({
        check: 'certificate',
        ok: d.certificate,
        detail: d.certificate ? `'${name}' is in master` : `'${name}' is missing from master (or the login may not see it: it needs CONTROL on it): a restored database that depends on it could not decrypt its keys`,
      });
      if (d.certificate) {
        results.push({
          check: 'certificate-rights',
          ok: d.certificateControl === true,
          detail: d.certificateControl ? `the login may back up '${name}' (CONTROL)` : `the login lacks CONTROL on the certificate '${name}' in master, which backing up the certificate with its private key needs`,
        });
      }
    }
  } catch (e) {
    results.push({ check: 'sql-discovery', ok: false, detail: (e as Error).message });
  } finally {
    await conn.close();
  }
  return results;
}
