/**
 * diskshadow's manifest (`Manifest.xml`, UTF-16): the snapshot set, its shadow copies and the
 * writer metadata files diskshadow saved beside it. Writer names encode spaces as `%s`.
 */
import { VssError } from './errors.js';
import { parseGuid, type Guid } from './guid.js';
import { HR } from './hresult.js';
import { AttrReader, parseXml } from './xml.js';

export interface DiskshadowManifest {
  snapshotSetId: Guid;
  machineName: string;
  shadowCopies: { id: Guid; alias?: string; originalVolume: string; providerId?: Guid }[];
  backupComponentsFile?: string;
  writers: { name: string; metadataFile: string }[];
}

export function parseDiskshadowManifest(input: Uint8Array | string, source = 'diskshadow manifest'): DiskshadowManifest {
  const root = parseXml(input, source);
  if (root.name !== 'Manifest') {
    throw new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, { message: `${source}: root is <${root.name}>, expected <Manifest>`, category: 'input' });
  }
  const set = root.children.find((c) => c.name === 'ShadowCopySet');
  if (!set) throw new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, { message: `${source}: <ShadowCopySet> is missing`, category: 'input' });
  const sr = new AttrReader(set, `${source}: ShadowCopySet`);
  const m: DiskshadowManifest = {
    snapshotSetId: parseGuid(sr.req('GUID'), `${source}: ShadowCopySet@GUID`),
    machineName: sr.req('MachineName'),
    shadowCopies: [],
    writers: [],
  };
  for (const sc of set.children.filter((c) => c.name === 'ShadowCopy')) {
    const r = new AttrReader(sc, `${source}: ShadowCopy`);
    const copy: DiskshadowManifest['shadowCopies'][number] = { id: parseGuid(r.req('GUID')), originalVolume: r.req('OriginalVolume') };
    const alias = r.opt('Alias');
    if (alias !== undefined) copy.alias = alias;
    const prov = r.opt('Provider');
    if (prov !== undefined) copy.providerId = parseGuid(prov, `${source}: ShadowCopy@Provider`);
    m.shadowCopies.push(copy);
  }
  const bc = root.children.find((c) => c.name === 'BackupComponents');
  if (bc?.attrs['File'] !== undefined) m.backupComponentsFile = bc.attrs['File'];
  for (const w of root.children.find((c) => c.name === 'Writers')?.children ?? []) {
    const r = new AttrReader(w, `${source}: Writer`);
    m.writers.push({ name: r.req('Name').replace(/%s/g, ' '), metadataFile: r.req('MetadataFile') });
  }
  return m;
}
