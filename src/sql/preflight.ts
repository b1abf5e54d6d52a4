/**
 * The SQL Server checks install's preflight runs for a server: reachable (and encrypted when
 * asked), each MBAM database present and ONLINE, the login's rights, the Recovery certificate.
 */
import type { SqlTarget } from './target.js';
import { VssError } from '../vss/errors.js';
import { SqlServerConnection, describeServer } from './connection.js';
import { discover } from './discovery.js';

export interface SqlCheckResult {
  check: string;
  ok: boolean;
  detail: string;
}

export async function sqlPreflight(server: SqlTarget, opts: { connectTimeoutMs?: number } = {}): Promise<SqlCheckResult[]> {
  const results: SqlCheckResult[] = [];
  let conn: SqlServerConnection;
  try {
    conn = await SqlServerConnection.open(server, { connectTimeoutMs: opts.connectTimeoutMs ?? 15_000 });
  } catch (e) {
    const err = e as VssError;
    return [{ check: 'sql-reachable', ok: false, detail: `${err.message}${err.hint ? ` — ${err.hint}` : ''}` }];
  }
  try {
    const id = conn.identity;
    results.push({ check: 'sql-reachable', ok: true, detail: `${id.serverName}, SQL Server major version ${id.majorVersion}, ${id.encrypted ? 'encrypted' : 'unencrypted (allowed by the topology)'}` });
    const d = await discover(conn, server);
    for (const db of d.databases) {
      results.push(
        db.exists
          ? { check: `database-online:${db.role}`, ok: db.state === 'ONLINE', detail: `${db.name} is ${db.state}` }
          : { check: `database-online:${db.role}`, ok: false, detail: `database '${db.name}' does not exist on ${describeServer(server)}` },
      );
      if (db.exists) {
        results.push({
          check: `sql-rights:${db.role}`,
          ok: !!db.canBackup && !!db.canAlter,
          detail: db.canBackup && db.canAlter ? `the login may ALTER and BACK UP ${db.name}` : `the login lacks ${[!db.canAlter && 'ALTER', !db.canBackup && 'BACKUP DATABASE'].filter(Boolean).join(' and ')} on ${db.name}`,
        });
      }
    }
    if (server.certificate) {
      const name = server.certificate.name;
      results.push({
        check: 'certificate',
        ok: d.certificate,
        detail: d.certificate ? `'${name}' is in master` : `'${name}' is missing from master: a restored database that depends on it could not decrypt its keys`,
      });
    }
  } catch (e) {
    results.push({ check: 'sql-discovery', ok: false, detail: (e as Error).message });
  } finally {
    await conn.close();
  }
  return results;
}
