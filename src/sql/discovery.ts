/**
 * What a SQL Server holds for a target: its identity, each target database's state, recovery model,
 * encryption and files, the login's rights, and whether the target's certificate exists.
 */
import type { SqlTarget } from './target.js';
import { sqlWriterLogicalPath } from '../vss/known-writers.js';
import type { ServerIdentity, SqlServerConnection } from './connection.js';

export interface DatabaseFile {
  type: string;
  physicalName: string;
  sizeBytes: number;
}

export interface DatabaseInfo {
  /** The target's label for it (MBAM: its role). */
  role: string;
  name: string;
  exists: boolean;
  state?: string;
  recoveryModel?: string;
  encrypted?: boolean;
  canBackup?: boolean;
  canAlter?: boolean;
  files: DatabaseFile[];
  /** The SQL Server writer's logical path for this database's component. */
  sqlWriterLogicalPath: string;
}

export interface ServerDiscovery {
  identity: ServerIdentity;
  databases: DatabaseInfo[];
  /** Whether the target's certificate is in master (false when the target names none). */
  certificate: boolean;
  /** SQL Server 2022+ can suspend databases for snapshot backup over T-SQL. */
  tsqlSnapshotBackup: boolean;
}

/** `@db0, @db1, …` and their values, for an IN list of database names. */
export function nameParams(names: string[]): { list: string; params: Record<string, string> } {
  const params = Object.fromEntries(names.map((n, i) => [`db${i}`, n]));
  return { list: names.map((_, i) => `@db${i}`).join(', '), params };
}

/** Whether a certificate is in master (MBAM's Recovery certificate: without it a restored Recovery DB cannot decrypt keys). */
export async function hasCertificate(conn: SqlServerConnection, certificate: string): Promise<boolean> {
  const rows = await conn.query('certificate', 'SELECT c.name AS name FROM master.sys.certificates AS c WHERE c.name = @certificate', { certificate }, 'read master.sys.certificates');
  return rows.length > 0;
}

/**
 * Where the instance writes backups by default (SQL Server 2019+): the directory its service
 * account can write, which the POSIX SQL Server writer uses to hand files to and from SQL Server.
 */
export async function defaultBackupDirectory(conn: SqlServerConnection): Promise<string | null> {
  const rows = await conn.query<{ path: string | null }>('backup-directory', "SELECT CAST(SERVERPROPERTY('InstanceDefaultBackupPath') AS nvarchar(4000)) AS path", {}, 'read the default backup directory');
  return rows[0]?.path ?? null;
}

export async function discover(conn: SqlServerConnection, target: SqlTarget): Promise<ServerDiscovery> {
  const server = target;
  const names = target.databases.map((d) => d.name);
  const { list, params } = nameParams(names);
  const rows = await conn.query<{ name: string; stateDesc: string; recoveryModel: string; isEncrypted: boolean; canBackup: number; canAlter: number }>(
    'databases',
    `SELECT d.name AS name, d.state_desc AS stateDesc, d.recovery_model_desc AS recoveryModel, d.is_encrypted AS isEncrypted,
       HAS_PERMS_BY_NAME(d.name, 'DATABASE', 'BACKUP DATABASE') AS canBackup, HAS_PERMS_BY_NAME(d.name, 'DATABASE', 'ALTER') AS canAlter
     FROM sys.databases AS d WHERE d.name IN (${list})`,
    params,
    'read sys.databases',
  );
  const files = await conn.query<{ database: string; typeDesc: string; physicalName: string; sizePages: number | string }>(
    'files',
    `SELECT DB_NAME(f.database_id) AS [database], f.type_desc AS typeDesc, f.physical_name AS physicalName, CAST(f.size AS bigint) AS sizePages
     FROM sys.master_files AS f WHERE f.database_id IN (${names.map((_, i) => `DB_ID(@db${i})`).join(', ')})`,
    params,
    'read sys.master_files',
  );
  const certificate = target.certificate ? await hasCertificate(conn, target.certificate.name) : false;
  const logicalPath = sqlWriterLogicalPath(server.sql.writerServerName ?? server.name, server.sql.instance);
  return {
    identity: conn.identity,
    certificate,
    tsqlSnapshotBackup: conn.identity.majorVersion >= 16,
    databases: target.databases.map(({ role, name }) => {
      const r = rows.find((x) => x.name === name);
      const info: DatabaseInfo = {
        role,
        name,
        exists: !!r,
        // size is in 8 KB pages
        files: files.filter((f) => f.database === name).map((f) => ({ type: f.typeDesc, physicalName: f.physicalName, sizeBytes: Number(f.sizePages) * 8192 })),
        sqlWriterLogicalPath: logicalPath,
      };
      if (r) Object.assign(info, { state: r.stateDesc, recoveryModel: r.recoveryModel, encrypted: !!r.isEncrypted, canBackup: Number(r.canBackup) === 1, canAlter: Number(r.canAlter) === 1 });
      return info;
    }),
  };
}
