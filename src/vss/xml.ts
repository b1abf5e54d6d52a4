/**
 * Safe XML reading and plain XML writing for VSS documents.
 *
 * VSS documents are small, attribute-heavy and never need a DTD, so any document that declares one
 * (or an entity) is refused before parsing: that closes billion-laughs expansion and external
 * entity reads at the door, whatever the parser would have done. Entity and character references
 * are decoded here, not by the parser, so only the five predefined entities and numeric references
 * are ever honoured.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { VssError } from './errors.js';
import { HR } from './hresult.js';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (rarely used by VSS). */
  text: string;
}

/** Decodes a document's bytes: UTF-8 or UTF-16 (LE/BE), with or without a byte-order mark. */
export function decodeXmlBytes(input: Uint8Array | string): string {
  if (typeof input === 'string') return input.replace(/^\uFEFF/, '');
  const b = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return b.subarray(3).toString('utf8');
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) return b.subarray(2).toString('utf16le');
  if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) return swap16(b.subarray(2)).toString('utf16le');
  // No BOM: '<' encoded as UTF-16 has a zero byte beside it (diskshadow writes UTF-16LE without one).
  if (b.length >= 2 && b[0] !== 0 && b[1] === 0) return b.toString('utf16le');
  if (b.length >= 2 && b[0] === 0 && b[1] !== 0) return swap16(b).toString('utf16le');
  return b.toString('utf8');
}

function swap16(b: Buffer): Buffer {
  const c = Buffer.from(b.subarray(0, b.length - (b.length % 2)));
  return c.swap16();
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  parseTagValue: false,
  processEntities: false,
  htmlEntities: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
});

/**
 * Parses an XML document into a plain element tree. Refuses DTDs and entity declarations, and
 * reports malformed documents as VSS_E_CORRUPT_XML_DOCUMENT with the line and column.
 */
export function parseXml(input: Uint8Array | string, what = 'XML document'): XmlElement {
  const text = decodeXmlBytes(input);
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) {
    throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, {
      message: `${what}: document type declarations and entities are not allowed in VSS documents (refused before parsing)`,
      category: 'input',
    });
  }
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, {
      message: `${what}: not well-formed XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`,
      category: 'input',
    });
  }
  const raw = parser.parse(text) as unknown[];
  const roots = raw.map((n) => toElement(n, what)).filter((e): e is XmlElement => e !== null);
  if (roots.length !== 1) {
    throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, {
      message: `${what}: expected exactly one root element, found ${roots.length}`,
      category: 'input',
    });
  }
  return roots[0]!;
}

function toElement(node: unknown, what: string): XmlElement | null {
  if (!node || typeof node !== 'object') return null;
  const obj = node as Record<string, unknown>;
  const name = Object.keys(obj).find((k) => k !== ':@' && k !== '#text');
  if (name === undefined) return null;
  const attrsRaw = (obj[':@'] ?? {}) as Record<string, string>;
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrsRaw)) {
    // Attribute-value normalisation (XML 1.0 §3.3.3): literal white space becomes a space,
    // references are decoded afterwards so that &#10; survives as a newline.
    attrs[k] = decodeReferences(String(v).replace(/\r\n|[\r\n\t]/g, ' '), `${what}: attribute ${name}@${k}`);
  }
  const children: XmlElement[] = [];
  let text = '';
  for (const c of (obj[name] ?? []) as unknown[]) {
    const co = c as Record<string, unknown>;
    if (co && typeof co === 'object' && '#text' in co) {
      text += decodeReferences(String(co['#text']).replace(/\r\n?/g, '\n'), `${what}: text of ${name}`);
    } else {
      const e = toElement(c, what);
      if (e) children.push(e);
    }
  }
  return { name: localName(name), attrs, children, text };
}

/** VSS does not use namespace prefixes, but a tolerant reader ignores them. */
function localName(name: string): string {
  const i = name.indexOf(':');
  return i >= 0 ? name.slice(i + 1) : name;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

function decodeReferences(s: string, where: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z_][\w.-]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) {
      throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, { message: `${where}: unterminated reference '${whole}'`, category: 'input' });
    }
    if (ref.startsWith('#')) {
      const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!Number.isFinite(cp) || cp > 0x10ffff || cp === 0) {
        throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, { message: `${where}: bad character reference '${whole}'`, category: 'input' });
      }
      return String.fromCodePoint(cp);
    }
    const v = PREDEFINED[ref];
    if (v === undefined) {
      throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, {
        message: `${where}: entity '&${ref};' is not one of XML's predefined entities (custom entities are refused)`,
        category: 'input',
      });
    }
    return v;
  });
}

export function escapeAttr(v: string): string {
  return v.replace(/[&<>"\n\r\t]/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : `&#${c.charCodeAt(0)};`,
  );
}

/** Serialises an element tree the way VSS does: attributes only, no indentation, empty elements self-closed. */
export function serializeXml(e: XmlElement): string {
  const attrs = Object.entries(e.attrs)
    .map(([k, v]) => ` ${k}="${escapeAttr(v)}"`)
    .join('');
  const inner = e.children.map(serializeXml).join('') + (e.text ? escapeAttr(e.text).replace(/&#10;/g, '\n') : '');
  return inner ? `<${e.name}${attrs}>${inner}</${e.name}>` : `<${e.name}${attrs}/>`;
}

/** Builds an element, dropping attributes whose value is undefined. */
export function el(name: string, attrs: Record<string, string | undefined>, children: XmlElement[] = []): XmlElement {
  const a: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) a[k] = v;
  return { name, attrs: a, children, text: '' };
}

/** Reads attributes of one element, with errors that say where the document is wrong. */
export class AttrReader {
  constructor(
    private readonly e: XmlElement,
    private readonly where: string,
  ) {}

  private fail(attr: string, msg: string): never {
    throw new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, { message: `${this.where}@${attr}: ${msg}`, category: 'input' });
  }

  opt(attr: string): string | undefined {
    return this.e.attrs[attr];
  }

  req(attr: string): string {
    const v = this.e.attrs[attr];
    if (v === undefined) this.fail(attr, 'required attribute is missing');
    return v;
  }

  bool(attr: string, dflt?: boolean): boolean {
    const v = this.e.attrs[attr];
    if (v === undefined) {
      if (dflt === undefined) this.fail(attr, "required attribute is missing (expected 'yes' or 'no')");
      return dflt;
    }
    const t = v.trim().toLowerCase();
    if (t === 'yes' || t === 'true' || t === '1') return true;
    if (t === 'no' || t === 'false' || t === '0') return false;
    return this.fail(attr, `expected 'yes' or 'no', got '${v}'`);
  }

  optBool(attr: string): boolean | undefined {
    return this.e.attrs[attr] === undefined ? undefined : this.bool(attr);
  }

  int(attr: string, dflt?: number): number {
    const v = this.e.attrs[attr];
    if (v === undefined) {
      if (dflt === undefined) this.fail(attr, 'required attribute is missing (expected an integer)');
      return dflt;
    }
    const t = v.trim();
    const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : /^-?\d+$/.test(t) ? parseInt(t, 10) : NaN;
    if (!Number.isSafeInteger(n)) this.fail(attr, `expected an integer, got '${v}'`);
    return n;
  }

  optInt(attr: string): number | undefined {
    return this.e.attrs[attr] === undefined ? undefined : this.int(attr);
  }
}

export const yesNo = (b: boolean): string => (b ? 'yes' : 'no');
