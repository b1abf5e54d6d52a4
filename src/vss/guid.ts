import { createHash, randomUUID } from 'node:crypto';
import { invalidInput } from './errors.js';

/** A GUID in VSS's XML form: lower-case, no braces (`a65faa63-5ea8-4ebc-9dbd-a0c4db26912a`). */
export type Guid = string & { readonly __guid?: never };

const GUID_RE = /^\{?([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})\}?$/;

/**
 * Parses a GUID with or without braces, in any case. Braces must match: `{x` and `x}` are refused.
 * Returns the canonical lower-case form without braces.
 */
export function parseGuid(text: string, field = 'GUID'): Guid {
  const t = typeof text === 'string' ? text.trim() : '';
  const m = GUID_RE.exec(t);
  if (!m || t.startsWith('{') !== t.endsWith('}')) {
    throw invalidInput(field, 'a GUID like a65faa63-5ea8-4ebc-9dbd-a0c4db26912a (braces optional)', text);
  }
  return m.slice(1, 6).join('-').toLowerCase();
}

export function isGuid(text: string): boolean {
  const t = text.trim();
  return GUID_RE.test(t) && t.startsWith('{') === t.endsWith('}');
}

/** `{A65FAA63-...}` as the registry and vssadmin print it, or `{a65faa63-...}`. */
export function formatGuid(guid: string, opts: { braces?: boolean; upper?: boolean } = {}): string {
  const g = parseGuid(guid);
  const s = opts.upper ? g.toUpperCase() : g;
  return opts.braces ? `{${s}}` : s;
}

export function guidEquals(a: string, b: string): boolean {
  return parseGuid(a) === parseGuid(b);
}

export function newGuid(): Guid {
  return randomUUID();
}

/**
 * A name-based (RFC 4122 version 5) GUID: the same namespace and name always give the same GUID.
 * Used for writer instance ids so that re-registering a server's writer is idempotent.
 */
export function nameBasedGuid(namespace: string, name: string): Guid {
  const ns = Buffer.from(parseGuid(namespace).replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(ns).update(Buffer.from(name, 'utf8')).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
