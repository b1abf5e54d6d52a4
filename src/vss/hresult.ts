/**
 * The HRESULTs a VSS writer or requester meets: every VSS_E_* / VSS_S_* code of vsserror.h (the
 * 81 codes MinGW-w64 and the Windows SDK both define) plus the common COM codes. The only copy of
 * this table in the project; the native side passes raw HRESULTs and JavaScript names them here.
 *
 * `retryable` follows Microsoft's requester guidance: RETRYABLE, OUTOFRESOURCES and TIMEOUT (and
 * the other transient timeouts and busy states) may succeed later; NONRETRYABLE and
 * WRITER_NOT_RESPONDING must not be retried without operator action.
 */

export interface HResultInfo {
  readonly name: string;
  /** Unsigned 32-bit value, e.g. 0x800423f3. */
  readonly code: number;
  readonly meaning: string;
  readonly retryable: boolean;
}

const TABLE = {
  S_OK: [0x00000000, false, 'Success.'],
  S_FALSE: [0x00000001, false, 'Success, with nothing done.'],
  VSS_E_BAD_STATE: [0x80042301, false, 'The object is not in a state that allows this call (calls out of order).'],
  VSS_E_UNEXPECTED: [0x80042302, false, 'An unexpected error in VSS; the Application event log has details.'],
  VSS_E_PROVIDER_ALREADY_REGISTERED: [0x80042303, false, 'The shadow copy provider is already registered.'],
  VSS_E_PROVIDER_NOT_REGISTERED: [0x80042304, false, 'The shadow copy provider is not registered.'],
  VSS_E_PROVIDER_VETO: [0x80042306, true, 'The shadow copy provider refused the operation; its event log entry says why.'],
  VSS_E_PROVIDER_IN_USE: [0x80042307, true, 'The shadow copy provider is in use.'],
  VSS_E_OBJECT_NOT_FOUND: [0x80042308, false, 'The object (writer, component, snapshot) was not found.'],
  VSS_S_ASYNC_PENDING: [0x00042309, false, 'The asynchronous operation is still running.'],
  VSS_S_ASYNC_FINISHED: [0x0004230a, false, 'The asynchronous operation finished.'],
  VSS_S_ASYNC_CANCELLED: [0x0004230b, false, 'The asynchronous operation was cancelled.'],
  VSS_E_VOLUME_NOT_SUPPORTED: [0x8004230c, false, 'Shadow copies are not supported on this volume.'],
  VSS_E_OBJECT_ALREADY_EXISTS: [0x8004230d, false, 'The object (writer, snapshot, association) already exists.'],
  VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER: [0x8004230e, false, 'The provider does not support shadow copies of this volume.'],
  VSS_E_UNEXPECTED_PROVIDER_ERROR: [0x8004230f, false, 'The shadow copy provider failed unexpectedly.'],
  VSS_E_CORRUPT_XML_DOCUMENT: [0x80042310, false, 'The XML document is not well formed.'],
  VSS_E_INVALID_XML_DOCUMENT: [0x80042311, false, 'The XML document does not follow the VSS schema.'],
  VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED: [0x80042312, false, 'The snapshot set already holds the most volumes allowed.'],
  VSS_E_FLUSH_WRITES_TIMEOUT: [0x80042313, true, 'The system could not flush I/O writes in time.'],
  VSS_E_HOLD_WRITES_TIMEOUT: [0x80042314, true, 'The system could not hold I/O writes for the duration of the snapshot.'],
  VSS_E_UNEXPECTED_WRITER_ERROR: [0x80042315, false, 'A writer returned an unexpected error.'],
  VSS_E_SNAPSHOT_SET_IN_PROGRESS: [0x80042316, true, 'Another snapshot set is being created; try again when it is done.'],
  VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED: [0x80042317, false, 'The volume already has the most shadow copies allowed.'],
  VSS_E_WRITER_INFRASTRUCTURE: [0x80042318, true, 'The writer infrastructure is not working; check that the VSS service is running.'],
  VSS_E_WRITER_NOT_RESPONDING: [0x80042319, false, 'A writer did not respond; it is not running or is hung.'],
  VSS_E_WRITER_ALREADY_SUBSCRIBED: [0x8004231a, false, 'The writer has already subscribed.'],
  VSS_E_UNSUPPORTED_CONTEXT: [0x8004231b, false, 'The provider does not support this snapshot context.'],
  VSS_E_VOLUME_IN_USE: [0x8004231d, true, 'The volume is in use (for example by another shadow copy operation).'],
  VSS_E_MAXIMUM_DIFFAREA_ASSOCIATIONS_REACHED: [0x8004231e, false, 'The most diff-area associations allowed are in place.'],
  VSS_E_INSUFFICIENT_STORAGE: [0x8004231f, false, 'Not enough storage for the shadow copy; free space or add shadow storage.'],
  VSS_E_NO_SNAPSHOTS_IMPORTED: [0x80042320, false, 'No shadow copies were imported.'],
  VSS_S_SOME_SNAPSHOTS_NOT_IMPORTED: [0x00042321, false, 'Some shadow copies were not imported.'],
  VSS_E_SOME_SNAPSHOTS_NOT_IMPORTED: [0x80042321, false, 'Some shadow copies were not imported.'],
  VSS_E_MAXIMUM_NUMBER_OF_REMOTE_MACHINES_REACHED: [0x80042322, false, 'The most remote machines allowed take part already.'],
  VSS_E_REMOTE_SERVER_UNAVAILABLE: [0x80042323, true, 'The remote server is unavailable.'],
  VSS_E_REMOTE_SERVER_UNSUPPORTED: [0x80042324, false, 'The remote server does not support this operation.'],
  VSS_E_REVERT_IN_PROGRESS: [0x80042325, true, 'A revert is in progress on the volume.'],
  VSS_E_REVERT_VOLUME_LOST: [0x80042326, false, 'The volume being reverted was lost.'],
  VSS_E_REBOOT_REQUIRED: [0x80042327, false, 'A reboot is required before this operation.'],
  VSS_E_TRANSACTION_FREEZE_TIMEOUT: [0x80042328, true, 'Kernel transactions could not be frozen in time.'],
  VSS_E_TRANSACTION_THAW_TIMEOUT: [0x80042329, true, 'Kernel transactions were held too long and were thawed.'],
  VSS_E_UNSELECTED_VOLUME: [0x8004232a, false, 'The volume is not part of the selected set.'],
  VSS_E_SNAPSHOT_NOT_IN_SET: [0x8004232b, false, 'The shadow copy is not in the snapshot set.'],
  VSS_E_NESTED_VOLUME_LIMIT: [0x8004232c, false, 'The volume is nested too deeply.'],
  VSS_E_VOLUME_NOT_LOCAL: [0x8004232d, false, 'The volume is not local to this machine.'],
  VSS_E_CLUSTER_TIMEOUT: [0x8004232e, true, 'A cluster operation timed out.'],
  VSS_E_NOT_SUPPORTED: [0x8004232f, false, 'The operation is not supported.'],
  VSS_E_WRITERERROR_PARTIAL_FAILURE: [0x80042336, false, 'The writer failed for some of its components.'],
  VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT: [0x800423f0, false, 'The snapshot set lacks volumes the writer needs; add them and try again.'],
  VSS_E_WRITERERROR_OUTOFRESOURCES: [0x800423f1, true, 'The writer ran out of resources (memory, handles); retry later.'],
  VSS_E_WRITERERROR_TIMEOUT: [0x800423f2, true, 'The writer timed out (between Freeze and Thaw); retry later.'],
  VSS_E_WRITERERROR_RETRYABLE: [0x800423f3, true, 'The writer hit a transient error; retry later (Microsoft suggests ~10 minutes, up to 3 times).'],
  VSS_E_WRITERERROR_NONRETRYABLE: [0x800423f4, false, 'The writer hit an error that retrying will not fix; check its event log.'],
  VSS_E_WRITERERROR_RECOVERY_FAILED: [0x800423f5, false, 'The writer failed to recover the shadow copy volume.'],
  VSS_E_BREAK_REVERT_ID_FAILED: [0x800423f6, false, 'Breaking the shadow copy set failed to revert the disk identifiers.'],
  VSS_E_LEGACY_PROVIDER: [0x800423f7, false, 'This version of the provider does not support the operation.'],
  VSS_E_MISSING_DISK: [0x800423f8, false, 'A disk needed for restore is missing.'],
  VSS_E_MISSING_HIDDEN_VOLUME: [0x800423f9, false, 'A hidden volume needed for restore is missing.'],
  VSS_E_MISSING_VOLUME: [0x800423fa, false, 'A volume needed for restore is missing.'],
  VSS_E_AUTORECOVERY_FAILED: [0x800423fb, false, 'Auto-recovery of the shadow copy failed.'],
  VSS_E_DYNAMIC_DISK_ERROR: [0x800423fc, false, 'A dynamic disk error occurred.'],
  VSS_E_NONTRANSPORTABLE_BCD: [0x800423fd, false, 'The boot configuration data is not transportable.'],
  VSS_E_CANNOT_REVERT_DISKID: [0x800423fe, false, 'The disk identifier could not be reverted.'],
  VSS_E_RESYNC_IN_PROGRESS: [0x800423ff, true, 'A LUN resynchronization is in progress.'],
  VSS_E_CLUSTER_ERROR: [0x80042400, false, 'A cluster error occurred.'],
  VSS_E_ASRERROR_DISK_ASSIGNMENT_FAILED: [0x80042401, false, 'ASR could not assign disks.'],
  VSS_E_ASRERROR_DISK_RECREATION_FAILED: [0x80042402, false, 'ASR could not recreate a disk.'],
  VSS_E_ASRERROR_NO_ARCPATH: [0x80042403, false, 'ASR found no ARC path for a disk.'],
  VSS_E_ASRERROR_MISSING_DYNDISK: [0x80042404, false, 'ASR is missing a dynamic disk.'],
  VSS_E_ASRERROR_SHARED_CRIDISK: [0x80042405, false, 'ASR found a shared critical disk.'],
  VSS_E_ASRERROR_DATADISK_RDISK0: [0x80042406, false, 'ASR: a data disk is disk 0.'],
  VSS_E_ASRERROR_RDISK0_TOOSMALL: [0x80042407, false, 'ASR: disk 0 is too small.'],
  VSS_E_ASRERROR_CRITICAL_DISKS_TOO_SMALL: [0x80042408, false, 'ASR: critical disks are too small.'],
  VSS_E_WRITER_STATUS_NOT_AVAILABLE: [0x80042409, true, 'The writer status is not available yet (the writer may have been restarted).'],
  VSS_E_ASRERROR_DYNAMIC_VHD_NOT_SUPPORTED: [0x8004240a, false, 'ASR does not support dynamic VHDs.'],
  VSS_E_CRITICAL_VOLUME_ON_INVALID_DISK: [0x80042411, false, 'A critical volume is on a disk that cannot be backed up.'],
  VSS_E_ASRERROR_RDISK_FOR_SYSTEM_DISK_NOT_FOUND: [0x80042412, false, 'ASR found no disk to restore the system disk to.'],
  VSS_E_ASRERROR_NO_PHYSICAL_DISK_AVAILABLE: [0x80042413, false, 'ASR found no physical disk.'],
  VSS_E_ASRERROR_FIXED_PHYSICAL_DISK_AVAILABLE_AFTER_DISK_EXCLUSION: [0x80042414, false, 'ASR: a fixed disk is still available after disk exclusion.'],
  VSS_E_ASRERROR_CRITICAL_DISK_CANNOT_BE_EXCLUDED: [0x80042415, false, 'ASR: a critical disk cannot be excluded.'],
  VSS_E_ASRERROR_SYSTEM_PARTITION_HIDDEN: [0x80042416, false, 'ASR: the system partition is hidden.'],
  VSS_E_FSS_TIMEOUT: [0x80042417, true, 'A File Server Shadow Copy operation timed out.'],
  E_NOTIMPL: [0x80004001, false, 'Not implemented on this system.'],
  E_POINTER: [0x80004003, false, 'A required pointer was null.'],
  E_ABORT: [0x80004004, false, 'The operation was aborted.'],
  E_FAIL: [0x80004005, false, 'Unspecified failure.'],
  E_UNEXPECTED: [0x8000ffff, false, 'Catastrophic failure.'],
  E_ACCESSDENIED: [0x80070005, false, 'Access denied: run as Administrator or Backup Operator (on POSIX: as root).'],
  E_OUTOFMEMORY: [0x8007000e, true, 'Out of memory.'],
  E_INVALIDARG: [0x80070057, false, 'An argument is not valid.'],
  RPC_E_TOO_LATE: [0x80010119, false, 'COM security was already initialised for this process.'],
  RPC_E_CHANGED_MODE: [0x80010106, false, 'COM was already initialised on this thread in another apartment mode.'],
} as const satisfies Record<string, readonly [code: number, retryable: boolean, meaning: string]>;

export type HResultName = keyof typeof TABLE;

const byName = new Map<string, HResultInfo>();
const byCode = new Map<number, HResultInfo>();
for (const [name, [code, retryable, meaning]] of Object.entries(TABLE)) {
  const info: HResultInfo = Object.freeze({ name, code: code >>> 0, meaning, retryable });
  byName.set(name, info);
  byCode.set(info.code, info);
}

/** Every known code by name, e.g. `HR.VSS_E_WRITERERROR_RETRYABLE === 0x800423f3`. */
export const HR = Object.freeze(
  Object.fromEntries(Object.entries(TABLE).map(([n, [c]]) => [n, c >>> 0])),
) as { readonly [K in HResultName]: number };

export function allHResults(): HResultInfo[] {
  return [...byCode.values()];
}

/** Looks a code up (signed or unsigned); unknown codes get a generic entry with their hex value. */
export function hresultInfo(code: number): HResultInfo {
  const u = code >>> 0;
  const known = byCode.get(u);
  if (known) return known;
  // HRESULT_FROM_WIN32: facility 7 carries a Win32 error code in the low 16 bits.
  const win32 = ((u & 0xffff0000) >>> 0) === 0x80070000 ? ` (Win32 error ${u & 0xffff})` : '';
  return { name: formatHResult(u), code: u, meaning: `Unknown HRESULT${win32}.`, retryable: false };
}

export function hresultByName(name: string): HResultInfo | undefined {
  return byName.get(name);
}

export function formatHResult(code: number): string {
  return '0x' + (code >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

export function isSuccess(code: number): boolean {
  return (code >>> 0) < 0x80000000;
}

/** The writer-failure codes a writer may report with SetWriterFailure. */
export const WRITER_FAILURE_CODES: readonly number[] = [
  HR.VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT,
  HR.VSS_E_WRITERERROR_OUTOFRESOURCES,
  HR.VSS_E_WRITERERROR_TIMEOUT,
  HR.VSS_E_WRITERERROR_RETRYABLE,
  HR.VSS_E_WRITERERROR_NONRETRYABLE,
  HR.VSS_E_WRITERERROR_RECOVERY_FAILED,
  HR.VSS_E_WRITERERROR_PARTIAL_FAILURE,
] as number[];

/** How `vssadmin list writers` prints a writer's last error. */
export function lastErrorText(code: number): string {
  switch (code >>> 0) {
    case 0: return 'No error';
    case HR.VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT: return 'Inconsistent shadow copy';
    case HR.VSS_E_WRITERERROR_OUTOFRESOURCES: return 'Out of resources';
    case HR.VSS_E_WRITERERROR_TIMEOUT: return 'Timed out';
    case HR.VSS_E_WRITERERROR_RETRYABLE: return 'Retryable error';
    case HR.VSS_E_WRITERERROR_NONRETRYABLE: return 'Non-retryable error';
    case HR.VSS_E_WRITER_NOT_RESPONDING: return 'Not responding';
    default: return 'Unexpected error';
  }
}
