/**
 * What a SQL Server holds for a target: its identity, each target database's state, recovery model,
 * encryption, availability group and files, the login's rights by name, and whether the target's
 * certificate exists.
 *
 * Files come from sys.master_files, whose rows a login sees only with CREATE DATABASE, ALTER ANY
 * DATABASE or VIEW ANY DEFINITION (Learn: sys.master_files, "Permissions"); without them the view
 * answers with no rows, not an error. So an empty answer for an ONLINE database is never taken as
 * "no files": the database's own sys.database_files (visible to its users) is asked instead, and
 * a database whose files still cannot be seen is reported as such (`filesVisible: false`).
 */
import type { SqlTarget } from './target.js';
import { sqlWriterLogicalPath } from '../vss/known-writers.js';
import type { ServerIdentity, SqlServerConnection } from './connection.js';
import { quoteIdentifier } from './quote.js';

export interface DatabaseFile {
  type: string;
  physicalName: string;
  sizeBytes: number;
  /** The logical file name (RESTORE … MOVE uses it). */
  name?: string;
}

export interface DatabaseInfo {
  /** The target's label for it (MBAM: its role). */
  role: string;
  name: string;
  exists: boolean;
  state?: string;
  recoveryModel?: string;
  encrypted?: boolean;
  /** The database belongs to an availability group (sys.databases.replica_id is set). */
  availabilityGroup?: boolean;
  canBackup?: boolean;
  canAlter?: boolean;
  files: DatabaseFile[];
  /** Where the files were read from; 'none' when the login could see neither view's rows. */
  filesFrom: 'sys.master_files' | 'sys.database_files' | 'none';
  /** Whether a ROWS and a LOG file were seen: a backup without them would hold nothing. */
  filesVisible: boolean;
  /** The SQL Server writer's logical path for this database's component. */
  sqlWriterLogicalPath: string;
}

export interface ServerDiscovery {
  identity: ServerIdentity;
  databases: DatabaseInfo[];
  /** Whether the target's certificate is in master (false when the target names none). */
  certificate: boolean;
  /** CONTROL on the certificate (BACKUP CERTIFICATE needs it); null when there is none. */
  certificateControl: boolean | null;
  /** The login's server permissions, by name (sys.fn_my_permissions(NULL, 'SERVER')). */
  serverPermissions: string[];
  /** SQL Server 2022+ can suspend databases for snapshot backup over T-SQL. */
  tsqlSnapshotBackup: boolean;
}

/** `@db0, @db1, …` and their values, for an IN list of database names. */
export function nameParams(names: string[]): { list: string; params: Record<string, string> } {
  const params = Object.fromEntries(names.map((n, i) => [`db${i}`, n]));
  return { list: names.map((_, i) => `@db${i}`).join(', '), params };
}

/** Whether a certificate is in master (MBAM's Recovery certificate: without it a restored Recovery DB cannot decrypt keys). */
export async function hasCertificate(conn: SqlServerConnection, certificate: string, timeoutMs?: number): Promise<boolean> {
  const rows = await conn.query('certificate', 'SELECT c.name AS name FROM master.sys.certificates AS c WHERE c.name = @certificate', { certificate }, { operation: 'read master.sys.certificates', ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
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

type FileRow = { database?: string; typeDesc: string; physicalName: string; sizePages: number | string; name: string };
const toFile = (f: FileRow): DatabaseFile => ({ type: f.typeDesc, physicalName: f.physicalName, sizeBytes: Number(f.sizePages) * 8192, name: f.name });

/** A database's files from its own sys.database_files (needs only access to the database). */
export async function databaseFiles(conn: SqlServerConnection, database: string): Promise<DatabaseFile[]> {
  const rows = await conn.query<FileRow>(
    'database-files',
    `SELECT f.type_desc AS typeDesc, f.physical_name AS physicalName, CAST(f.size AS bigint) AS sizePages, f.name AS name FROM ${quoteIdentifier(database, 'database')}.sys.database_files AS f`,
    {},
    `read ${database}'s sys.database_files`,
  );
  return rows.map(toFile);
}

export async function discover(conn: SqlServerConnection, target: SqlTarget): Promise<ServerDiscovery> {
  const names = target.databases.map((d) => d.name);
  const { list, params } = nameParams(names);
  const rows = await conn.query<{ name: string; stateDesc: string; recoveryModel: string; isEncrypted: boolean; replicaId: string | null; canBackup: number; canAlter: number }>(
    'databases',
    `SELECT d.name AS name, d.state_desc AS stateDesc, d.recovery_model_desc AS recoveryModel, d.is_encrypted AS isEncrypted, d.replica_id AS replicaId,
       HAS_PERMS_BY_NAME(d.name, 'DATABASE', 'BACKUP DATABASE') AS canBackup, HAS_PERMS_BY_NAME(d.name, 'DATABASE', 'ALTER') AS canAlter
     FROM sys.databases AS d WHERE d.name IN (${list})`,
    params,
    'read sys.databases',
  );
  const files = await conn.query<FileRow>(
    'files',
    `SELECT DB_NAME(f.database_id) AS [database], f.type_desc AS typeDesc, f.physical_name AS physicalName, CAST(f.size AS bigint) AS sizePages, f.name AS name
     FROM sys.master_files AS f WHERE f.database_id IN (${names.map((_, i) => `DB_ID(@db${i})`).join(', ')})`,
    params,
    'read sys.master_files',
  );
  const perms = await conn.query<{ permission: string }>('server-permissions', "SELECT p.permission_name AS permission FROM sys.fn_my_permissions(NULL, 'SERVER') AS p", {}, 'read the login\'s server permissions');
  let certificate = false;
  let certificateControl: boolean | null = null;
  if (target.certificate) {
    certificate = await hasCertificate(conn, target.certificate.name);
    if (certificate) {
      const r = await conn.query<{ control: number | null }>('certificate-rights', "SELECT HAS_PERMS_BY_NAME(@certificate, 'CERTIFICATE', 'CONTROL') AS control", { certificate: target.certificate.name }, 'read the rights on the certificate');
      certificateControl = Number(r[0]?.control) === 1;
    }
  }
  const logicalPath = sqlWriterLogicalPath(target.sql.writerServerName ?? target.name, target.sql.instance);
  const databases: DatabaseInfo[] = [];
  for (const { role, name } of target.databases) {
    const r = rows.find((x) => x.name === name);
    let dbFiles = files.filter((f) => f.database === name).map(toFile);
    let filesFrom: DatabaseInfo['filesFrom'] = dbFiles.length ? 'sys.master_files' : 'none';
    if (!dbFiles.length && r?.stateDesc === 'ONLINE') {
      // No rows is what sys.master_files shows a login without the right; the database's own view
      // shows its users their files.
      dbFiles = await databaseFiles(conn, name).catch(() => []);
      if (dbFiles.length) filesFrom = 'sys.database_files';
    }
    const info: DatabaseInfo = {
      role,
      name,
      exists: !!r,
      files: dbFiles,
      filesFrom,
      filesVisible: dbFiles.some((f) => f.type === 'ROWS') && dbFiles.some((f) => f.type === 'LOG'),
      sqlWriterLogicalPath: logicalPath,
    };
    if (r) Object.assign(info, { state: r.stateDesc, recoveryModel: r.recoveryModel, encrypted: !!r.isEncrypted, availabilityGroup: !!r.replicaId, canBackup: Number(r.canBackup) === 1, canAlter: Number(r.canAlter) === 1 });
    databases.push(info);
  }
  return { identity: conn.identity, certificate, certificateControl, serverPermissions: perms.map((p) => p.permission), tsqlSnapshotBackup: conn.identity.majorVersion >= 16, databases };
}
