/**
 * Safe XML reading and plain XML writing for VSS documents.
 *
 * VSS documents are small, attribute-heavy and never need a DTD, so any document that declares one
 * (or an entity) is refused before parsing: that closes billion-laughs expansion and external
 * entity reads at the door, whatever the parser would have done. Entity and character references
 * are decoded here, not by the parser, so only the five predefined entities and numeric references
 * are ever honoured.
 */
import { VssError } from './errors.js';
import { HR } from './hresult.js';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (rarely used by VSS). */
  text: string;
}

/**
 * Limits a VSS document never comes near (writer metadata is a few KB, a Backup Components
 * Document tens of KB, nesting a handful of levels) and a hostile one would: a 50 MB attribute, or
 * 100,000 nested elements. They are checked before the work they bound (the size before decoding).
 */
export const MAX_XML_DOCUMENT_BYTES = 16 * 1024 * 1024;
export const MAX_XML_DEPTH = 256;

export interface XmlLimits {
  /** Largest document accepted, in bytes (characters for a string). */
  maxBytes?: number;
  /** Deepest element nesting accepted (the root is depth 1). */
  maxDepth?: number;
}

/** The encodings a declaration may name: the ones VSS writes, and that the bytes identify. */
const READ_ENCODINGS = new Set(['utf-8', 'utf-16', 'utf-16le', 'utf-16be']);

function refuse(message: string): VssError {
  return new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, { message, category: 'input' });
}

function checkSize(length: number, what: string, maxBytes: number, unit: string): void {
  if (length > maxBytes) {
    throw refuse(`${what}: the document is ${length} ${unit}, more than the ${maxBytes / 1024 / 1024} MiB a VSS document may have (refused before parsing)`);
  }
}

/**
 * Decodes a document's bytes: UTF-8 or UTF-16 (LE/BE), with or without a byte-order mark. A
 * declared encoding other than those is refused rather than decoded as UTF-8 (an ISO-8859-1 'ö'
 * would otherwise become U+FFFD in a writer's name), and so are bytes that are not valid UTF-8.
 */
export function decodeXmlBytes(input: Uint8Array | string, what = 'XML document', maxBytes = MAX_XML_DOCUMENT_BYTES): string {
  if (typeof input === 'string') {
    checkSize(input.length, what, maxBytes, 'characters');
    return input.replace(/^\uFEFF/, '');
  }
  checkSize(input.byteLength, what, maxBytes, 'bytes');
  const b = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let text: string;
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) text = decodeUtf8(b, 3, what);
  else if (b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) text = decodeUtf16(b.subarray(2), false, what);
  else if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) text = decodeUtf16(b.subarray(2), true, what);
  // No BOM: '<' encoded as UTF-16 has a zero byte beside it (diskshadow writes UTF-16LE without one).
  else if (b.length >= 2 && b[0] !== 0 && b[1] === 0) text = decodeUtf16(b, false, what);
  else if (b.length >= 2 && b[0] === 0 && b[1] !== 0) text = decodeUtf16(b, true, what);
  else {
    // The declaration is ASCII in any encoding UTF-8 could be confused with: check it before
    // decoding, so that an ISO-8859-1 document is named as such, not as bad UTF-8.
    checkDeclaredEncoding(b.subarray(0, 200).toString('latin1'), what);
    return decodeUtf8(b, 0, what);
  }
  checkDeclaredEncoding(text.slice(0, 200), what);
  return text;
}

function checkDeclaredEncoding(head: string, what: string): void {
  const decl = /^<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([^"']*)\1/.exec(head);
  if (decl && !READ_ENCODINGS.has(decl[2]!.toLowerCase())) {
    throw refuse(
      `${what}: the XML declaration declares encoding "${decl[2]}": only UTF-8 and UTF-16 are read (VSS writes no other). ` +
        `Convert it (e.g. iconv -f ${decl[2]} -t UTF-8) and correct the declaration.`,
    );
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(b: Buffer, from: number, what: string): string {
  try {
    return UTF8.decode(b.subarray(from));
  } catch {
    throw refuse(`${what}: not valid UTF-8 at byte ${firstInvalidUtf8(b, from)} (a document without a byte-order mark or an encoding declaration is read as UTF-8)`);
  }
}

/** The offset of the first byte that does not start a valid UTF-8 sequence (RFC 3629). */
function firstInvalidUtf8(b: Buffer, i: number): number {
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || i + len > b.length) return i;
    const c1 = b[i + 1]!;
    // The second byte's range excludes overlong forms, surrogates (ED A0..BF) and > U+10FFFF.
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k < len; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    i += len;
  }
  return i;
}

/** UTF-16 as it is: lone surrogates are kept here and refused with their position by parseXml. */
function decodeUtf16(b: Buffer, bigEndian: boolean, what: string): string {
  if (b.length % 2) throw refuse(`${what}: UTF-16 with an odd number of bytes (${b.length}): the file is truncated or not UTF-16`);
  return (bigEndian ? Buffer.from(b).swap16() : b).toString('utf16le');
}

/**
 * Characters XML 1.0 does not allow (§2.2): C0 controls other than tab, LF and CR, U+FFFE/U+FFFF,
 * and surrogates that are not half of a pair (with the u flag a pair is one code point).
 */
const FORBIDDEN_CHAR = /[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF\uD800-\uDFFF]/u;

const isXmlChar = (cp: number) =>
  cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);

const codePoint = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Parses an XML document into a plain element tree. Refuses DTDs and entity declarations,
 * documents over the size or depth limits, characters XML forbids, and encodings other than UTF-8
 * and UTF-16; reports malformed documents as VSS_E_CORRUPT_XML_DOCUMENT with the line and column.
 */
export function parseXml(input: Uint8Array | string, what = 'XML document', limits: XmlLimits = {}): XmlElement {
  const text = decodeXmlBytes(input, what, limits.maxBytes ?? MAX_XML_DOCUMENT_BYTES);
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) {
    throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, {
      message: `${what}: document type declarations and entities are not allowed in VSS documents (refused before parsing)`,
      category: 'input',
    });
  }
  try {
    const bad = FORBIDDEN_CHAR.exec(text);
    if (bad) {
      const cp = bad[0].charCodeAt(0);
      throw new NotWellFormed(bad.index, cp >= 0xd800 && cp <= 0xdfff ? `a lone surrogate (${codePoint(cp)}) is not allowed in XML` : `${codePoint(cp)} is not allowed in XML 1.0 (a control character)`);
    }
    return new XmlReader(text, what, limits.maxDepth ?? MAX_XML_DEPTH).document();
  } catch (e) {
    if (!(e instanceof NotWellFormed)) throw e;
    const { line, col } = lineAndColumn(text, e.pos);
    throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, {
      message: e instanceof LimitExceeded ? `${what}: ${e.message} at line ${line}, column ${col}` : `${what}: not well-formed XML at line ${line}, column ${col}: ${e.message}`,
      category: 'input',
    });
  }
}

class NotWellFormed extends Error {
  constructor(
    readonly pos: number,
    message: string,
  ) {
    super(message);
  }
}

/** Well-formed, perhaps, but past a limit of ours (reported as such, not as malformed XML). */
class LimitExceeded extends NotWellFormed {}

function lineAndColumn(text: string, pos: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: pos - start + 1 };
}

// XML 1.0 (5th edition) names. ASCII is decided by a table; anything else by the full classes.
const NAME_START_CLASS = ':A-Za-z_\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD';
const NAME = new RegExp(`[${NAME_START_CLASS}][${NAME_START_CLASS}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040]*`, 'y');
const ASCII_NAME = new Uint8Array(128); // 1: may start a name, 2: may continue one
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[:A-Za-z_]/.test(ch)) ASCII_NAME[c] = 1;
  else if (/[-.0-9]/.test(ch)) ASCII_NAME[c] = 2;
}
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;

/**
 * A single-pass reader for the XML VSS writes: elements, attributes, character data, CDATA,
 * comments and processing instructions (no DTD: refused before this runs). It checks what makes a
 * document well-formed (names, quoting, matching end tags, unique attributes, one root, nothing but
 * markup outside it) while it builds the tree, iteratively, so nesting depth cannot exhaust the
 * stack. References are decoded by decodeReferences, which knows only XML's predefined entities.
 */
class XmlReader {
  private i = 0;
  /** Set by startTag: whether the element read has content to follow, and its name as written. */
  private leftOpen = false;
  private rawName = '';

  constructor(
    private readonly s: string,
    private readonly what: string,
    private readonly maxDepth: number,
  ) {}

  private fail(pos: number, msg: string): never {
    throw new NotWellFormed(pos, msg);
  }

  /** The end of the name starting at `at` (`at` itself when there is none). */
  private nameEnd(at: number): number {
    const s = this.s;
    let c = s.charCodeAt(at);
    if (c < 128 && ASCII_NAME[c] !== 1) return at;
    let j = at;
    if (c < 128) {
      j++;
      for (c = s.charCodeAt(j); c < 128 && ASCII_NAME[c]; c = s.charCodeAt(++j));
      if (!(c >= 128)) return j; // NaN at the end of the text stops here too
    }
    NAME.lastIndex = at;
    return NAME.exec(s) ? NAME.lastIndex : at;
  }

  private skipSpace(at: number): number {
    const s = this.s;
    while (isSpace(s.charCodeAt(at))) at++;
    return at;
  }

  document(): XmlElement {
    const s = this.s;
    const n = s.length;
    const stack: XmlElement[] = [];
    const rawNames: string[] = []; // the open elements' names as written (prefix included)
    let root: XmlElement | undefined;
    if (s.startsWith('<?xml', 0) && (isSpace(s.charCodeAt(5)) || s.startsWith('?>', 5))) {
      const end = s.indexOf('?>', 5);
      if (end < 0) this.fail(0, 'unterminated XML declaration');
      this.i = end + 2;
    }
    while (this.i < n) {
      const at = this.i;
      const lt = s.indexOf('<', at);
      const end = lt < 0 ? n : lt;
      if (end > at) {
        const top = stack[stack.length - 1];
        if (top) top.text += decodeReferences(s.slice(at, end).replace(/\r\n?/g, '\n'), `${this.what}: text of ${top.name}`);
        else for (let k = at; k < end; k++) if (!isSpace(s.charCodeAt(k))) this.fail(k, 'text outside the root element');
        if (lt < 0) break;
        this.i = lt;
      }
      const c = s.charCodeAt(lt + 1);
      if (c === 0x2f) {
        // </name>
        const nameEnd = this.nameEnd(lt + 2);
        const raw = s.slice(lt + 2, nameEnd);
        const open = rawNames.pop();
        stack.pop();
        if (open === undefined) this.fail(lt, `closing tag </${raw}> without an open element`);
        if (raw !== open) this.fail(lt, `closing tag </${raw}> does not match <${open}>`);
        const gt = this.skipSpace(nameEnd);
        if (s.charCodeAt(gt) !== 0x3e) this.fail(gt, `expected '>' to end </${raw}>`);
        this.i = gt + 1;
      } else if (c === 0x3f) {
        // <?target ...?>; the XML declaration is allowed only at the very start.
        const nameEnd = this.nameEnd(lt + 2);
        if (nameEnd === lt + 2) this.fail(lt, 'processing instruction without a target');
        if (s.slice(lt + 2, nameEnd).toLowerCase() === 'xml') this.fail(lt, 'the XML declaration is allowed only at the start of the document');
        const close = s.indexOf('?>', nameEnd);
        if (close < 0) this.fail(lt, 'unterminated processing instruction');
        this.i = close + 2;
      } else if (c === 0x21) {
        if (s.startsWith('<!--', lt)) {
          const close = s.indexOf('--', lt + 4);
          if (close < 0) this.fail(lt, 'unterminated comment');
          if (s.charCodeAt(close + 2) !== 0x3e) this.fail(close, "'--' is not allowed inside a comment");
          this.i = close + 3;
        } else if (s.startsWith('<![CDATA[', lt)) {
          const top = stack[stack.length - 1];
          if (!top) this.fail(lt, 'CDATA outside the root element');
          const close = s.indexOf(']]>', lt + 9);
          if (close < 0) this.fail(lt, 'unterminated CDATA section');
          top.text += s.slice(lt + 9, close).replace(/\r\n?/g, '\n');
          this.i = close + 3;
        } else {
          this.fail(lt, "unexpected '<!'");
        }
      } else {
        if (root && stack.length === 0) this.fail(lt, 'a second root element (a document has exactly one)');
        if (stack.length >= this.maxDepth) throw new LimitExceeded(lt, `elements nested more than ${this.maxDepth} deep`);
        const e = this.startTag(lt);
        const parent = stack[stack.length - 1];
        if (parent) parent.children.push(e);
        else root = e;
        if (this.leftOpen) {
          stack.push(e);
          rawNames.push(this.rawName);
        }
      }
    }
    if (rawNames.length) this.fail(n, `<${rawNames[rawNames.length - 1]}> is not closed`);
    if (!root) this.fail(n, 'no root element');
    return root;
  }

  /** Reads `<name attr="v" ...>` (then `leftOpen`) or `<name .../>` at `lt`. */
  private startTag(lt: number): XmlElement {
    const s = this.s;
    const nameEnd = this.nameEnd(lt + 1);
    if (nameEnd === lt + 1) this.fail(lt + 1, "expected an element name after '<'");
    const raw = s.slice(lt + 1, nameEnd);
    const name = localName(raw);
    const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
    let j = nameEnd;
    for (;;) {
      const k = this.skipSpace(j);
      const c = s.charCodeAt(k);
      if (c === 0x3e) {
        this.i = k + 1;
        this.leftOpen = true;
        this.rawName = raw;
        return { name, attrs, children: [], text: '' };
      }
      if (c === 0x2f && s.charCodeAt(k + 1) === 0x3e) {
        this.i = k + 2;
        this.leftOpen = false;
        return { name, attrs, children: [], text: '' };
      }
      if (k === s.length) this.fail(k, `<${raw}> is not closed with '>'`);
      if (k === j) this.fail(k, `expected white space, '>' or '/>' in <${raw}>`);
      const attrEnd = this.nameEnd(k);
      if (attrEnd === k) this.fail(k, `expected an attribute name in <${raw}>`);
      const attr = s.slice(k, attrEnd);
      let p = this.skipSpace(attrEnd);
      if (s.charCodeAt(p) !== 0x3d) this.fail(p, `attribute ${attr} of <${raw}> has no value ('=' expected)`);
      p = this.skipSpace(p + 1);
      const q = s.charCodeAt(p);
      if (q !== 0x22 && q !== 0x27) this.fail(p, `the value of attribute ${attr} of <${raw}> is not quoted`);
      const close = s.indexOf(q === 0x22 ? '"' : "'", p + 1);
      if (close < 0) this.fail(p, `the value of attribute ${attr} of <${raw}> is not terminated`);
      const value = s.slice(p + 1, close);
      const lt2 = value.indexOf('<');
      if (lt2 >= 0) this.fail(p + 1 + lt2, `'<' in the value of attribute ${attr} of <${raw}>`);
      if (attr in attrs) this.fail(k, `attribute ${attr} is repeated in <${raw}>`);
      // Attribute-value normalisation (XML 1.0 §3.3.3): literal white space becomes a space,
      // references are decoded afterwards so that &#10; survives as a newline.
      attrs[attr] = decodeReferences(value.replace(/\r\n|[\r\n\t]/g, ' '), `${this.what}: attribute ${raw}@${attr}`);
      j = close + 1;
    }
  }
}

/** VSS does not use namespace prefixes, but a tolerant reader ignores them. */
function localName(name: string): string {
  const i = name.indexOf(':');
  return i >= 0 ? name.slice(i + 1) : name;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

function decodeReferences(s: string, where: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z_][\w.-]*)?;?/g, (whole, ref: string | undefined) => {
    if (ref === undefined) {
      throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, { message: `${where}: '&' that starts no reference (write &amp;)`, category: 'input' });
    }
    if (!whole.endsWith(';')) {
      throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, { message: `${where}: unterminated reference '${whole}'`, category: 'input' });
    }
    if (ref.startsWith('#')) {
      const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!Number.isFinite(cp) || cp > 0x10ffff) {
        throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, { message: `${where}: bad character reference '${whole}'`, category: 'input' });
      }
      if (!isXmlChar(cp)) {
        throw new VssError(HR.VSS_E_CORRUPT_XML_DOCUMENT, { message: `${where}: character reference '${whole}' names ${codePoint(cp)}, which XML 1.0 does not allow`, category: 'input' });
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
