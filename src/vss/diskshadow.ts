/**
 * DiskShadow's documents: its manifest (`Manifest.xml`, UTF-16: the snapshot set, its shadow
 * copies and the writer metadata files saved beside it; writer names encode spaces as `%s`), and
 * the text of its `list writers` command.
 */
import { WriterState, type WriterStateName } from './enums.js';
import { invalidInput, VssError } from './errors.js';
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

/** One writer of DiskShadow's `list writers [status|metadata|detailed]`. */
export interface DiskshadowWriter {
  name: string;
  writerId: Guid;
  instanceId: Guid;
  state: WriterStateName;
  /** The writer's failure HRESULT ("Writer Failure code"). */
  lastError: number;
  /** The block's further lines (metadata/detailed: components, files, excludes), as printed. */
  details: string[];
}

const DS_WRITER = /^\s*\*\s*WRITER\s+(.+?)\s*$/;
const DS_FIELD = /^\s*-\s*(Status|Writer Failure code|Writer ID|Instance ID)\s*:\s*(.*?)\s*$/i;
const DS_TRAILER = /^\s*(\d+)\s+writers?\s+listed\.?\s*$/i;

/**
 * DiskShadow's `list writers` text. The status layout is the one Microsoft documents
 * (MicrosoftDocs/windowsserverdocs, WindowsServerDocs/administration/windows-commands/list-writers.md):
 *
 *     * WRITER System Writer                      (older DiskShadow: * WRITER "System Writer")
 *             - Status: 5 (VSS_WS_WAITING_FOR_BACKUP_COMPLETE)
 *             - Writer Failure code: 0x00000000 (S_OK)
 *             - Writer ID: {e8132975-6f93-4464-a53e-1050253ae220}
 *             - Instance ID: {7e631031-c695-4229-9da1-a7de057e64cb}
 *     8 writers listed.
 *
 * `metadata` and `detailed` print the same four lines first; what follows them in a block is kept
 * as `details`. DiskShadow is not localised, so the labels are matched in English. A status field
 * outside a block, a repeated or missing field, or a "N writers listed." that disagrees with the
 * blocks read is refused with its line number: never a silently shorter list.
 */
export function parseDiskshadowWriters(text: string): DiskshadowWriter[] {
  const out: DiskshadowWriter[] = [];
  const lines = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').split('\n');
  type Partial = { name: string; line: number; fields: Map<string, { value: string; line: number }>; details: string[] };
  let cur: Partial | undefined;
  let listed: { n: number; line: number } | undefined;
  const where = (line: number) => `diskshadow output line ${line}`;
  const finish = () => {
    if (!cur) return;
    const f = (k: string) => cur!.fields.get(k);
    const missing = ['status', 'writer failure code', 'writer id', 'instance id'].filter((k) => !f(k));
    if (missing.length) throw invalidInput(where(cur.line), `a writer block with ${missing.join(', ')}`, cur.name);
    const st = f('status')!;
    const stateNum = /^(\d+)\b/.exec(st.value);
    const state = stateNum ? WriterState.fromValue(Number(stateNum[1])) : undefined;
    if (!state) throw invalidInput(where(st.line), 'a writer state number from 0 to 15', st.value);
    const fc = f('writer failure code')!;
    const code = /^0x([0-9a-f]{1,8})\b/i.exec(fc.value);
    if (!code) throw invalidInput(where(fc.line), 'a failure code 0xXXXXXXXX', fc.value);
    out.push({
      name: cur.name,
      writerId: parseGuid(f('writer id')!.value, where(f('writer id')!.line)),
      instanceId: parseGuid(f('instance id')!.value, where(f('instance id')!.line)),
      state,
      lastError: parseInt(code[1]!, 16) >>> 0,
      details: cur.details,
    });
    cur = undefined;
  };
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    const w = DS_WRITER.exec(line);
    if (w) {
      finish();
      const raw = w[1]!;
      const name = /^"(.*)"$/.exec(raw)?.[1] ?? raw;
      cur = { name, line: i + 1, fields: new Map(), details: [] };
      return;
    }
    const t = DS_TRAILER.exec(line);
    if (t) {
      finish();
      listed = { n: Number(t[1]), line: i + 1 };
      return;
    }
    const field = DS_FIELD.exec(line);
    if (field) {
      const key = field[1]!.toLowerCase();
      // The four status fields come first; the same label later in a metadata block is detail.
      if (cur && !cur.fields.has(key) && cur.details.length === 0) cur.fields.set(key, { value: field[2]!, line: i + 1 });
      else if (cur && cur.details.length > 0) cur.details.push(line.trim());
      else throw invalidInput(where(i + 1), cur ? 'each of Status, Writer Failure code, Writer ID, Instance ID once per writer' : 'a "* WRITER" line before the writer\'s fields', line.trim());
      return;
    }
    if (cur && /^\s/.test(line)) {
      if (cur.fields.size < 4) throw invalidInput(where(i + 1), 'the writer\'s Status, Writer Failure code, Writer ID and Instance ID before its details', line.trim());
      cur.details.push(line.trim());
      return;
    }
    finish();
    // Prose ("Listing writer status ...", DiskShadow's banner) is skipped; a GUID or state is not.
    if (/\{[0-9a-fA-F-]{36}\}|VSS_WS_/.test(line)) throw invalidInput(where(i + 1), 'a line of a "* WRITER" block', line.trim());
  });
  finish();
  if (listed && listed.n !== out.length) {
    throw invalidInput(where(listed.line), `${listed.n} writer blocks, as the line says`, `${out.length} read`);
  }
  return out;
}
