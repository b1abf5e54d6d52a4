/**
 * The MBAM writer definition: from a topology and a server name, that server's writer instance
 * metadata. The writer copies no files itself; each component names an MBAM database and depends on
 * the SQL Server VSS writer's component for that database, which does the work.
 */
import { nameBasedGuid, type Guid } from '../vss/guid.js';
import { invalidInput } from '../vss/errors.js';
import { assertExpressWriterMetadata } from '../vss/express-writer.js';
import { SQL_WRITER_ID, sqlWriterLogicalPath } from '../vss/known-writers.js';
import { WMD_VERSION, type ComponentDependency, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import { DATABASE_ROLES, findServer, type DatabaseRole, type ServerTopology, type Topology } from './topology.js';

export const MBAM_WRITER_NAME = 'Microsoft BitLocker Administration and Management Writer';
/**
 * The MBAM writer's class id, fixed by this project (chosen at random once, 2026-11-28). Every
 * instance of the writer on every server has this writer id; instances differ by instance id.
 */
export const MBAM_WRITER_ID: Guid = 'aaf1bbf5-9b9f-4d72-b82d-5ccddc74336d';


/** The logical path of each role's component in the MBAM writer. */
export const ROLE_LOGICAL_PATH: Readonly<Record<DatabaseRole, string>> = {
  recovery: 'Recovery',
  complianceAudit: 'ComplianceAudit',
};

const ROLE_CAPTION: Readonly<Record<DatabaseRole, string>> = {
  recovery: 'MBAM Recovery database (BitLocker recovery keys and hardware)',
  complianceAudit: 'MBAM Compliance and Audit database',
};

/** The SQL Server writer's logical path for a topology server's instance. */
export function sqlInstanceLogicalPath(server: ServerTopology): string {
  return sqlWriterLogicalPath(server.sql.writerServerName ?? server.name, server.sql.instance);
}

/** The instance id is derived from the server name, so re-registering the same server is idempotent. */
export function mbamWriterInstanceId(serverName: string): Guid {
  return nameBasedGuid(MBAM_WRITER_ID, serverName.toLowerCase());
}

export function resolveServer(topology: Topology, serverName: string): ServerTopology {
  const s = findServer(topology, serverName);
  if (!s) {
    throw invalidInput('--server', `a server named in the topology (${topology.servers.map((x) => x.name).join(', ')})`, serverName);
  }
  return s;
}

export function hostedRoles(server: ServerTopology): DatabaseRole[] {
  return DATABASE_ROLES.filter((r) => server.databases[r]);
}

const shortName = (n: string) => n.toLowerCase().split('.')[0];

/**
 * The SQL Server writer's logical path as a dependency seen from `localComputer`, the machine the
 * MBAM writer runs on. When that is not the database server, the dependency is remote, and
 * AddComponentDependency's remarks ask for "\\RemoteComputerName\" before the logical path (the
 * cluster's virtual name for a clustered instance: sql.writerServerName).
 */
export function sqlDependencyLogicalPath(server: ServerTopology, localComputer?: string): string {
  const path = sqlInstanceLogicalPath(server);
  const sqlComputer = server.sql.writerServerName ?? server.name;
  if (!localComputer || [server.name, sqlComputer].some((n) => shortName(n) === shortName(localComputer))) return path;
  return `\\\\${sqlComputer}\\${path}`;
}

/**
 * The writer metadata of the MBAM writer instance for one server of the topology. `localComputer`
 * (this host's name, where the writer is registered or hosted) makes the SQL dependencies remote
 * when the database server is another machine.
 */
export function buildMbamWriterMetadata(topology: Topology, serverName: string, localComputer?: string): WriterMetadata {
  const server = resolveServer(topology, serverName);
  const sqlPath = sqlDependencyLogicalPath(server, localComputer);
  const components: WriterComponent[] = hostedRoles(server).map((role) => {
    const db = server.databases[role]!.name;
    const dependencies: ComponentDependency[] = [{ writerId: SQL_WRITER_ID, logicalPath: sqlPath, componentName: db }];
    // The Recovery database's keys are encrypted with a certificate kept in master: a restore of
    // the database alone, elsewhere, cannot decrypt them.
    if (role === 'recovery') dependencies.push({ writerId: SQL_WRITER_ID, logicalPath: sqlPath, componentName: 'master' });
    return {
      type: 'FILEGROUP',
      logicalPath: ROLE_LOGICAL_PATH[role],
      componentName: db,
      caption: ROLE_CAPTION[role],
      restoreMetadata: false,
      notifyOnBackupComplete: false,
      selectable: true,
      selectableForRestore: true,
      componentFlags: 0,
      files: [],
      dependencies,
    };
  });
  const md: WriterMetadata = {
    version: WMD_VERSION,
    identity: {
      writerId: MBAM_WRITER_ID,
      instanceId: mbamWriterInstanceId(server.name),
      instanceName: `MBAM on ${server.name}`,
      friendlyName: MBAM_WRITER_NAME,
      usage: 'USERDATA',
      dataSource: 'OTHER',
      majorVersion: 1,
      minorVersion: 0,
    },
    restoreMethod: { method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'NEVER', rebootRequired: false },
    components,
    excludeFiles: [],
    excludeFilesFromSnapshot: [],
  };
  assertExpressWriterMetadata(md, `MBAM writer metadata for ${server.name}`);
  return md;
}
