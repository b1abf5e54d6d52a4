import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBackupComponents, writeBackupComponents } from '../../src/vss/backup-components.js';
import { parseDiskshadowManifest } from '../../src/vss/diskshadow.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { parseWriterMetadata, writeWriterMetadata } from '../../src/vss/writer-metadata.js';
import { CAPTURES } from '../support/paths.js';

const dirs = ['with_sql', 'no_sql'];
const wmdFiles = dirs.flatMap((d) => readdirSync(join(CAPTURES, d)).filter((f) => /^WM\d+\.xml$/.test(f)).map((f) => join(d, f)));
const read = (rel: string) => readFileSync(join(CAPTURES, rel));

describe('writer metadata documents captured on Windows', () => {
  // 11 writers per capture, less the two System Writer documents left out for size.
  it('there are captures to read', () => expect(wmdFiles.length).toBe(20));

  it.each(wmdFiles)('%s parses and round-trips to an equal model', (rel) => {
    const md = parseWriterMetadata(read(rel), rel);
    expect(md.identity.writerId).toMatch(/^[0-9a-f-]{36}$/);
    const again = parseWriterMetadata(writeWriterMetadata(md));
    expect(again).toEqual(md);
    // and writing is stable
    expect(writeWriterMetadata(again)).toBe(writeWriterMetadata(md));
  });

  it('with_sql/WM4.xml is the SqlServerWriter with its five databases', () => {
    const md = parseWriterMetadata(read('with_sql/WM4.xml'));
    expect(md.identity).toMatchObject({
      writerId: 'a65faa63-5ea8-4ebc-9dbd-a0c4db26912a',
      instanceId: 'dd8d6255-b3bb-4ec1-8249-73cd75c0ee21',
      instanceName: 'Microsoft SQL Server 2017:SQLWriter',
      friendlyName: 'SqlServerWriter',
      usage: 'USERDATA',
      dataSource: 'TRANSACTEDDB',
    });
    expect(md.backupSchema).toBe(881);
    expect(md.restoreMethod).toEqual({ method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'ALWAYS', rebootRequired: false });
    expect(md.components.map((c) => c.componentName)).toEqual(['master', 'model', 'msdb', 'SecondServerDb', 'local1']);
    for (const c of md.components) {
      expect(c).toMatchObject({ type: 'FILEGROUP', logicalPath: 'WIN2012-SQL17-2', componentFlags: 2, notifyOnBackupComplete: true });
    }
    expect(md.components[4]!.files).toEqual([
      { kind: 'FILE_LIST', path: 'C:\\SQL_LOCAL_DBS\\MSSQL14.MSSQLSERVER\\MSSQL\\DATA', filespec: 'local1.mdf', filespecBackupType: 3855 },
      { kind: 'FILE_LIST', path: 'C:\\SQL_LOCAL_DBS\\MSSQL14.MSSQLSERVER\\MSSQL\\DATA', filespec: 'local1_log.ldf', filespecBackupType: 3855 },
    ]);
    expect(md.excludeFiles.map((f) => f.filespec)).toEqual(['NonNimbleDatabase.mdf', 'NonNimbleDatabase_log.ldf']);
  });

  it('no_sql/WM5.xml is the same SQL writer on the other capture', () => {
    expect(parseWriterMetadata(read('no_sql/WM5.xml')).identity.friendlyName).toBe('SqlServerWriter');
  });

  it('WM1.xml is the VSS Metadata Store Writer that serves express writers', () => {
    const md = parseWriterMetadata(read('with_sql/WM1.xml'));
    expect(md.identity.friendlyName).toBe('VSS Metadata Store Writer');
    expect(md.identity.writerId).toBe('75dfb225-e2e4-4d39-9ac9-ffaff65ddf06');
    expect(md.components[0]!.files[0]).toMatchObject({ path: '%SystemRoot%\\Vss\\Writers', filespec: '*.xml', recursive: true });
  });

  it('reads components without files, multi-line captions and writer-level exclusions', () => {
    const asr = parseWriterMetadata(read('with_sql/WM6.xml'));
    expect(asr.components.length).toBe(10);
    expect(asr.components[0]!.files).toEqual([]);
    // XML attribute-value normalisation turns the literal line breaks into spaces
    expect(asr.components[1]!.caption).toMatch(/critical volume\. Critical volumes/);
    const sco = parseWriterMetadata(read('no_sql/WM6.xml'));
    expect(sco.excludeFilesFromSnapshot.length).toBe(17);
    const wmi = parseWriterMetadata(read('with_sql/WM10.xml'));
    expect(wmi.identity.usage).toBe('SYSTEMSERVICE');
    expect(wmi.restoreMethod?.method).toBe('RESTORE_AT_REBOOT');
  });

  it('reads UTF-8 with a BOM, UTF-16LE and UTF-16BE with or without a BOM', () => {
    const text = read('with_sql/WM4.xml').toString('utf8');
    const expected = parseWriterMetadata(text);
    const le = Buffer.from(text, 'utf16le');
    const be = Buffer.from(le).swap16();
    for (const bytes of [
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]),
      Buffer.concat([Buffer.from([0xff, 0xfe]), le]),
      le,
      Buffer.concat([Buffer.from([0xfe, 0xff]), be]),
      be,
    ]) {
      expect(parseWriterMetadata(bytes)).toEqual(expected);
    }
  });

  it('keeps unknown elements and ignores unknown attributes', () => {
    const xml =
      '<WRITER_METADATA xmlns="x-schema:#VssWriterMetadataInfo" version="1.2" futureAttr="1">' +
      '<IDENTIFICATION writerId="a65faa63-5ea8-4ebc-9dbd-a0c4db26912a" instanceId="dd8d6255-b3bb-4ec1-8249-73cd75c0ee21" friendlyName="X" usage="USER_DATA" dataSource="OTHER" majorVersion="0" minorVersion="0" newThing="y"/>' +
      '<BACKUP_LOCATIONS><FILE_GROUP componentName="c" restoreMetadata="no" notifyOnBackupComplete="no" selectable="yes" selectableForRestore="no" componentFlags="0">' +
      '<SOMETHING_NEW a="b"/></FILE_GROUP><LOCATION_OF_THE_FUTURE/></BACKUP_LOCATIONS><TOP_LEVEL_NEW/></WRITER_METADATA>';
    const md = parseWriterMetadata(xml);
    expect(md.components[0]!.unknownElements?.[0]?.name).toBe('SOMETHING_NEW');
    expect(md.unknownElements?.map((e) => e.name)).toEqual(['LOCATION_OF_THE_FUTURE', 'TOP_LEVEL_NEW']);
    expect(parseWriterMetadata(writeWriterMetadata(md))).toEqual(md);
  });

  it('names the attribute that is wrong', () => {
    const bad = read('with_sql/WM4.xml').toString().replace('usage="USER_DATA"', 'usage="USERS"');
    expect(() => parseWriterMetadata(bad, 'WM4.xml')).toThrow(/WM4.xml: IDENTIFICATION@usage: 'USERS'/);
    const noId = read('with_sql/WM4.xml').toString().replace(/writerId="[^"]*"/, '');
    expect(() => parseWriterMetadata(noId, 'WM4.xml')).toThrow(/IDENTIFICATION@writerId: required attribute is missing/);
  });
});

describe('backup components documents', () => {
  it('with_sql/BCDocument.xml carries the SQL component with stamp and metadata', () => {
    const bcd = parseBackupComponents(read('with_sql/BCDocument.xml'));
    expect(bcd).toMatchObject({ version: '1.2', backupType: 'FULL', snapshotSetId: '4ad2e8b1-faf2-4aca-a010-2c3f939cef62', selectComponents: true, partialFileSupport: false });
    expect(bcd.writers.length).toBe(8);
    const sql = bcd.writers.find((w) => w.writerId === 'a65faa63-5ea8-4ebc-9dbd-a0c4db26912a')!;
    expect(sql).toMatchObject({ instanceId: 'dd8d6255-b3bb-4ec1-8249-73cd75c0ee21', instanceName: 'Microsoft SQL Server 2017:SQLWriter', backupSchema: 881 });
    expect(sql.components[0]).toMatchObject({ logicalPath: 'WIN2012-SQL17-2', componentName: 'local1', componentType: 'FILEGROUP', backupStamp: 'CAAAAMQv3+t4udUB' });
    const meta = Buffer.from(sql.components[0]!.backupMetadata!, 'base64');
    expect(meta.length).toBeGreaterThan(1000);
  });
  it.each(['with_sql/BCDocument.xml', 'no_sql/BCDocument.xml'])('%s round-trips', (rel) => {
    const bcd = parseBackupComponents(read(rel));
    expect(parseBackupComponents(writeBackupComponents(bcd))).toEqual(bcd);
  });
});

describe('diskshadow manifests (UTF-16LE, no BOM)', () => {
  it.each(['with_sql/Manifest.xml', 'no_sql/Manifest.xml'])('%s parses', (rel) => {
    const m = parseDiskshadowManifest(read(rel));
    expect(m.machineName).toBe('WIN2012-SQL17-2');
    expect(m.writers.length).toBe(11);
    expect(m.writers.map((w) => w.name)).toContain('VSS Metadata Store Writer');
    expect(m.shadowCopies[0]!.originalVolume).toBe('C:\\');
    expect(m.backupComponentsFile).toBe('BCDocument.xml');
  });
});

describe('hostile and broken XML', () => {
  const expectRefused = (xml: string | Buffer, re: RegExp, hr: number = HR.VSS_E_CORRUPT_XML_DOCUMENT) => {
    try {
      parseWriterMetadata(xml, 'evil.xml');
      expect.unreachable('should have been refused');
    } catch (e) {
      expect(e).toBeInstanceOf(VssError);
      expect((e as VssError).hresult).toBe(hr);
      expect((e as VssError).message).toMatch(re);
    }
  };
  it('refuses a billion-laughs document before expanding anything', () => {
    const lol = ['<!ENTITY lol "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`)].join('');
    const t0 = Date.now();
    expectRefused(`<?xml version="1.0"?><!DOCTYPE WRITER_METADATA [${lol}]><WRITER_METADATA>&lol9;</WRITER_METADATA>`, /document type declarations and entities are not allowed/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
  it('refuses external entities (no file is read)', () => {
    expectRefused('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><WRITER_METADATA a="&xxe;"/>', /not allowed/);
    expectRefused(Buffer.from('<!DOCTYPE WRITER_METADATA SYSTEM "http://example.invalid/x.dtd"><WRITER_METADATA/>', 'utf16le'), /not allowed/);
  });
  it('refuses references to undeclared entities', () => {
    expectRefused('<WRITER_METADATA version="&xxe;"/>', /entity '&xxe;' is not one of XML's predefined entities/);
  });
  it('reports malformed XML with a position', () => {
    expectRefused('<WRITER_METADATA><IDENTIFICATION></WRITER_METADATA>', /not well-formed XML at line 1, column \d+/);
  });
  it('reports the wrong document kind', () => {
    expectRefused('<BACKUP_COMPONENTS/>', /root element is <BACKUP_COMPONENTS>, expected <WRITER_METADATA>/, HR.VSS_E_INVALID_XML_DOCUMENT);
  });
  it('escapes what it writes', () => {
    const md = parseWriterMetadata(read('with_sql/WM4.xml'));
    md.components[0]!.caption = 'a "quoted" <tag> & \'apos\'\nnext line';
    const xml = writeWriterMetadata(md);
    expect(xml).toContain('caption="a &quot;quoted&quot; &lt;tag&gt; &amp; \'apos\'&#10;next line"');
    expect(parseWriterMetadata(xml).components[0]!.caption).toBe(md.components[0]!.caption);
  });
});
