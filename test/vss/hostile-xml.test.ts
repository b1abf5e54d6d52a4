/**
 * Hostile XML where a user meets it: `metadata --file` and `register-writer --metadata`. Each is
 * refused with exit 2 and a message naming what and where (line and column, or byte offset), never
 * an internal error, a stack overflow or a silently mis-decoded name; and nothing is registered.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_XML_DEPTH, MAX_XML_DOCUMENT_BYTES, parseXml } from '../../src/vss/xml.js';
import { MBAM_WRITER_ID } from '../../src/mbam/writer-definition.js';
import { runCliAsync } from '../support/cli.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'hostile-xml-'));
let wmd = '';
let n = 0;

beforeAll(async () => {
  // A valid express writer document, as install would register it.
  const r = await runCliAsync(['install', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-REC01', '--dry-run', '--json']);
  wmd = r.result().metadataXml;
  expect(wmd).toContain(MBAM_WRITER_ID);
});

function file(content: string | Buffer): string {
  const f = join(dir, `doc${n++}.xml`);
  writeFileSync(f, content);
  return f;
}

/** The document with `text` put into the friendly name (an attribute), or before an element. */
const inName = (text: string) => wmd.replace('friendlyName="Microsoft', `friendlyName="Micro${text}soft`);
const beforeRestoreMethod = (text: string) => wmd.replace('<RESTORE_METHOD', `${text}<RESTORE_METHOD`);

/** Both commands refuse the file with exit 2 and `message`, and register-writer changes nothing. */
async function expectRefused(path: string, message: RegExp) {
  const state = mkdtempSync(join(dir, 'state-'));
  for (const args of [['metadata', '--file', path], ['--state-dir', state, 'register-writer', '--metadata', path]]) {
    const r = await runCliAsync([...args, '--json']);
    const e = r.envelope().error;
    expect(e?.name, `${args[0]}: ${r.stdout}${r.stderr}`).not.toBe('internal');
    expect(r.code, args.join(' ')).toBe(2);
    expect(e.category).toBe('input');
    expect(e.message).toMatch(message);
    expect(e.message).toContain(path);
    expect(r.stderr).not.toMatch(/internal error|RangeError/);
  }
  expect(existsSync(join(state, 'writers')) ? readdirSync(join(state, 'writers')) : []).toEqual([]);
  expect(existsSync(join(state, 'transaction'))).toBe(false);
}

describe('hostile XML through the CLI', () => {
  it('refuses 100,000 nested elements (exit 2, naming the line), not a stack overflow', async () => {
    const deep = beforeRestoreMethod('\n' + '<X>'.repeat(100_000) + '</X>'.repeat(100_000));
    await expectRefused(file(deep), new RegExp(`elements nested more than ${MAX_XML_DEPTH} deep at line 2, column ${(MAX_XML_DEPTH - 1) * 3 + 1}`));
  });

  it('refuses control characters XML 1.0 forbids, literal or by reference, naming the position', async () => {
    await expectRefused(file(inName('\u0001')), /line 1, column \d+: U\+0001 is not allowed in XML 1\.0/);
    await expectRefused(file(inName('\u001b[31m')), /U\+001B is not allowed/);
    await expectRefused(file(inName('&#1;')), /character reference '&#1;' names U\+0001, which XML 1\.0 does not allow/);
    await expectRefused(file(inName('&#xFFFE;')), /U\+FFFE/);
  });

  it('refuses lone surrogates: in UTF-16, in UTF-8 bytes and by reference', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(inName('\ud800'), 'utf16le')]);
    await expectRefused(file(utf16), /line 1, column \d+: a lone surrogate \(U\+D800\) is not allowed/);
    const cesu = Buffer.from(inName('@@'), 'utf8');
    const at = cesu.indexOf('@@');
    cesu.set([0xed, 0xa0, 0x80], at); // U+D800 as UTF-8 would encode it, which UTF-8 forbids
    await expectRefused(file(Buffer.concat([cesu.subarray(0, at + 3), cesu.subarray(at + 2)])), new RegExp(`not valid UTF-8 at byte ${at}`));
    await expectRefused(file(inName('&#xD800;')), /character reference '&#xD800;' names U\+D800/);
  });

  it('refuses a declared encoding other than UTF-8 or UTF-16 instead of mis-decoding it', async () => {
    const latin1 = Buffer.from(`<?xml version="1.0" encoding="ISO-8859-1"?>\n${inName('\u00f6')}`, 'latin1');
    await expectRefused(file(latin1), /declares encoding "ISO-8859-1": only UTF-8 and UTF-16 are read/);
    const cp1252 = `<?xml version='1.0' encoding='windows-1252' standalone='yes'?>${wmd}`;
    await expectRefused(file(cp1252), /declares encoding "windows-1252"/);
  });

  it('reads what it declares when that is UTF-8 or UTF-16', async () => {
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`<?xml version="1.0" encoding="UTF-16"?>\r\n${inName('\u00f6')}`, 'utf16le')]);
    const utf8 = Buffer.from(`<?xml version="1.0" encoding="utf-8"?>\n${inName('\u00f6')}`, 'utf8');
    for (const doc of [utf16, utf8]) {
      const r = await runCliAsync(['metadata', '--file', file(doc), '--json']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.result().identity.friendlyName).toBe('Micro\u00f6soft BitLocker Administration and Management Writer');
    }
  });

  it('refuses a 50 MB attribute by the document size limit, before parsing', async () => {
    const doc = wmd.replace('instanceName="', `instanceName="${'A'.repeat(50_000_000)}`);
    await expectRefused(file(doc), new RegExp(`the document is ${Buffer.byteLength(doc)} bytes, more than the ${MAX_XML_DOCUMENT_BYTES / 1024 / 1024} MiB a VSS document may have`));
  }, 60_000);
});

describe('parseXml limits', () => {
  it(`reads elements nested ${MAX_XML_DEPTH} deep, and refuses one more naming where`, () => {
    const doc = (d: number) => '<a>'.repeat(d) + '</a>'.repeat(d);
    let depth = 1;
    for (let e = parseXml(doc(MAX_XML_DEPTH)); e.children[0]; e = e.children[0]) depth++;
    expect(depth).toBe(MAX_XML_DEPTH);
    expect(() => parseXml(doc(MAX_XML_DEPTH + 1), 'x.xml')).toThrow(`x.xml: elements nested more than ${MAX_XML_DEPTH} deep at line 1, column ${MAX_XML_DEPTH * 3 + 1}`);
  });

  it('refuses an oversized document in milliseconds, without decoding it', () => {
    const bytes = Buffer.alloc(50_000_000, 0x41);
    const t0 = performance.now();
    expect(() => parseXml(bytes, 'big.xml')).toThrow(/big\.xml: the document is 50000000 bytes/);
    // Generous: the refusal reads only the length (reading the 50 MB took 1-50 s).
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('keeps tab, line feed and carriage return, and characters beyond the BMP', () => {
    expect(parseXml('<r a="&#9;&#10;&#13;\u{1F512}">\t\u{1F512}</r>').attrs['a']).toBe('\t\n\r\u{1F512}');
  });
});
