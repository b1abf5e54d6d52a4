/**
 * Writers other than ours that the VSS vocabulary needs to name: SQL Server's VSS writer, which the
 * MBAM writer's components depend on, which the Windows backend checks, and whose role the POSIX
 * SQL Server writer plays. Values from SQL Server's writer metadata (captured in
 * test/fixtures/vss-captures/with_sql/WM4.xml) and "SQL Server VSS Writer" on Microsoft Learn.
 */
import type { Guid } from './guid.js';

export const SQL_WRITER_ID: Guid = 'a65faa63-5ea8-4ebc-9dbd-a0c4db26912a';
export const SQL_WRITER_NAME = 'SqlServerWriter';
/** The Windows service that hosts SqlServerWriter (display name "SQL Server VSS Writer"). */
export const SQL_WRITER_SERVICE = 'SQLWriter';

/**
 * The SQL Server writer's logical path for an instance: `SERVER` for the default instance,
 * `SERVER\INSTANCE` for a named one (as its components carry it in WM4.xml).
 */
export function sqlWriterLogicalPath(serverName: string, instance?: string): string {
  return instance ? `${serverName}\\${instance}` : serverName;
}
