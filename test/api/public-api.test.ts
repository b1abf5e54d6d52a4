/**
 * The public surface is a list, not whatever `export *` happens to reach: adding a name to
 * src/index.ts means adding it here too, on purpose. Internals (XML building blocks, SQL statement
 * builders, the native addon and its test hooks) stay importable from their own src/ paths only.
 */
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';

const PUBLIC = [
  'ApplicationLevel', 'BCD_NAMESPACE', 'BackupSchema', 'BackupType', 'ComponentFlags', 'ComponentType',
  'DATABASE_ROLES', 'DEFAULT_COMPLIANCE_DATABASE', 'DEFAULT_RECOVERY_DATABASE',
  'FILESPEC_BACKUP_TYPE_DEFAULT', 'HR', 'HostedWriter', 'MBAM_WRITER_ID', 'MBAM_WRITER_NAME',
  'RECOVERY_CERTIFICATE', 'ROLE_LOGICAL_PATH', 'RestoreMethod', 'SourceType', 'TOOL_VERSION', 'UsageType',
  'VSSADMIN_BANNER', 'VssError', 'WMD_NAMESPACE', 'WMD_VERSION', 'WRITER_FAILURE_CODES', 'WriterRestore',
  'WriterState', 'allHResults', 'backup', 'buildMbamWriterMetadata', 'checkExpressWriterMetadata',
  'componentKey', 'copyAndHash', 'createSqlSnapshotWriter', 'defaultStateDir', 'fileList', 'findServer',
  'formatGuid', 'formatHResult', 'formatVssadminWriters', 'getWriterMetadata', 'guidEquals',
  'healthExitCode', 'hostedRoles', 'hresultByName', 'hresultInfo', 'isFailedState', 'isGuid', 'isSuccess',
  'lastErrorText', 'listWriters', 'loadTopology', 'mbamWriterInstanceId', 'nameBasedGuid',
  'nativeCapabilities', 'newGuid', 'openPlatform', 'parseBackupComponents', 'parseDiskshadowManifest',
  'parseGuid', 'parseTopology', 'parseVssadminWriters', 'parseWriterMetadata', 'readManifest',
  'resolveServer', 'resolveStateDir', 'restore', 'runHealth', 'sqlInstanceLogicalPath', 'verifyBackupSet',
  'writeBackupComponents', 'writeWriterMetadata',
  'parseDiskshadowWriters', 'SQL_WRITER_ID', 'SQL_WRITER_NAME', 'SQL_WRITER_SERVICE', 'sqlWriterLogicalPath', 'sqlTargetOf',
];

/** Internal names that were exported once and must not come back. */
const INTERNAL = [
  'el', 'tagged', 'yesNo', 'escapeAttr', 'AttrReader', 'parseXml', 'serializeXml', 'decodeXmlBytes', 'invalidInput',
  'failureDetails', 'writerFailureCode', 'EVENT_HANDLER', 'loadNative', 'nativeError', 'posixAddon', 'windowsAddon',
  'loopbackRun', 'liveBridgeCalls', 'createEventBridge', 'expressWriterSpec', 'assertExpressWriterMetadata',
  'quoteIdentifier', 'quoteStringLiteral', 'suspendStatement', 'metadataBackupStatement', 'offlineStatement',
  'restoreMetadataStatement', 'connectionConfig', 'nameParams', 'readSecret', 'recordBackup', 'metadataFingerprint',
  'FrozenFilesystems', 'SnapshotFreeze', 'SqlServerConnection',
];

describe('public API (src/index.ts)', () => {
  it('exports exactly the documented names', () => {
    expect(Object.keys(api).sort()).toEqual([...PUBLIC].sort());
  });

  it('exports none of the internals', () => {
    const leaked = INTERNAL.filter((n) => n in api);
    expect(leaked).toEqual([]);
  });

  it('has what the README library section imports', () => {
    for (const n of ['parseWriterMetadata', 'writeWriterMetadata', 'parseBackupComponents', 'formatVssadminWriters', 'loadTopology', 'buildMbamWriterMetadata',
      'listWriters', 'getWriterMetadata', 'VssError', 'HR', 'hresultInfo', 'WriterState', 'backup', 'restore', 'verifyBackupSet', 'createSqlSnapshotWriter', 'HostedWriter']) {
      expect(typeof (api as Record<string, unknown>)[n], n).not.toBe('undefined');
    }
  });
});
