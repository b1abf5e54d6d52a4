/**
 * The rules VSS applies to express-writer metadata (IVssExpressWriter::LoadMetadata/Register).
 * Checking them here turns VSS's bare VSS_E_INVALID_XML_DOCUMENT into a message that names the rule
 * and the field, before anything is registered on any platform.
 */
import { BackupSchema, ComponentType, RestoreMethod, UsageType, WriterRestore, type RestoreMethodName, type UsageTypeName } from './enums.js';
import { VssError } from './errors.js';
import { HR } from './hresult.js';
import { parseGuid } from './guid.js';
import type { WriterComponent, WriterMetadata } from './writer-metadata.js';

export interface ExpressRuleViolation {
  rule: string;
  field: string;
  message: string;
}

const ALLOWED_USAGE: readonly UsageTypeName[] = ['USERDATA', 'SYSTEMSERVICE', 'BOOTABLESYSTEMSTATE'];
const FORBIDDEN_METHODS: readonly RestoreMethodName[] = ['UNDEFINED', 'RESTORE_TO_ALTERNATE_LOCATION', 'CUSTOM'];
const ALLOWED_SCHEMA = BackupSchema.mask(['COPY', 'INDEPENDENT_SYSTEM_STATE']);

export function checkExpressWriterMetadata(md: WriterMetadata): ExpressRuleViolation[] {
  const v: ExpressRuleViolation[] = [];
  const add = (rule: string, field: string, message: string) => v.push({ rule, field, message });
  if (!ALLOWED_USAGE.includes(md.identity.usage)) {
    add('usage', 'IDENTIFICATION@usage', `express writers must be USER_DATA, SYSTEM_SERVICE or BOOTABLE_SYSTEM_STATE, not ${md.identity.usage}`);
  }
  if (!md.restoreMethod) {
    add('restore-method', 'RESTORE_METHOD', 'express writers must declare a restore method');
  } else {
    if (FORBIDDEN_METHODS.includes(md.restoreMethod.method)) {
      add('restore-method', 'RESTORE_METHOD@method', `restore method ${md.restoreMethod.method} is not allowed for express writers`);
    }
    if (md.restoreMethod.writerRestore !== 'NEVER') {
      add('writer-restore', 'RESTORE_METHOD@writerRestore', `express writers run no code at restore, so writerRestore must be 'never', not ${md.restoreMethod.writerRestore}`);
    }
  }
  const schema = md.backupSchema ?? 0;
  if ((schema & ~ALLOWED_SCHEMA) !== 0) {
    add('backup-schema', 'WRITER_METADATA@backupSchema', `express writers may only set COPY and INDEPENDENT_SYSTEM_STATE, got ${schema} (${BackupSchema.names(schema & ~ALLOWED_SCHEMA).join(', ') || 'unknown bits'})`);
  }
  md.components.forEach((c, i) => {
    const at = `BACKUP_LOCATIONS/component[${i}] '${c.componentName}'`;
    if (c.type !== 'FILEGROUP') add('component-type', at, 'express writers may only have FILE_GROUP components');
    if (c.restoreMetadata) add('restore-metadata', `${at}@restoreMetadata`, "express writers cannot store restore metadata; must be 'no'");
    if (c.notifyOnBackupComplete) add('notify-on-backup-complete', `${at}@notifyOnBackupComplete`, "express writers receive no events; must be 'no'");
    c.files.forEach((f, j) => {
      if (f.alternatePath !== undefined) add('alternate-location', `${at}/file[${j}]@alternatePath`, 'express writers cannot have alternate locations');
    });
    (c.unknownElements ?? []).forEach((u) => {
      if (u.name.startsWith('ALTERNATE_LOCATION')) add('alternate-location', `${at}/${u.name}`, 'express writers cannot have alternate location mappings');
    });
  });
  (md.unknownElements ?? []).forEach((u) => {
    if (u.name.startsWith('ALTERNATE_LOCATION')) add('alternate-location', u.name, 'express writers cannot have alternate location mappings');
  });
  return v;
}

/** Throws VSS_E_INVALID_XML_DOCUMENT naming every rule the metadata breaks. */
export function assertExpressWriterMetadata(md: WriterMetadata, source = 'writer metadata'): void {
  const v = checkExpressWriterMetadata(md);
  if (v.length) {
    throw new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, {
      message: `${source} breaks ${v.length} express-writer rule(s):\n` + v.map((x) => `  - [${x.rule}] ${x.field}: ${x.message}`).join('\n'),
      category: 'input',
      hint: 'VSS would reject this registration; fix the metadata document.',
    });
  }
}

/** What the native registerExpressWriter takes: the model with enum names turned into VSS values. */
export interface ExpressWriterSpec {
  writerId: string;
  name: string;
  usage: number;
  versionMajor: number;
  versionMinor: number;
  backupSchema: number;
  restoreMethod?: { method: number; writerRestore: number; rebootRequired: boolean; service?: string; userProcedure?: string };
  /** The model's components, with the type as its VSS value. */
  components: (Omit<WriterComponent, 'type' | 'files' | 'dependencies' | 'unknownElements'> & {
    type: number;
    files: { path: string; filespec: string; recursive: boolean; alternatePath?: string; backupTypeMask?: number }[];
    dependencies: { writerId: string; logicalPath?: string; componentName: string }[];
  })[];
  excludeFiles: { path: string; filespec: string; recursive: boolean }[];
}

export function expressWriterSpec(md: WriterMetadata): ExpressWriterSpec {
  const id = md.identity;
  const spec: ExpressWriterSpec = {
    writerId: parseGuid(id.writerId),
    name: id.friendlyName,
    usage: UsageType.value(id.usage),
    versionMajor: id.majorVersion,
    versionMinor: id.minorVersion,
    backupSchema: md.backupSchema ?? 0,
    components: md.components.map((c) => ({
      type: ComponentType.value(c.type),
      ...(c.logicalPath !== undefined ? { logicalPath: c.logicalPath } : {}),
      componentName: c.componentName,
      ...(c.caption !== undefined ? { caption: c.caption } : {}),
      restoreMetadata: c.restoreMetadata,
      notifyOnBackupComplete: c.notifyOnBackupComplete,
      selectable: c.selectable,
      selectableForRestore: c.selectableForRestore,
      componentFlags: c.componentFlags,
      files: c.files.map((f) => ({
        path: f.path,
        filespec: f.filespec,
        recursive: !!f.recursive,
        ...(f.alternatePath !== undefined ? { alternatePath: f.alternatePath } : {}),
        ...(f.filespecBackupType !== undefined ? { backupTypeMask: f.filespecBackupType } : {}),
      })),
      dependencies: c.dependencies.map((d) => ({ writerId: parseGuid(d.writerId), ...(d.logicalPath !== undefined ? { logicalPath: d.logicalPath } : {}), componentName: d.componentName })),
    })),
    excludeFiles: md.excludeFiles.map((f) => ({ path: f.path, filespec: f.filespec, recursive: !!f.recursive })),
  };
  if (md.restoreMethod) {
    const m = md.restoreMethod;
    spec.restoreMethod = {
      method: RestoreMethod.value(m.method),
      writerRestore: WriterRestore.value(m.writerRestore),
      rebootRequired: m.rebootRequired,
      ...(m.service !== undefined ? { service: m.service } : {}),
      ...(m.userProcedure !== undefined ? { userProcedure: m.userProcedure } : {}),
    };
  }
  return spec;
}
