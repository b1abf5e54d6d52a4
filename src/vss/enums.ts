/**
 * The VSS enumerations, with the exact numeric values of vss.h / vswriter.h and the tokens VSS
 * writes in its XML documents. This is the only table of them in the project: the XML reader and
 * writer, the vssadmin formatter, the requester and the native bridge all look values up here.
 *
 * The XML tokens are not the C names (VSS writes `USER_DATA` for VSS_UT_USERDATA). Tokens that
 * appear in real captured documents are marked `seen`; the rest are inferred from the pattern of
 * the seen ones, so the reader also accepts the C name for every member.
 */
import { VssError } from './errors.js';
import { HR } from './hresult.js';

export interface EnumMember<N extends string> {
  /** Member name without the C prefix, e.g. `USERDATA` for VSS_UT_USERDATA. */
  readonly name: N;
  readonly value: number;
  /** The token VSS writes in XML documents, when the enum appears there. */
  readonly token?: string;
  /** How vssadmin and other Windows tools print the member to people. */
  readonly display?: string;
}

export class VssEnum<N extends string> {
  private readonly byNameMap = new Map<string, EnumMember<N>>();
  private readonly byValueMap = new Map<number, EnumMember<N>>();
  private readonly byTokenMap = new Map<string, EnumMember<N>>();

  constructor(
    /** The C type name, e.g. `VSS_USAGE_TYPE`. */
    readonly typeName: string,
    /** The C prefix of the members, e.g. `VSS_UT_`. */
    readonly prefix: string,
    readonly members: readonly EnumMember<N>[],
  ) {
    for (const m of members) {
      this.byNameMap.set(m.name, m);
      this.byValueMap.set(m.value, m);
      if (m.token !== undefined) this.byTokenMap.set(m.token.toLowerCase(), m);
    }
  }

  get names(): N[] {
    return this.members.map((m) => m.name);
  }

  isName(name: string): name is N {
    return this.byNameMap.has(name);
  }

  value(name: N): number {
    return this.member(name).value;
  }

  member(name: N): EnumMember<N> {
    const m = this.byNameMap.get(name);
    if (!m) throw new TypeError(`${name} is not a member of ${this.typeName}`);
    return m;
  }

  /** The full C name, e.g. `VSS_UT_USERDATA`. */
  cName(name: N): string {
    return this.prefix + name;
  }

  fromValue(value: number): N | undefined {
    return this.byValueMap.get(value)?.name;
  }

  token(name: N): string {
    const m = this.member(name);
    if (m.token === undefined) throw new TypeError(`${this.typeName}.${name} has no XML token`);
    return m.token;
  }

  display(name: N): string {
    return this.member(name).display ?? name;
  }

  /**
   * Reads an XML token. VSS's own token is preferred; the bare member name and the full C name are
   * accepted too (case-insensitive), because tokens that were never seen in a capture are inferred.
   */
  parseToken(token: string, field: string): N {
    const key = token.trim();
    const m =
      this.byTokenMap.get(key.toLowerCase()) ??
      this.byNameMap.get(key.toUpperCase()) ??
      (key.toUpperCase().startsWith(this.prefix) ? this.byNameMap.get(key.toUpperCase().slice(this.prefix.length)) : undefined);
    if (!m) {
      const expected = this.members.filter((x) => x.token !== undefined).map((x) => x.token);
      throw new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, {
        message: `${field}: '${token}' is not a ${this.typeName} token (expected one of ${expected.join(', ')})`,
      });
    }
    return m.name;
  }
}

/** A set of bit flags, e.g. VSS_BACKUP_SCHEMA. */
export class VssFlags<N extends string> {
  constructor(
    readonly typeName: string,
    readonly prefix: string,
    readonly bits: Readonly<Record<N, number>>,
  ) {}

  names(mask: number): N[] {
    return (Object.keys(this.bits) as N[]).filter((n) => (mask & this.bits[n]) !== 0);
  }

  mask(names: readonly N[]): number {
    return names.reduce((acc, n) => acc | this.bits[n], 0);
  }

  /** Bits set in `mask` that this type does not define. */
  unknownBits(mask: number): number {
    const known = Object.values<number>(this.bits).reduce((a, b) => a | b, 0);
    return mask & ~known;
  }
}

export type WriterStateName =
  | 'UNKNOWN' | 'STABLE' | 'WAITING_FOR_FREEZE' | 'WAITING_FOR_THAW' | 'WAITING_FOR_POST_SNAPSHOT'
  | 'WAITING_FOR_BACKUP_COMPLETE' | 'FAILED_AT_IDENTIFY' | 'FAILED_AT_PREPARE_BACKUP'
  | 'FAILED_AT_PREPARE_SNAPSHOT' | 'FAILED_AT_FREEZE' | 'FAILED_AT_THAW' | 'FAILED_AT_POST_SNAPSHOT'
  | 'FAILED_AT_BACKUP_COMPLETE' | 'FAILED_AT_PRE_RESTORE' | 'FAILED_AT_POST_RESTORE'
  | 'FAILED_AT_BACKUPSHUTDOWN';

/** VSS_WRITER_STATE. `display` is what `vssadmin list writers` prints after `[n]`. */
export const WriterState = new VssEnum<WriterStateName>('VSS_WRITER_STATE', 'VSS_WS_', [
  { name: 'UNKNOWN', value: 0, display: 'Unknown' },
  { name: 'STABLE', value: 1, display: 'Stable' },
  { name: 'WAITING_FOR_FREEZE', value: 2, display: 'Waiting for freeze' },
  { name: 'WAITING_FOR_THAW', value: 3, display: 'Waiting for thaw' },
  { name: 'WAITING_FOR_POST_SNAPSHOT', value: 4, display: 'Waiting for post snapshot' },
  { name: 'WAITING_FOR_BACKUP_COMPLETE', value: 5, display: 'Waiting for completion' },
  { name: 'FAILED_AT_IDENTIFY', value: 6, display: 'Failed' },
  { name: 'FAILED_AT_PREPARE_BACKUP', value: 7, display: 'Failed' },
  { name: 'FAILED_AT_PREPARE_SNAPSHOT', value: 8, display: 'Failed' },
  { name: 'FAILED_AT_FREEZE', value: 9, display: 'Failed' },
  { name: 'FAILED_AT_THAW', value: 10, display: 'Failed' },
  { name: 'FAILED_AT_POST_SNAPSHOT', value: 11, display: 'Failed' },
  { name: 'FAILED_AT_BACKUP_COMPLETE', value: 12, display: 'Failed' },
  { name: 'FAILED_AT_PRE_RESTORE', value: 13, display: 'Failed' },
  { name: 'FAILED_AT_POST_RESTORE', value: 14, display: 'Failed' },
  { name: 'FAILED_AT_BACKUPSHUTDOWN', value: 15, display: 'Failed' },
]);

export function isFailedState(state: WriterStateName): boolean {
  return state.startsWith('FAILED_AT_');
}

export type UsageTypeName = 'UNDEFINED' | 'BOOTABLESYSTEMSTATE' | 'SYSTEMSERVICE' | 'USERDATA' | 'OTHER';
/** VSS_USAGE_TYPE. Tokens seen: USER_DATA, SYSTEM_SERVICE, BOOTABLE_SYSTEM_STATE. */
export const UsageType = new VssEnum<UsageTypeName>('VSS_USAGE_TYPE', 'VSS_UT_', [
  { name: 'UNDEFINED', value: 0, token: 'UNDEFINED' },
  { name: 'BOOTABLESYSTEMSTATE', value: 1, token: 'BOOTABLE_SYSTEM_STATE' },
  { name: 'SYSTEMSERVICE', value: 2, token: 'SYSTEM_SERVICE' },
  { name: 'USERDATA', value: 3, token: 'USER_DATA' },
  { name: 'OTHER', value: 4, token: 'OTHER' },
]);

export type SourceTypeName = 'UNDEFINED' | 'TRANSACTEDDB' | 'NONTRANSACTEDDB' | 'OTHER';
/** VSS_SOURCE_TYPE. Tokens seen: TRANSACTION_DB, OTHER. */
export const SourceType = new VssEnum<SourceTypeName>('VSS_SOURCE_TYPE', 'VSS_ST_', [
  { name: 'UNDEFINED', value: 0, token: 'UNDEFINED' },
  { name: 'TRANSACTEDDB', value: 1, token: 'TRANSACTION_DB' },
  { name: 'NONTRANSACTEDDB', value: 2, token: 'NONTRANSACTION_DB' },
  { name: 'OTHER', value: 3, token: 'OTHER' },
]);

export type ComponentTypeName = 'UNDEFINED' | 'DATABASE' | 'FILEGROUP';
/** VSS_COMPONENT_TYPE. `token` is the backup components document's componentType (seen: filegroup). */
export const ComponentType = new VssEnum<ComponentTypeName>('VSS_COMPONENT_TYPE', 'VSS_CT_', [
  { name: 'UNDEFINED', value: 0, token: 'undefined' },
  { name: 'DATABASE', value: 1, token: 'database' },
  { name: 'FILEGROUP', value: 2, token: 'filegroup' },
]);

export type RestoreMethodName =
  | 'UNDEFINED' | 'RESTORE_IF_NOT_THERE' | 'RESTORE_IF_CAN_REPLACE' | 'STOP_RESTORE_START'
  | 'RESTORE_TO_ALTERNATE_LOCATION' | 'RESTORE_AT_REBOOT' | 'RESTORE_AT_REBOOT_IF_CANNOT_REPLACE'
  | 'CUSTOM' | 'RESTORE_STOP_START';
/**
 * VSS_RESTOREMETHOD_ENUM. Tokens seen: RESTORE_IF_CAN_BE_REPLACED, REPLACE_AT_REBOOT,
 * REPLACE_AT_REBOOT_IF_CANNOT_REPLACE; the others are inferred.
 */
export const RestoreMethod = new VssEnum<RestoreMethodName>('VSS_RESTOREMETHOD_ENUM', 'VSS_RME_', [
  { name: 'UNDEFINED', value: 0, token: 'UNDEFINED' },
  { name: 'RESTORE_IF_NOT_THERE', value: 1, token: 'RESTORE_IF_NONE_THERE' },
  { name: 'RESTORE_IF_CAN_REPLACE', value: 2, token: 'RESTORE_IF_CAN_BE_REPLACED' },
  { name: 'STOP_RESTORE_START', value: 3, token: 'STOP_RESTART_SERVICE' },
  { name: 'RESTORE_TO_ALTERNATE_LOCATION', value: 4, token: 'RESTORE_TO_ALTERNATE_LOCATION' },
  { name: 'RESTORE_AT_REBOOT', value: 5, token: 'REPLACE_AT_REBOOT' },
  { name: 'RESTORE_AT_REBOOT_IF_CANNOT_REPLACE', value: 6, token: 'REPLACE_AT_REBOOT_IF_CANNOT_REPLACE' },
  { name: 'CUSTOM', value: 7, token: 'CUSTOM' },
  { name: 'RESTORE_STOP_START', value: 8, token: 'RESTORE_STOP_START' },
]);

export type WriterRestoreName = 'UNDEFINED' | 'NEVER' | 'IF_REPLACE_FAILS' | 'ALWAYS';
/** VSS_WRITERRESTORE_ENUM. Tokens seen: never, always. */
export const WriterRestore = new VssEnum<WriterRestoreName>('VSS_WRITERRESTORE_ENUM', 'VSS_WRE_', [
  { name: 'UNDEFINED', value: 0, token: 'undefined' },
  { name: 'NEVER', value: 1, token: 'never' },
  { name: 'IF_REPLACE_FAILS', value: 2, token: 'ifReplaceFails' },
  { name: 'ALWAYS', value: 3, token: 'always' },
]);

export type BackupTypeName = 'UNDEFINED' | 'FULL' | 'INCREMENTAL' | 'DIFFERENTIAL' | 'LOG' | 'COPY' | 'OTHER';
/** VSS_BACKUP_TYPE. Token is the backup components document's backupType (seen: full). */
export const BackupType = new VssEnum<BackupTypeName>('VSS_BACKUP_TYPE', 'VSS_BT_', [
  { name: 'UNDEFINED', value: 0, token: 'undefined' },
  { name: 'FULL', value: 1, token: 'full' },
  { name: 'INCREMENTAL', value: 2, token: 'incremental' },
  { name: 'DIFFERENTIAL', value: 3, token: 'differential' },
  { name: 'LOG', value: 4, token: 'log' },
  { name: 'COPY', value: 5, token: 'copy' },
  { name: 'OTHER', value: 6, token: 'other' },
]);

export type ApplicationLevelName = 'UNKNOWN' | 'SYSTEM' | 'BACK_END' | 'FRONT_END' | 'SYSTEM_RM' | 'AUTO';
/**
 * VSS_APPLICATION_LEVEL. Freeze reaches FRONT_END writers first, then BACK_END, then SYSTEM; thaw
 * goes the other way. The SQL Server writer is BACK_END.
 */
export const ApplicationLevel = new VssEnum<ApplicationLevelName>('VSS_APPLICATION_LEVEL', 'VSS_APP_', [
  { name: 'UNKNOWN', value: 0 },
  { name: 'SYSTEM', value: 1 },
  { name: 'BACK_END', value: 2 },
  { name: 'FRONT_END', value: 3 },
  { name: 'SYSTEM_RM', value: 4 },
  { name: 'AUTO', value: -1 },
]);

export type ComponentFlagName = 'BACKUP_RECOVERY' | 'APP_ROLLBACK_RECOVERY' | 'NOT_SYSTEM_STATE';
/** VSS_COMPONENT_FLAGS (componentFlags in XML). */
export const ComponentFlags = new VssFlags<ComponentFlagName>('VSS_COMPONENT_FLAGS', 'VSS_CF_', {
  BACKUP_RECOVERY: 0x1,
  APP_ROLLBACK_RECOVERY: 0x2,
  NOT_SYSTEM_STATE: 0x4,
});

export type BackupSchemaName =
  | 'DIFFERENTIAL' | 'INCREMENTAL' | 'EXCLUSIVE_INCREMENTAL_DIFFERENTIAL' | 'LOG' | 'COPY'
  | 'TIMESTAMPED' | 'LAST_MODIFY' | 'LSN' | 'WRITER_SUPPORTS_NEW_TARGET'
  | 'WRITER_SUPPORTS_RESTORE_WITH_MOVE' | 'INDEPENDENT_SYSTEM_STATE' | 'ROLLFORWARD_RESTORE'
  | 'RESTORE_RENAME' | 'AUTHORITATIVE_RESTORE' | 'WRITER_SUPPORTS_PARALLEL_RESTORES';
/** VSS_BACKUP_SCHEMA (backupSchema in XML; the SQL writer reports 881 = 0x371). */
export const BackupSchema = new VssFlags<BackupSchemaName>('VSS_BACKUP_SCHEMA', 'VSS_BS_', {
  DIFFERENTIAL: 0x1,
  INCREMENTAL: 0x2,
  EXCLUSIVE_INCREMENTAL_DIFFERENTIAL: 0x4,
  LOG: 0x8,
  COPY: 0x10,
  TIMESTAMPED: 0x20,
  LAST_MODIFY: 0x40,
  LSN: 0x80,
  WRITER_SUPPORTS_NEW_TARGET: 0x100,
  WRITER_SUPPORTS_RESTORE_WITH_MOVE: 0x200,
  INDEPENDENT_SYSTEM_STATE: 0x400,
  ROLLFORWARD_RESTORE: 0x1000,
  RESTORE_RENAME: 0x2000,
  AUTHORITATIVE_RESTORE: 0x4000,
  WRITER_SUPPORTS_PARALLEL_RESTORES: 0x8000,
});

/** VSS_FILE_SPEC_BACKUP_TYPE default mask, written as filespecBackupType="3855". */
export const FILESPEC_BACKUP_TYPE_DEFAULT = 0xf0f;
