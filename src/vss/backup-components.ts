/**
 * The backup components document (BCD): what a requester selected for one backup, as VSS writes it
 * (`<BACKUP_COMPONENTS xmlns="x-schema:#VssComponentMetadata" version="1.2" …>`).
 */
import { BackupType, type BackupTypeName, ComponentType, type ComponentTypeName } from './enums.js';
import { VssError } from './errors.js';
import { parseGuid, type Guid } from './guid.js';
import { HR } from './hresult.js';
import { AttrReader, el, parseXml, serializeXml, yesNo, type XmlElement } from './xml.js';

export const BCD_NAMESPACE = 'x-schema:#VssComponentMetadata';

export interface BackupComponent {
  logicalPath?: string;
  componentName: string;
  componentType: ComponentTypeName;
  /** Opaque stamp the writer set for incremental/differential backups. */
  backupStamp?: string;
  /** Base64 private metadata the writer stored (`<BACKUP_METADATA metadata="…">`). */
  backupMetadata?: string;
  unknownElements?: XmlElement[];
}

export interface WriterComponents {
  instanceId: Guid;
  writerId: Guid;
  instanceName?: string;
  backupSchema?: number;
  components: BackupComponent[];
}

export interface BackupComponentsDocument {
  version: string;
  backupType: BackupTypeName;
  snapshotSetId?: Guid;
  bootableSystemStateBackup?: boolean;
  selectComponents?: boolean;
  partialFileSupport?: boolean;
  writers: WriterComponents[];
  unknownElements?: XmlElement[];
}

export function parseBackupComponents(input: Uint8Array | string, source = 'backup components document'): BackupComponentsDocument {
  const root = parseXml(input, source);
  if (root.name !== 'BACKUP_COMPONENTS') {
    throw new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, {
      message: `${source}: root element is <${root.name}>, expected <BACKUP_COMPONENTS>`,
      category: 'input',
    });
  }
  const r = new AttrReader(root, `${source}: BACKUP_COMPONENTS`);
  const doc: BackupComponentsDocument = {
    version: r.opt('version') ?? '1.2',
    backupType: BackupType.parseToken(r.opt('backupType') ?? 'undefined', `${source}: BACKUP_COMPONENTS@backupType`),
    writers: [],
  };
  const ssid = r.opt('snapshotSetId');
  if (ssid !== undefined) doc.snapshotSetId = parseGuid(ssid, `${source}: BACKUP_COMPONENTS@snapshotSetId`);
  for (const k of ['bootableSystemStateBackup', 'selectComponents', 'partialFileSupport'] as const) {
    const b = r.optBool(k);
    if (b !== undefined) doc[k] = b;
  }
  const unknown: XmlElement[] = [];
  root.children.forEach((w, i) => {
    if (w.name !== 'WRITER_COMPONENTS') {
      unknown.push(w);
      return;
    }
    const where = `${source}: WRITER_COMPONENTS[${i}]`;
    const wr = new AttrReader(w, where);
    const wc: WriterComponents = {
      instanceId: parseGuid(wr.req('instanceId'), `${where}@instanceId`),
      writerId: parseGuid(wr.req('writerId'), `${where}@writerId`),
      components: [],
    };
    const instanceName = wr.opt('instanceName');
    if (instanceName !== undefined) wc.instanceName = instanceName;
    const schema = wr.optInt('backupSchema');
    if (schema !== undefined) wc.backupSchema = schema;
    w.children.forEach((c, j) => {
      if (c.name === 'COMPONENT') wc.components.push(readComponent(c, `${where}/COMPONENT[${j}]`));
    });
    doc.writers.push(wc);
  });
  if (unknown.length) doc.unknownElements = unknown;
  return doc;
}

function readComponent(c: XmlElement, where: string): BackupComponent {
  const r = new AttrReader(c, where);
  const bc: BackupComponent = {
    componentName: r.req('componentName'),
    componentType: ComponentType.parseToken(r.opt('componentType') ?? 'undefined', `${where}@componentType`),
  };
  const lp = r.opt('logicalPath');
  if (lp !== undefined) bc.logicalPath = lp;
  const stamp = r.opt('backupStamp');
  if (stamp !== undefined) bc.backupStamp = stamp;
  const unknown: XmlElement[] = [];
  for (const child of c.children) {
    if (child.name === 'BACKUP_METADATA' && child.attrs['metadata'] !== undefined) bc.backupMetadata = child.attrs['metadata'];
    else unknown.push(child);
  }
  if (unknown.length) bc.unknownElements = unknown;
  return bc;
}

export function writeBackupComponents(doc: BackupComponentsDocument): string {
  const writers = doc.writers.map((w) =>
    el(
      'WRITER_COMPONENTS',
      {
        instanceId: parseGuid(w.instanceId),
        writerId: parseGuid(w.writerId),
        instanceName: w.instanceName,
        backupSchema: w.backupSchema !== undefined ? String(w.backupSchema) : undefined,
      },
      w.components.map((c) =>
        el(
          'COMPONENT',
          {
            logicalPath: c.logicalPath,
            componentName: c.componentName,
            componentType: ComponentType.token(c.componentType),
            backupStamp: c.backupStamp,
          },
          [
            ...(c.backupMetadata !== undefined ? [el('BACKUP_METADATA', { xmlns: '', metadata: c.backupMetadata })] : []),
            ...(c.unknownElements ?? []),
          ],
        ),
      ),
    ),
  );
  const opt = (b: boolean | undefined) => (b === undefined ? undefined : yesNo(b));
  return serializeXml(
    el(
      'BACKUP_COMPONENTS',
      {
        xmlns: BCD_NAMESPACE,
        version: doc.version || '1.2',
        bootableSystemStateBackup: opt(doc.bootableSystemStateBackup),
        selectComponents: opt(doc.selectComponents),
        backupType: BackupType.token(doc.backupType),
        partialFileSupport: opt(doc.partialFileSupport),
        snapshotSetId: doc.snapshotSetId,
      },
      [...writers, ...(doc.unknownElements ?? [])],
    ),
  );
}
