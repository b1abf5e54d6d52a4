/**
 * mbam-vss public API. Everything a caller may use is re-exported here; other paths are internal.
 */
export * from './vss/index.js';
export * from './mbam/topology.js';
export * from './mbam/writer-definition.js';
export * from './mbam/health.js';
export * from './mbam/history.js';
export { openPlatform, type Platform, type PrivilegeCheck, type SqlWriterCheck } from './platform/index.js';
export { resolveStateDir, defaultStateDir } from './platform/state.js';
export type { Registration, RegistrationRecord, RegistryProblem } from './platform/writer-registry.js';
export { loadNative, type NativeCapabilities } from './platform/native.js';
export { TOOL_VERSION } from './version.js';

import { openPlatform } from './platform/index.js';
import { loadNative, type NativeCapabilities } from './platform/native.js';
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

/** What the native addon can do on this machine (snapshots, express writers, Wine). */
export function nativeCapabilities(): NativeCapabilities {
  return loadNative().capabilities();
}
export * from './sql/index.js';
export { copyAndHash } from './requester/copy.js';
export { backup, type BackupOptions, type BackupResult, type ProgressEvent, type WriterOutcome } from './requester/backup.js';
export { restore, type RestoreOptions, type RestoreProgressEvent, type RestoreResult } from './requester/restore.js';
export { verifyBackupSet, readManifest, type Manifest, type ManifestFile, type VerifyProblem } from './requester/backup-set.js';
export type { InProcessWriter, WriterHandlers, WriterEventContext, WriterEvent } from './vss/writer-events.js';
export { FrozenFilesystems } from './requester/fs-freeze.js';
export { createEventBridge, loopbackRun, liveBridgeCalls, type NativeEventBridge, type LoopbackResult } from './hosted/bridge.js';
export { HostedWriter, type HostedWriterOptions } from './hosted/hosted-writer.js';
