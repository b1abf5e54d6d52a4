/**
 * mbam-vss public API: exactly what README.md documents, each name listed (no `export *`), so that
 * an addition is a decision; test/api/public-api.test.ts holds the list. Other paths are internal
 * (XML building blocks, SQL statement builders, the native addon and its test hooks).
 */

// VSS vocabulary: enums with their values and XML tokens, HRESULTs, errors, GUIDs.
export {
  WriterState,
  isFailedState,
  UsageType,
  SourceType,
  ComponentType,
  RestoreMethod,
  WriterRestore,
  BackupType,
  ApplicationLevel,
  ComponentFlags,
  BackupSchema,
  FILESPEC_BACKUP_TYPE_DEFAULT,
  type VssEnum,
  type VssFlags,
  type EnumMember,
  type WriterStateName,
  type UsageTypeName,
  type SourceTypeName,
  type ComponentTypeName,
  type RestoreMethodName,
  type WriterRestoreName,
  type BackupTypeName,
  type ApplicationLevelName,
  type ComponentFlagName,
  type BackupSchemaName,
} from './vss/enums.js';
export { VssError, type VssErrorCategory, type VssErrorOptions } from './vss/errors.js';
export { HR, hresultInfo, hresultByName, formatHResult, isSuccess, allHResults, lastErrorText, WRITER_FAILURE_CODES, type HResultInfo, type HResultName } from './vss/hresult.js';
export { parseGuid, isGuid, formatGuid, guidEquals, newGuid, nameBasedGuid, type Guid } from './vss/guid.js';

// VSS documents: writer metadata, backup components, diskshadow manifests, vssadmin's text.
export {
  parseWriterMetadata,
  writeWriterMetadata,
  fileList,
  componentKey,
  WMD_NAMESPACE,
  WMD_VERSION,
  type FileDescriptor,
  type ComponentFileKind,
  type ComponentFile,
  type ComponentDependency,
  type WriterComponent,
  type WriterIdentity,
  type WriterRestoreMethod,
  type WriterMetadata,
} from './vss/writer-metadata.js';
export { parseBackupComponents, writeBackupComponents, BCD_NAMESPACE, type BackupComponent, type WriterComponents, type BackupComponentsDocument } from './vss/backup-components.js';
export { parseDiskshadowManifest, parseDiskshadowWriters, type DiskshadowManifest, type DiskshadowWriter } from './vss/diskshadow.js';
export { SQL_WRITER_ID, SQL_WRITER_NAME, SQL_WRITER_SERVICE, sqlWriterLogicalPath } from './vss/known-writers.js';
export { parseVssadminWriters, formatVssadminWriters, VSSADMIN_BANNER, type WriterStatus, type ParsedVssadminWriter } from './vss/vssadmin.js';
export { checkExpressWriterMetadata, type ExpressRuleViolation } from './vss/express-writer.js';
export type { InProcessWriter, WriterHandlers, WriterEventContext, WriterEvent } from './vss/writer-events.js';

// MBAM: the topology and the writer definition.
export {
  parseTopology,
  loadTopology,
  findServer,
  DEFAULT_RECOVERY_DATABASE,
  DEFAULT_COMPLIANCE_DATABASE,
  RECOVERY_CERTIFICATE,
  DATABASE_ROLES,
  sqlTargetOf,
  type DatabaseRole,
  type SecretRef,
  type SqlAuth,
  type SqlInstance,
  type ServerTopology,
  type Topology,
} from './mbam/topology.js';
export { buildMbamWriterMetadata, mbamWriterInstanceId, sqlInstanceLogicalPath, resolveServer, hostedRoles, MBAM_WRITER_NAME, MBAM_WRITER_ID, ROLE_LOGICAL_PATH } from './mbam/writer-definition.js';
export { runHealth, healthExitCode, type HealthStatus, type HealthResult, type HealthOptions } from './mbam/health.js';

// This machine: writers, registration, state, the native addon's capabilities.
export { openPlatform, type Platform, type PrivilegeCheck, type SqlWriterCheck } from './platform/index.js';
export { resolveStateDir, defaultStateDir } from './platform/state.js';
export type { Registration, RegistrationRecord, RegistryProblem } from './platform/writer-registry.js';
export { nativeCapabilities, type NativeCapabilities } from './platform/native.js';
export { TOOL_VERSION } from './version.js';

// SQL Server: the POSIX SQL Server writer.
export { createSqlSnapshotWriter, type SqlSnapshotWriter, type SqlSnapshotWriterOptions } from './sql/sql-writer.js';
export type { SqlTarget, SqlEndpoint } from './sql/target.js';

// The POSIX requester: backup, restore, verify.
export { backup, type BackupOptions, type BackupResult, type ProgressEvent, type WriterOutcome } from './requester/backup.js';
export { restore, type RestoreOptions, type RestoreProgressEvent, type RestoreResult } from './requester/restore.js';
export { verifyBackupSet, readManifest, type Manifest, type ManifestFile, type ManifestWriter, type VerifyProblem } from './requester/backup-set.js';
export { copyAndHash } from './requester/copy.js';

// The hosted writer (Windows: subscribes to VSS).
export { HostedWriter, type HostedWriterOptions } from './hosted/hosted-writer.js';

import { openPlatform } from './platform/index.js';
import type { WriterStatus } from './vss/vssadmin.js';
import type { WriterMetadata } from './vss/writer-metadata.js';

/** Writers this machine knows (`vssadmin list writers`). */
export function listWriters(options: { stateDir?: string } = {}): Promise<WriterStatus[]> {
  return openPlatform(options).listWriters();
}

/** One writer's metadata, by writer id, instance id or friendly name. */
export function getWriterMetadata(idOrName: string, options: { stateDir?: string } = {}): Promise<WriterMetadata> {
  return openPlatform(options).getWriterMetadata(idOrName);
}
