/**
 * TDS 7.4 wire encoding for the test server: packet framing (tedious's own Packet class) and the
 * server-side tokens SQL Server sends (LOGINACK, ENVCHANGE, COLMETADATA, ROW, ERROR, INFO, DONE*,
 * RETURNSTATUS), plus the decoding of the client messages the server reads (LOGIN7, SQL_BATCH,
 * RPC sp_executesql). Token layouts follow [MS-TDS] (learn.microsoft.com/openspecs/windows_protocols/ms-tds).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const { Packet, TYPE, HEADER_LENGTH } = require('tedious/lib/packet.js') as {
  Packet: new (t: number | Buffer) => { addData(b: Buffer): unknown; last(l?: boolean): boolean; packetId(id?: number): number; buffer: Buffer; data(): Buffer; type(): number; isLast(): boolean };
  TYPE: Record<string, number>;
  HEADER_LENGTH: number;
};

export type ColumnType = 'nvarchar' | 'varbinary' | 'int' | 'smallint' | 'tinyint' | 'bigint' | 'bit' | 'datetime' | 'numeric' | 'uniqueidentifier' | 'sql_variant';
export type Value = string | number | boolean | bigint | Date | Buffer | null;
export interface Column {
  name: string;
  type: ColumnType;
}
export interface ResultSet {
  columns: Column[];
  rows: Value[][];
}

/** An error or informational message as SQL Server sends it (ERROR token 0xAA, INFO token 0xAB). */
export interface Message {
  number: number;
  state: number;
  severity: number;
  message: string;
  line: number;
  procName?: string;
}

const COLLATION = Buffer.from([0x09, 0x04, 0xd0, 0x00, 0x34]); // Latin1_General_CI_AS

export function bVarchar(s: string): Buffer {
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'ucs2')]);
}
function usVarchar(s: string): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16LE(s.length);
  return Buffer.concat([len, Buffer.from(s, 'ucs2')]);
}
function withLength16(token: number, body: Buffer): Buffer {
  const h = Buffer.alloc(3);
  h[0] = token;
  h.writeUInt16LE(body.length, 1);
  return Buffer.concat([h, body]);
}

export const DONE_FINAL = 0x00,
  DONE_MORE = 0x01,
  DONE_ERROR = 0x02,
  DONE_INXACT = 0x04,
  DONE_COUNT = 0x10,
  DONE_ATTN = 0x20;
export const TOKEN_DONE = 0xfd,
  TOKEN_DONEPROC = 0xfe,
  TOKEN_DONEINPROC = 0xff;

export function done(token: number, status: number, rowCount = 0, curCmd = 0xc1): Buffer {
  const b = Buffer.alloc(13);
  b[0] = token;
  b.writeUInt16LE(status, 1);
  b.writeUInt16LE(curCmd, 3);
  b.writeBigUInt64LE(BigInt(rowCount), 5);
  return b;
}

export function returnStatus(value: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = 0x79;
  b.writeInt32LE(value, 1);
  return b;
}

/** LOGINACK: interface SQL_TSQL, TDS 7.4, program name and version (major.minor.build). */
export function loginAck(version: string): Buffer {
  const [maj = 16, min = 0, build = 0] = version.split('.').map(Number);
  const v = Buffer.from([maj, min, (build >> 8) & 0xff, build & 0xff]);
  return withLength16(0xad, Buffer.concat([Buffer.from([0x01, 0x74, 0x00, 0x00, 0x04]), bVarchar('Microsoft SQL Server'), v]));
}

export function envChange(type: number, newValue: string, oldValue: string): Buffer {
  return withLength16(0xe3, Buffer.concat([Buffer.from([type]), bVarchar(newValue), bVarchar(oldValue)]));
}

export function messageToken(m: Message, serverName: string, info = false): Buffer {
  const n = Buffer.alloc(6);
  n.writeInt32LE(m.number, 0);
  n[4] = m.state;
  n[5] = m.severity;
  const line = Buffer.alloc(4);
  line.writeInt32LE(m.line);
  return withLength16(info ? 0xab : 0xaa, Buffer.concat([n, usVarchar(m.message), bVarchar(serverName), bVarchar(m.procName ?? ''), line]));
}

function typeInfo(c: Column): Buffer {
  switch (c.type) {
    case 'nvarchar':
      return Buffer.concat([Buffer.from([0xe7, 0x40, 0x1f]), COLLATION]); // NVARCHAR(4000)
    case 'varbinary': {
      const b = Buffer.alloc(3); // BIGVARBINARY, max length 85 (as varbinary(85) SIDs)
      b[0] = 0xa5;
      b.writeUInt16LE(85, 1);
      return b;
    }
    case 'int':
      return Buffer.from([0x26, 4]);
    case 'smallint':
      return Buffer.from([0x26, 2]);
    case 'tinyint':
      return Buffer.from([0x26, 1]);
    case 'bigint':
      return Buffer.from([0x26, 8]);
    case 'bit':
      return Buffer.from([0x68, 1]);
    case 'datetime':
      return Buffer.from([0x6f, 8]);
    case 'numeric':
      return Buffer.from([0x6c, 13, 25, 0]); // NUMERIC(25,0), as LSNs are
    case 'uniqueidentifier':
      return Buffer.from([0x24, 16]);
    case 'sql_variant': {
      const b = Buffer.alloc(5);
      b[0] = 0x62;
      b.writeUInt32LE(8009, 1);
      return b;
    }
  }
}

export function colMetadata(cols: Column[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x81]), Buffer.alloc(2)];
  parts[1]!.writeUInt16LE(cols.length);
  for (const c of cols) {
    const head = Buffer.alloc(6); // UserType(4) + Flags(2): nullable
    head.writeUInt16LE(0x0001, 4);
    parts.push(head, typeInfo(c), bVarchar(c.name));
  }
  return Buffer.concat(parts);
}

function guidBytes(s: string): Buffer {
  const h = s.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  // The first three groups are little-endian on the wire.
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}

function datetimeBytes(d: Date): Buffer {
  const base = Date.UTC(1900, 0, 1);
  const ms = d.getTime() - base;
  const days = Math.floor(ms / 86400000);
  const ticks = Math.round(((ms - days * 86400000) * 300) / 1000);
  const b = Buffer.alloc(8);
  b.writeInt32LE(days, 0);
  b.writeUInt32LE(ticks, 4);
  return b;
}

function variantValue(v: Value): Buffer {
  if (v === null) return Buffer.alloc(4);
  let body: Buffer;
  if (typeof v === 'number' && Number.isInteger(v)) {
    const d = Buffer.alloc(4);
    d.writeInt32LE(v);
    body = Buffer.concat([Buffer.from([0x38, 0]), d]);
  } else {
    const s = Buffer.from(String(v), 'ucs2');
    const max = Buffer.alloc(2);
    max.writeUInt16LE(256);
    body = Buffer.concat([Buffer.from([0xe7, 7]), COLLATION, max, s]);
  }
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([len, body]);
}

export function row(cols: Column[], values: Value[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0xd1])];
  cols.forEach((c, i) => {
    const v = values[i] ?? null;
    switch (c.type) {
      case 'nvarchar': {
        if (v === null) parts.push(Buffer.from([0xff, 0xff]));
        else {
          const s = Buffer.from(String(v), 'ucs2');
          const l = Buffer.alloc(2);
          l.writeUInt16LE(s.length);
          parts.push(l, s);
        }
        return;
      }
      case 'varbinary': {
        if (v === null) return void parts.push(Buffer.from([0xff, 0xff]));
        const b = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
        const l = Buffer.alloc(2);
        l.writeUInt16LE(b.length);
        return void parts.push(l, b);
      }
      case 'int':
      case 'smallint':
      case 'tinyint':
      case 'bigint': {
        if (v === null) return void parts.push(Buffer.from([0]));
        const n = c.type === 'int' ? 4 : c.type === 'smallint' ? 2 : c.type === 'tinyint' ? 1 : 8;
        const b = Buffer.alloc(n + 1);
        b[0] = n;
        if (n === 8) b.writeBigInt64LE(BigInt(v as number | bigint), 1);
        else if (n === 4) b.writeInt32LE(Number(v), 1);
        else if (n === 2) b.writeInt16LE(Number(v), 1);
        else b.writeUInt8(Number(v), 1);
        return void parts.push(b);
      }
      case 'bit':
        return void parts.push(v === null ? Buffer.from([0]) : Buffer.from([1, v ? 1 : 0]));
      case 'datetime':
        return void parts.push(v === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([8]), datetimeBytes(v as Date)]));
      case 'numeric': {
        if (v === null) return void parts.push(Buffer.from([0]));
        const b = Buffer.alloc(14);
        b[0] = 13;
        const big = BigInt(v as number | bigint);
        b[1] = big < 0n ? 0 : 1;
        const abs = big < 0n ? -big : big;
        b.writeBigUInt64LE(abs & 0xffffffffffffffffn, 2);
        b.writeUInt32LE(Number(abs >> 64n), 10);
        return void parts.push(b);
      }
      case 'uniqueidentifier':
        return void parts.push(v === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([16]), guidBytes(String(v))]));
      case 'sql_variant':
        return void parts.push(variantValue(v));
    }
  });
  return Buffer.concat(parts);
}

// ---- request decoding ---------------------------------------------------------------------------

export function skipAllHeaders(b: Buffer): number {
  return b.length >= 4 ? b.readUInt32LE(0) : 0;
}

function readBVarchar(b: Buffer, off: number): [string, number] {
  const n = b[off]!;
  return [b.toString('ucs2', off + 1, off + 1 + n * 2), off + 1 + n * 2];
}

/** Reads sp_executesql's parameters: NVARCHAR (plain or MAX/PLP), INTN, BITN. */
export function decodeRpc(b: Buffer): { statement: string; params: Record<string, unknown> } {
  let off = skipAllHeaders(b);
  const nameLen = b.readUInt16LE(off);
  off += 2;
  if (nameLen === 0xffff) off += 2; // ProcID (10 = sp_executesql)
  else off += nameLen * 2;
  off += 2; // option flags
  const params: Record<string, unknown> = {};
  const ordered: unknown[] = [];
  while (off < b.length) {
    let name: string;
    [name, off] = readBVarchar(b, off);
    off += 1; // status
    const type = b[off++]!;
    let value: unknown;
    if (type === 0xe7 || type === 0xef) {
      const max = b.readUInt16LE(off);
      off += 2 + 5;
      if (max === 0xffff) {
        const total = b.readBigUInt64LE(off);
        off += 8;
        if (total === 0xffffffffffffffffn) value = null;
        else {
          const chunks: Buffer[] = [];
          for (;;) {
            const n = b.readUInt32LE(off);
            off += 4;
            if (n === 0) break;
            chunks.push(b.subarray(off, off + n));
            off += n;
          }
          value = Buffer.concat(chunks).toString('ucs2');
        }
      } else {
        const n = b.readUInt16LE(off);
        off += 2;
        if (n === 0xffff) value = null;
        else {
          value = b.toString('ucs2', off, off + n);
          off += n;
        }
      }
    } else if (type === 0x26 || type === 0x68) {
      off += 1; // max length
      const n = b[off++]!;
      value = n === 0 ? null : n === 1 ? b[off] : n === 2 ? b.readInt16LE(off) : n === 4 ? b.readInt32LE(off) : Number(b.readBigInt64LE(off));
      if (type === 0x68 && value !== null) value = value === 1;
      off += n;
    } else {
      throw new Error(`TDS test server: parameter type 0x${type.toString(16)} is not supported`);
    }
    if (name) params[name.replace(/^@/, '').toLowerCase()] = value;
    ordered.push(value);
  }
  return { statement: String(ordered[0] ?? ''), params };
}

export function decodeLogin7(b: Buffer): { user: string; password: string; database: string } {
  const str = (pos: number) => {
    const o = b.readUInt16LE(pos);
    const n = b.readUInt16LE(pos + 2);
    return b.subarray(o, o + n * 2);
  };
  const pw = Buffer.from(str(44));
  for (let i = 0; i < pw.length; i++) {
    const x = pw[i]! ^ 0xa5;
    pw[i] = ((x & 0x0f) << 4) | (x >> 4);
  }
  return { user: str(40).toString('ucs2'), password: pw.toString('ucs2'), database: str(68).toString('ucs2') };
}

/** PRELOGIN answer: VERSION, ENCRYPTION (2 = not supported; 0 under strict TLS, where it is moot), THREADID, MARS. */
export function preloginResponse(version: string, strict: boolean): Buffer {
  const [maj = 16, min = 0, build = 0] = version.split('.').map(Number);
  const ver = Buffer.alloc(6);
  ver[0] = maj;
  ver[1] = min;
  ver.writeUInt16BE(build, 2);
  const opts = [
    [0x00, ver],
    [0x01, Buffer.from([strict ? 0x00 : 0x02])],
    [0x03, Buffer.alloc(4)],
    [0x04, Buffer.from([0])],
  ] as const;
  let off = opts.length * 5 + 1;
  const head: Buffer[] = [];
  const body: Buffer[] = [];
  for (const [tok, data] of opts) {
    const h = Buffer.alloc(5);
    h[0] = tok;
    h.writeUInt16BE(off, 1);
    h.writeUInt16BE(data.length, 3);
    head.push(h);
    body.push(data);
    off += data.length;
  }
  return Buffer.concat([...head, Buffer.from([0xff]), ...body]);
}
