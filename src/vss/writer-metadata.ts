/**
 * The writer metadata document (WMD): the typed model and its XML form, with VSS's own element
 * names and tokens (`<WRITER_METADATA xmlns="x-schema:#VssWriterMetadataInfo" version="1.2">`).
 */
import { createHash } from 'node:crypto';
import {
  type ComponentTypeName, RestoreMethod, type RestoreMethodName, SourceType,
  type SourceTypeName, UsageType, type UsageTypeName, WriterRestore, type WriterRestoreName,
  FILESPEC_BACKUP_TYPE_DEFAULT,
} from './enums.js';
import { VssError } from './errors.js';
import { parseGuid, type Guid } from './guid.js';
import { HR } from './hresult.js';
import { AttrReader, el, parseXml, serializeXml, yesNo, type XmlElement } from './xml.js';

export const WMD_NAMESPACE = 'x-schema:#VssWriterMetadataInfo';
export const WMD_VERSION = '1.2';

export interface FileDescriptor {
  path: string;
  filespec: string;
  /** Omitted in XML when VSS left it out (it then means "no"). */
  recursive?: boolean;
  alternatePath?: string;
  /** VSS_FILE_SPEC_BACKUP_TYPE mask; VSS writes 3855 (0xF0F) by default. */
  filespecBackupType?: number;
}

/** The element a component's file list came from. */
export type ComponentFileKind = 'FILE_LIST' | 'DATABASE_FILES' | 'DATABASE_LOGFILES';

export interface ComponentFile extends FileDescriptor {
  kind: ComponentFileKind;
}

/** "This component needs that component of that writer" (IVssCreateWriterMetadataEx::AddComponentDependency). */
export interface ComponentDependency {
  writerId: Guid;
  /** Logical path of the component depended on; `\\COMPUTER\` prefixed for a remote writer. */
  logicalPath?: string;
  componentName: string;
}

export interface WriterComponent {
  /** FILEGROUP components are `<FILE_GROUP>`, DATABASE components `<DATABASE>`. */
  type: Exclude<ComponentTypeName, 'UNDEFINED'>;
  logicalPath?: string;
  componentName: string;
  caption?: string;
  restoreMetadata: boolean;
  notifyOnBackupComplete: boolean;
  selectable: boolean;
  selectableForRestore: boolean;
  /** VSS_COMPONENT_FLAGS. */
  componentFlags: number;
  files: ComponentFile[];
  /**
   * Dependencies on other writers' components. No public document names the element VSS uses for
   * them in XML, so they are carried in the model (and by the registry and native code that call
   * AddComponentDependency), not written into the XML.
   */
  dependencies: ComponentDependency[];
  /** Child elements this reader does not know, kept so that a round trip loses nothing. */
  unknownElements?: XmlElement[];
}

export interface WriterIdentity {
  writerId: Guid;
  instanceId: Guid;
  instanceName?: string;
  friendlyName: string;
  usage: UsageTypeName;
  dataSource: SourceTypeName;
  majorVersion: number;
  minorVersion: number;
}

export interface WriterRestoreMethod {
  method: RestoreMethodName;
  service?: string;
  userProcedure?: string;
  writerRestore: WriterRestoreName;
  rebootRequired: boolean;
}

export interface WriterMetadata {
  version: string;
  /** VSS_BACKUP_SCHEMA mask; absent when the writer did not set one. */
  backupSchema?: number;
  identity: WriterIdentity;
  restoreMethod?: WriterRestoreMethod;
  components: WriterComponent[];
  excludeFiles: FileDescriptor[];
  excludeFilesFromSnapshot: FileDescriptor[];
  unknownElements?: XmlElement[];
}

/** The logical path and name VSS uses to address a component: `path\name`, or `name` alone. */
export function componentKey(c: { logicalPath?: string; componentName: string }): string {
  return c.logicalPath ? `${c.logicalPath}\\${c.componentName}` : c.componentName;
}

// ---- reading --------------------------------------------------------------------------------

export function parseWriterMetadata(input: Uint8Array | string, source = 'writer metadata'): WriterMetadata {
  const root = parseXml(input, source);
  if (root.name !== 'WRITER_METADATA') {
    throw new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, {
      message: `${source}: root element is <${root.name}>, expected <WRITER_METADATA>`,
      category: 'input',
    });
  }
  const r = new AttrReader(root, `${source}: WRITER_METADATA`);
  let identity: WriterIdentity | undefined;
  let restoreMethod: WriterRestoreMethod | undefined;
  const components: WriterComponent[] = [];
  const excludeFiles: FileDescriptor[] = [];
  const excludeFilesFromSnapshot: FileDescriptor[] = [];
  const unknownElements: XmlElement[] = [];

  for (const child of root.children) {
    const where = `${source}: ${child.name}`;
    switch (child.name) {
      case 'IDENTIFICATION':
        identity = readIdentity(child, where);
        break;
      case 'RESTORE_METHOD':
        restoreMethod = readRestoreMethod(child, where);
        break;
      case 'BACKUP_LOCATIONS':
        for (const loc of child.children) {
          const w = `${where}/${loc.name}[${components.length}]`;
          if (loc.name === 'FILE_GROUP' || loc.name === 'DATABASE') components.push(readComponent(loc, w));
          else if (loc.name === 'EXCLUDE_FILES') excludeFiles.push(readFile(loc, w));
          else if (loc.name === 'EXCLUDE_FILES_FROM_SNAPSHOT') excludeFilesFromSnapshot.push(readFile(loc, w));
          else unknownElements.push(loc);
        }
        break;
      case 'EXCLUDE_FILES':
        excludeFiles.push(readFile(child, where));
        break;
      default:
        unknownElements.push(child);
    }
  }
  if (!identity) {
    throw new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, {
      message: `${source}: <IDENTIFICATION> is missing`,
      category: 'input',
    });
  }
  const md: WriterMetadata = {
    version: r.opt('version') ?? WMD_VERSION,
    identity,
    components,
    excludeFiles,
    excludeFilesFromSnapshot,
  };
  const schema = r.optInt('backupSchema');
  if (schema !== undefined) md.backupSchema = schema;
  if (restoreMethod) md.restoreMethod = restoreMethod;
  if (unknownElements.length) md.unknownElements = unknownElements;
  return md;
}

function readIdentity(e: XmlElement, where: string): WriterIdentity {
  const r = new AttrReader(e, where);
  const id: WriterIdentity = {
    writerId: parseGuid(r.req('writerId'), `${where}@writerId`),
    instanceId: parseGuid(r.req('instanceId'), `${where}@instanceId`),
    friendlyName: r.req('friendlyName'),
    usage: UsageType.parseToken(r.opt('usage') ?? 'UNDEFINED', `${where}@usage`),
    dataSource: SourceType.parseToken(r.opt('dataSource') ?? 'UNDEFINED', `${where}@dataSource`),
    majorVersion: r.int('majorVersion', 0),
    minorVersion: r.int('minorVersion', 0),
  };
  const instanceName = r.opt('instanceName');
  if (instanceName !== undefined) id.instanceName = instanceName;
  return id;
}

function readRestoreMethod(e: XmlElement, where: string): WriterRestoreMethod {
  const r = new AttrReader(e, where);
  const m: WriterRestoreMethod = {
    method: RestoreMethod.parseToken(r.req('method'), `${where}@method`),
    writerRestore: WriterRestore.parseToken(r.opt('writerRestore') ?? 'undefined', `${where}@writerRestore`),
    rebootRequired: r.bool('rebootRequired', false),
  };
  const service = r.opt('service');
  if (service !== undefined) m.service = service;
  const userProcedure = r.opt('userProcedure');
  if (userProcedure !== undefined) m.userProcedure = userProcedure;
  return m;
}

function readComponent(e: XmlElement, where: string): WriterComponent {
  const r = new AttrReader(e, where);
  const c: WriterComponent = {
    type: e.name === 'DATABASE' ? 'DATABASE' : 'FILEGROUP',
    componentName: r.req('componentName'),
    restoreMetadata: r.bool('restoreMetadata', false),
    notifyOnBackupComplete: r.bool('notifyOnBackupComplete', false),
    selectable: r.bool('selectable', true),
    selectableForRestore: r.bool('selectableForRestore', false),
    componentFlags: r.int('componentFlags', 0),
    files: [],
    dependencies: [],
  };
  const logicalPath = r.opt('logicalPath');
  if (logicalPath !== undefined) c.logicalPath = logicalPath;
  const caption = r.opt('caption');
  if (caption !== undefined) c.caption = caption;
  const unknown: XmlElement[] = [];
  e.children.forEach((f, i) => {
    if (f.name === 'FILE_LIST' || f.name === 'DATABASE_FILES' || f.name === 'DATABASE_LOGFILES') {
      c.files.push({ kind: f.name, ...readFile(f, `${where}/${f.name}[${i}]`) });
    } else {
      unknown.push(f);
    }
  });
  if (unknown.length) c.unknownElements = unknown;
  return c;
}

function readFile(e: XmlElement, where: string): FileDescriptor {
  const r = new AttrReader(e, where);
  const f: FileDescriptor = { path: r.req('path'), filespec: r.req('filespec') };
  const recursive = r.optBool('recursive');
  if (recursive !== undefined) f.recursive = recursive;
  const alt = r.opt('alternatePath');
  if (alt !== undefined) f.alternatePath = alt;
  const fbt = r.optInt('filespecBackupType');
  if (fbt !== undefined) f.filespecBackupType = fbt;
  return f;
}

// ---- writing --------------------------------------------------------------------------------

/** Writes the document as VSS does: one line, attributes in VSS's order, GUIDs without braces. */
export function writeWriterMetadata(md: WriterMetadata): string {
  const id = md.identity;
  const children: XmlElement[] = [
    el('IDENTIFICATION', {
      writerId: parseGuid(id.writerId),
      instanceId: parseGuid(id.instanceId),
      instanceName: id.instanceName,
      friendlyName: id.friendlyName,
      usage: UsageType.token(id.usage),
      dataSource: SourceType.token(id.dataSource),
      majorVersion: String(id.majorVersion),
      minorVersion: String(id.minorVersion),
    }),
  ];
  if (md.restoreMethod) {
    const m = md.restoreMethod;
    children.push(
      el('RESTORE_METHOD', {
        method: RestoreMethod.token(m.method),
        service: m.service,
        userProcedure: m.userProcedure,
        writerRestore: WriterRestore.token(m.writerRestore),
        rebootRequired: yesNo(m.rebootRequired),
      }),
    );
  }
  const locations: XmlElement[] = [
    ...md.components.map(writeComponent),
    ...md.excludeFiles.map((f) => writeFile('EXCLUDE_FILES', f)),
    ...md.excludeFilesFromSnapshot.map((f) => writeFile('EXCLUDE_FILES_FROM_SNAPSHOT', f)),
  ];
  if (locations.length) children.push(el('BACKUP_LOCATIONS', {}, locations));
  children.push(...(md.unknownElements ?? []));
  const root = el(
    'WRITER_METADATA',
    {
      xmlns: WMD_NAMESPACE,
      version: md.version || WMD_VERSION,
      backupSchema: md.backupSchema !== undefined ? String(md.backupSchema) : undefined,
    },
    children,
  );
  return serializeXml(root);
}

function writeComponent(c: WriterComponent): XmlElement {
  return el(
    c.type === 'DATABASE' ? 'DATABASE' : 'FILE_GROUP',
    {
      logicalPath: c.logicalPath,
      componentName: c.componentName,
      caption: c.caption,
      restoreMetadata: yesNo(c.restoreMetadata),
      notifyOnBackupComplete: yesNo(c.notifyOnBackupComplete),
      selectable: yesNo(c.selectable),
      selectableForRestore: yesNo(c.selectableForRestore),
      componentFlags: String(c.componentFlags),
    },
    [...c.files.map((f) => writeFile(f.kind, f)), ...(c.unknownElements ?? [])],
  );
}

function writeFile(name: string, f: FileDescriptor): XmlElement {
  return el(name, {
    path: f.path,
    filespec: f.filespec,
    alternatePath: f.alternatePath,
    recursive: f.recursive === undefined ? undefined : yesNo(f.recursive),
    filespecBackupType: f.filespecBackupType !== undefined ? String(f.filespecBackupType) : undefined,
  });
}

/** A FILE_LIST entry with VSS's defaults. */
export function fileList(path: string, filespec: string, recursive = false): ComponentFile {
  return { kind: 'FILE_LIST', path, filespec, recursive, filespecBackupType: FILESPEC_BACKUP_TYPE_DEFAULT };
}


/**
 * A fingerprint of everything a registration carries: the XML as written plus the component
 * dependencies (which the XML does not). Two registrations are the same iff their fingerprints are.
 */
export function metadataFingerprint(md: WriterMetadata): string {
  const deps = md.components.map((c) => [componentKey(c), c.dependencies.map((d) => [d.writerId, d.logicalPath ?? '', d.componentName])]);
  return createHash('sha256').update(writeWriterMetadata(md)).update('\0').update(JSON.stringify(deps)).digest('hex');
}
