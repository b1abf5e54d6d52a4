/**
 * A TDS 7.4 test server: a real TCP server on 127.0.0.1 that speaks SQL Server's wire protocol
 * (PRELOGIN, LOGIN7, SQL_BATCH, RPC sp_executesql, ATTENTION) well enough for tedious/mssql, and
 * answers the statements src/sql sends from configurable state. It matches statements by the
 * `/*mbam-vss:<tag>*\/` comment src/sql puts first; it does not parse T-SQL. Suspend semantics are
 * real: per-session SPIDs, error 3081 on a second suspend, thaw when the suspending connection
 * closes, the DMV rows. Faults: failed login, no answer, connection killed mid-request or while
 * suspended.
 *
 * Packet framing uses tedious's own Packet class; the server-side tokens (LOGINACK, ENVCHANGE,
 * COLMETADATA, ROW, ERROR, DONE*) are encoded here, since tedious only parses them.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Packet, TYPE, HEADER_LENGTH } = require('tedious/lib/packet.js') as {
  Packet: new (t: number | Buffer) => { addData(b: Buffer): unknown; last(l?: boolean): boolean; packetId(id?: number): number; buffer: Buffer; data(): Buffer; type(): number; isLast(): boolean };
  TYPE: Record<string, number>;
  HEADER_LENGTH: number;
};

export interface TdsDatabase {
  name: string;
  state?: string;
  recoveryModel?: string;
  encrypted?: boolean;
  files?: { type: 'ROWS' | 'LOG' | 'FILESTREAM' | 'FULLTEXT'; physicalName: string; sizePages: number }[];
  /** Rights of the login on this database. */
  canBackup?: boolean;
  canAlter?: boolean;
  readOnly?: boolean;
  /** Whether the login can read RecoveryAndHardwareCore.Keys; null: the table does not exist. */
  keysReadable?: boolean | null;
}

export interface TdsServerOptions {
  serverName?: string;
  instanceName?: string | null;
  productMajorVersion?: number;
  edition?: string;
  databases?: TdsDatabase[];
  certificates?: string[];
  /** SERVERPROPERTY('InstanceDefaultBackupPath'). */
  defaultBackupPath?: string | null;
  logins?: Record<string, string>;
  /** 'plain': PRELOGIN answers "encryption not supported" (no TLS). 'strict': TDS 8, TLS first. */
  tls?: 'plain' | 'strict';
  tlsCert?: { key: string; cert: string };
  faults?: TdsFaults;
}

export interface TdsFaults {
  /** Refuse every login with error 18456. */
  loginFails?: boolean;
  /** Statements (by tag) the server swallows without answering. */
  noAnswer?: string[];
  /** Statements (by tag) during which the server drops the connection. */
  killOn?: string[];
}

export interface SessionInfo {
  spid: number;
  user: string;
  open: boolean;
  encrypted: boolean;
}

export interface TdsServerHandle {
  port: number;
  close(): Promise<void>;
  sessions(): SessionInfo[];
  /** Databases suspended for snapshot backup, and by which session. */
  suspended(): { database: string; spid: number }[];
  /** Every statement received, tag first (secrets are in here: it is a test helper). */
  statements: { spid: number; tag: string; text: string; params: Record<string, unknown> }[];
  /** Metadata-only backups recorded (the msdb history rows a real server would add). */
  backups: { databases: string[]; path: string; spid: number }[];
  certificateBackups: { certificate: string; file: string; keyFile: string; password: string }[];
  /** RESTORE … WITH METADATA_ONLY statements carried out. */
  restores: { database: string; path: string; position: number }[];
  killSession(spid: number): void;
  /** Called as each statement arrives, before it is carried out. */
  onStatement?: (tag: string, spid: number) => void;
  faults: TdsFaults;
  state: Required<Pick<TdsServerOptions, 'databases' | 'certificates'>>;
}

type Value = string | number | boolean | null;
interface Column {
  name: string;
  type: 'nvarchar' | 'int' | 'bigint' | 'bit';
}
interface ResultSet {
  columns: Column[];
  rows: Value[][];
}
class SqlError extends Error {
  constructor(
    readonly number: number,
    message: string,
    readonly severity = 16,
  ) {
    super(message);
  }
}

const COLLATION = Buffer.from([0x09, 0x04, 0xd0, 0x00, 0x34]);

// ---- token encoding ------------------------------------------------------------------------------

function bVarchar(s: string): Buffer {
  const b = Buffer.from(s, 'ucs2');
  return Buffer.concat([Buffer.from([s.length]), b]);
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

const DONE_FINAL = 0x00,
  DONE_MORE = 0x01,
  DONE_ERROR = 0x02,
  DONE_COUNT = 0x10,
  DONE_ATTN = 0x20;

function done(token: 0xfd | 0xfe | 0xff, status: number, rowCount = 0): Buffer {
  const b = Buffer.alloc(13);
  b[0] = token;
  b.writeUInt16LE(status, 1);
  b.writeUInt16LE(0xc1, 3); // curcmd: SELECT
  b.writeBigUInt64LE(BigInt(rowCount), 5);
  return b;
}

function loginAck(): Buffer {
  const body = Buffer.concat([
    Buffer.from([0x01]), // SQL_TSQL
    Buffer.from([0x74, 0x00, 0x00, 0x04]), // TDS 7.4
    bVarchar('mbam-vss TDS test server'),
    Buffer.from([16, 0, 0x10, 0x00]),
  ]);
  return withLength16(0xad, body);
}

function envChange(type: number, newValue: string, oldValue: string): Buffer {
  return withLength16(0xe3, Buffer.concat([Buffer.from([type]), bVarchar(newValue), bVarchar(oldValue)]));
}

function errorToken(e: SqlError, serverName: string): Buffer {
  const n = Buffer.alloc(6);
  n.writeInt32LE(e.number, 0);
  n[4] = 1; // state
  n[5] = e.severity;
  const line = Buffer.alloc(4);
  line.writeInt32LE(1);
  return withLength16(0xaa, Buffer.concat([n, usVarchar(e.message), bVarchar(serverName), bVarchar(''), line]));
}

function colMetadata(cols: Column[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x81]), Buffer.alloc(2)];
  parts[1]!.writeUInt16LE(cols.length);
  for (const c of cols) {
    const head = Buffer.alloc(6); // UserType(4) + Flags(2): nullable
    head.writeUInt16LE(0x0001, 4);
    parts.push(head);
    if (c.type === 'nvarchar') parts.push(Buffer.from([0xe7, 0x40, 0x1f]), COLLATION); // maxlen 8000
    else if (c.type === 'int') parts.push(Buffer.from([0x26, 4]));
    else if (c.type === 'bigint') parts.push(Buffer.from([0x26, 8]));
    else parts.push(Buffer.from([0x68, 1]));
    parts.push(bVarchar(c.name));
  }
  return Buffer.concat(parts);
}

function row(cols: Column[], values: Value[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0xd1])];
  cols.forEach((c, i) => {
    const v = values[i] ?? null;
    if (c.type === 'nvarchar') {
      if (v === null) parts.push(Buffer.from([0xff, 0xff]));
      else {
        const s = Buffer.from(String(v), 'ucs2');
        const l = Buffer.alloc(2);
        l.writeUInt16LE(s.length);
        parts.push(l, s);
      }
    } else if (c.type === 'int' || c.type === 'bigint') {
      if (v === null) parts.push(Buffer.from([0]));
      else if (c.type === 'int') {
        const b = Buffer.alloc(5);
        b[0] = 4;
        b.writeInt32LE(Number(v), 1);
        parts.push(b);
      } else {
        const b = Buffer.alloc(9);
        b[0] = 8;
        b.writeBigInt64LE(BigInt(Number(v)), 1);
        parts.push(b);
      }
    } else if (v === null) parts.push(Buffer.from([0]));
    else parts.push(Buffer.from([1, v ? 1 : 0]));
  });
  return Buffer.concat(parts);
}

// ---- request decoding ---------------------------------------------------------------------------

function skipAllHeaders(b: Buffer): number {
  return b.length >= 4 ? b.readUInt32LE(0) : 0;
}

function readBVarchar(b: Buffer, off: number): [string, number] {
  const n = b[off]!;
  return [b.toString('ucs2', off + 1, off + 1 + n * 2), off + 1 + n * 2];
}

/** Reads sp_executesql's parameters: NVARCHAR (plain or MAX/PLP), INTN, BITN. */
function decodeRpc(b: Buffer): { statement: string; params: Record<string, unknown> } {
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
      value = n === 0 ? null : n === 1 ? b[off] : n === 4 ? b.readInt32LE(off) : Number(b.readBigInt64LE(off));
      if (type === 0x68 && value !== null) value = value === 1;
      off += n;
    } else {
      throw new Error(`TDS test server: parameter type 0x${type.toString(16)} is not supported`);
    }
    if (name) params[name.replace(/^@/, '')] = value;
    ordered.push(value);
  }
  return { statement: String(ordered[0] ?? ''), params };
}

function decodeLogin7(b: Buffer): { user: string; password: string; database: string } {
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

// ---- the server ---------------------------------------------------------------------------------

const TAG_RE = /^\s*\/\*mbam-vss:([a-z-]+)\*\//;
const IDENT_RE = /\[((?:[^\]]|\]\])*)\]/g;
const LITERAL_RE = /N'((?:[^']|'')*)'/g;
const unquoteIdent = (s: string) => s.replace(/\]\]/g, ']');
const unquoteLiteral = (s: string) => s.replace(/''/g, "'");

export async function startTdsServer(options: TdsServerOptions = {}): Promise<TdsServerHandle> {
  const serverName = options.serverName ?? 'MBAM-DB1';
  const state = {
    databases: options.databases ?? [],
    certificates: options.certificates ?? [],
  };
  const logins = options.logins ?? { mbam_vss: 'correct horse battery staple' };
  const majorVersion = options.productMajorVersion ?? 16;
  const suspended = new Map<string, number>(); // database -> spid
  const sockets = new Map<number, { socket: net.Socket; info: SessionInfo }>();
  let nextSpid = 51;
  const handle: TdsServerHandle = {
    port: 0,
    close: async () => {
      for (const s of sockets.values()) s.socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
    sessions: () => [...sockets.values()].map((s) => ({ ...s.info })),
    suspended: () => [...suspended].map(([database, spid]) => ({ database, spid })),
    statements: [],
    backups: [],
    certificateBackups: [],
    restores: [],
    killSession: (spid) => sockets.get(spid)?.socket.destroy(),
    faults: options.faults ?? {},
    state,
  };

  const db = (name: string) => state.databases.find((d) => d.name === name);
  const thaw = (spid: number) => {
    for (const [d, s] of suspended) if (s === spid) suspended.delete(d);
  };

  // Backup files are really written and read, as SQL Server does on its own machine: a missing
  // directory is error 3201, an existing file (certificates) 15240, a backup device that is not
  // ours 3241.
  const BKM_FORMAT = 'mbam-vss TDS test server metadata backup';
  const openDevice = (path: string) => {
    if (!fs.existsSync(dirname(path))) throw new SqlError(3201, `Cannot open backup device '${path}'. Operating system error 3(The system cannot find the path specified.).`);
  };
  const readBkm = (path: string): { databases: string[] } => {
    let parsed: { format?: string; databases?: string[] };
    try {
      parsed = JSON.parse(fs.readFileSync(path, 'utf8'));
    } catch {
      throw new SqlError(3201, `Cannot open backup device '${path}'. Operating system error 2(The system cannot find the file specified.).`);
    }
    if (parsed.format !== BKM_FORMAT || !Array.isArray(parsed.databases)) throw new SqlError(3241, `The media family on device '${path}' is incorrectly formed. SQL Server cannot process this media family.`);
    return { databases: parsed.databases };
  };
  const passwordHash = (p: string) => createHash('sha256').update(p).digest('hex');

  function execute(spid: number, tag: string, text: string, params: Record<string, unknown>, info: SessionInfo): ResultSet[] {
    const idents = [...text.matchAll(IDENT_RE)].map((m) => unquoteIdent(m[1]!));
    const literals = [...text.matchAll(LITERAL_RE)].map((m) => unquoteLiteral(m[1]!));
    switch (tag) {
      case 'identity':
        return [
          {
            columns: [
              { name: 'serverName', type: 'nvarchar' }, { name: 'instanceName', type: 'nvarchar' }, { name: 'majorVersion', type: 'int' },
              { name: 'edition', type: 'nvarchar' }, { name: 'spid', type: 'int' }, { name: 'encryptOption', type: 'nvarchar' },
            ],
            rows: [[options.instanceName ? `${serverName}\\${options.instanceName}` : serverName, options.instanceName ?? null, majorVersion, options.edition ?? 'Developer Edition (64-bit)', spid, info.encrypted ? 'TRUE' : 'FALSE']],
          },
        ];
      case 'databases': {
        const names = Object.entries(params).filter(([k]) => /^db\d+$/.test(k)).map(([, v]) => String(v));
        return [
          {
            columns: [{ name: 'name', type: 'nvarchar' }, { name: 'stateDesc', type: 'nvarchar' }, { name: 'recoveryModel', type: 'nvarchar' }, { name: 'isEncrypted', type: 'bit' }, { name: 'canBackup', type: 'int' }, { name: 'canAlter', type: 'int' }],
            rows: names.map(db).filter((d): d is TdsDatabase => !!d).map((d) => [d.name, d.state ?? 'ONLINE', d.recoveryModel ?? 'FULL', !!d.encrypted, d.canBackup === false ? 0 : 1, d.canAlter === false ? 0 : 1]),
          },
        ];
      }
      case 'files': {
        const names = Object.entries(params).filter(([k]) => /^db\d+$/.test(k)).map(([, v]) => String(v));
        return [
          {
            columns: [{ name: 'database', type: 'nvarchar' }, { name: 'typeDesc', type: 'nvarchar' }, { name: 'physicalName', type: 'nvarchar' }, { name: 'sizePages', type: 'bigint' }],
            rows: names.flatMap((n) => (db(n)?.files ?? []).map((f) => [n, f.type, f.physicalName, f.sizePages])),
          },
        ];
      }
      case 'health-database': {
        const d = db(String(params['db']));
        return [{ columns: [{ name: 'state', type: 'nvarchar' }, { name: 'updateability', type: 'nvarchar' }], rows: [[d ? d.state ?? 'ONLINE' : null, d ? (d.readOnly ? 'READ_ONLY' : 'READ_WRITE') : null]] }];
      }
      case 'health-keys': {
        const d = db(String(params['db']));
        const v = d?.keysReadable === undefined ? 1 : d.keysReadable === null ? null : d.keysReadable ? 1 : 0;
        return [{ columns: [{ name: 'canRead', type: 'int' }], rows: [[d ? v : null]] }];
      }
      case 'certificate':
        return [{ columns: [{ name: 'name', type: 'nvarchar' }], rows: state.certificates.filter((c) => c === params['certificate']).map((c) => [c]) }];
      case 'suspend': {
        if (majorVersion < 16) throw new SqlError(102, "Incorrect syntax near 'SUSPEND_FOR_SNAPSHOT_BACKUP'.");
        if (idents.length > 64) throw new SqlError(925, 'Maximum number of databases used for each query has been exceeded. The maximum allowed is 64.');
        for (const name of idents) {
          if (!db(name)) throw new SqlError(911, `Database '${name}' does not exist. Make sure that the name is entered correctly.`);
          if (['master', 'model', 'msdb', 'tempdb'].includes(name)) throw new SqlError(3089, `Suspending a system database '${name}' for snapshot backup is not supported.`);
          if (suspended.has(name)) throw new SqlError(3081, `Database '${name}' is already suspended for snapshot backup.`);
        }
        for (const name of idents) suspended.set(name, spid);
        return [];
      }
      case 'resume':
        for (const name of idents) if (suspended.get(name) === spid) suspended.delete(name);
        return [];
      case 'suspend-status':
        return [
          {
            columns: [{ name: 'database', type: 'nvarchar' }, { name: 'suspendSessionId', type: 'int' }, { name: 'spid', type: 'int' }],
            rows: suspended.size ? [...suspended].map(([d, s]) => [d, s, spid]) : [[null, null, spid]],
          },
        ];
      case 'backup-metadata': {
        const dbs = idents;
        for (const d of dbs) {
          if (suspended.get(d) !== spid) throw new SqlError(3036, `Database '${d}' is not suspended for snapshot backup by this session; BACKUP ... METADATA_ONLY needs it.`);
        }
        const path = literals[0] ?? '';
        openDevice(path);
        // WITH FORMAT: a new media set, overwriting the file. One backup set per database, in order.
        fs.writeFileSync(path, JSON.stringify({ format: BKM_FORMAT, databases: dbs, finishedAt: new Date().toISOString() }));
        for (const d of dbs) suspended.delete(d);
        handle.backups.push({ databases: dbs, path, spid });
        return [];
      }
      case 'backup-directory':
        return [{ columns: [{ name: 'path', type: 'nvarchar' }], rows: [[options.defaultBackupPath ?? null]] }];
      case 'restore-headeronly': {
        const { databases } = readBkm(literals[0] ?? '');
        return [{ columns: [{ name: 'Position', type: 'int' }, { name: 'DatabaseName', type: 'nvarchar' }], rows: databases.map((d, i) => [i + 1, d]) }];
      }
      case 'set-offline': {
        const d = db(idents[0] ?? '');
        if (!d) throw new SqlError(911, `Database '${idents[0]}' does not exist. Make sure that the name is entered correctly.`);
        if (suspended.has(d.name)) throw new SqlError(3101, `Exclusive access could not be obtained because the database is in use.`);
        d.state = 'OFFLINE';
        return [];
      }
      case 'restore-metadata': {
        const name = idents[0] ?? '';
        const path = literals[0] ?? '';
        const position = Number(/FILE = (\d+)/.exec(text)?.[1] ?? 1);
        const { databases } = readBkm(path);
        if (databases[position - 1] !== name) throw new SqlError(3154, `The backup set holds a backup of a database other than the existing '${name}' database.`);
        if (!/\bREPLACE\b/.test(text)) throw new SqlError(3159, `The tail of the log for the database "${name}" has not been backed up.`);
        const d = db(name);
        if (d && d.state !== 'OFFLINE') throw new SqlError(3101, 'Exclusive access could not be obtained because the database is in use.');
        for (const f of d?.files ?? []) {
          if (!fs.existsSync(f.physicalName)) throw new SqlError(5120, `Unable to open the physical file "${f.physicalName}". Operating system error 2: "2(The system cannot find the file specified.)".`);
        }
        if (d) d.state = /NORECOVERY/.test(text) ? 'RESTORING' : 'ONLINE';
        handle.restores.push({ database: name, path, position });
        return [];
      }
      case 'backup-certificate': {
        const cert = idents[0] ?? '';
        if (!state.certificates.includes(cert)) throw new SqlError(15151, `Cannot find the certificate '${cert}', because it does not exist or you do not have permission.`);
        const [file = '', keyFile = '', password = ''] = literals;
        for (const f of [file, keyFile]) {
          openDevice(f);
          if (fs.existsSync(f)) throw new SqlError(15240, `Cannot write into file '${f}'. Verify that you have write permissions, that the file path is valid, and that the file does not already exist.`);
        }
        fs.writeFileSync(file, JSON.stringify({ certificate: cert }));
        fs.writeFileSync(keyFile, JSON.stringify({ key: randomBytes(16).toString('hex'), passwordSha256: passwordHash(password) }));
        handle.certificateBackups.push({ certificate: cert, file, keyFile, password });
        return [];
      }
      case 'restore-certificate': {
        const cert = idents[0] ?? '';
        if (state.certificates.includes(cert)) throw new SqlError(15232, `A certificate with name '${cert}' already exists or this certificate already has been added to the database.`);
        const [file = '', keyFile = '', password = ''] = literals;
        let key: { passwordSha256?: string };
        try {
          JSON.parse(fs.readFileSync(file, 'utf8'));
          key = JSON.parse(fs.readFileSync(keyFile, 'utf8'));
        } catch {
          throw new SqlError(15208, `The certificate, asymmetric key, or private key file is not valid or does not exist; or you do not have permissions for it.`);
        }
        if (key.passwordSha256 !== passwordHash(password)) throw new SqlError(15465, 'The private key password is invalid.');
        state.certificates.push(cert);
        return [];
      }
      default:
        if (/^\s*set\s/i.test(text) || /^\s*select\s+1\s*;?\s*$/i.test(text)) {
          return /select/i.test(text) ? [{ columns: [{ name: '', type: 'int' }], rows: [[1]] }] : [];
        }
        throw new SqlError(2812, `TDS test server: no answer configured for this statement: ${text.slice(0, 80)}`);
    }
  }

  function send(socket: net.Socket, type: number, payload: Buffer, packetSize = 4096): void {
    const max = packetSize - HEADER_LENGTH;
    let id = 1;
    for (let off = 0; off < payload.length || off === 0; off += max) {
      const p = new Packet(type);
      p.addData(payload.subarray(off, off + max));
      p.packetId(id++ & 0xff);
      p.last(off + max >= payload.length);
      socket.write(p.buffer);
      if (payload.length === 0) break;
    }
  }

  function respond(socket: net.Socket, sets: ResultSet[], rpc: boolean): void {
    const parts: Buffer[] = [];
    for (const rs of sets) {
      parts.push(colMetadata(rs.columns));
      for (const r of rs.rows) parts.push(row(rs.columns, r));
      parts.push(done(rpc ? 0xff : 0xfd, DONE_COUNT | DONE_MORE, rs.rows.length));
    }
    if (rpc) {
      const rs = Buffer.alloc(5);
      rs[0] = 0x79;
      rs.writeInt32LE(0, 1);
      parts.push(rs, done(0xfe, DONE_FINAL));
    } else parts.push(done(0xfd, DONE_FINAL));
    send(socket, TYPE['TABULAR_RESULT']!, Buffer.concat(parts));
  }

  function respondError(socket: net.Socket, e: SqlError, rpc: boolean): void {
    send(socket, TYPE['TABULAR_RESULT']!, Buffer.concat([errorToken(e, serverName), rpc ? done(0xfe, DONE_ERROR) : done(0xfd, DONE_ERROR)]));
  }

  function onConnection(socket: net.Socket, encrypted: boolean): void {
    const spid = nextSpid++;
    const info: SessionInfo = { spid, user: '', open: true, encrypted };
    sockets.set(spid, { socket, info });
    let buffered = Buffer.alloc(0);
    let message: Buffer[] = [];
    socket.on('error', () => {});
    socket.on('close', () => {
      info.open = false;
      // Closing the suspending session thaws its databases at once.
      thaw(spid);
      sockets.delete(spid);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= HEADER_LENGTH) {
        const len = buffered.readUInt16BE(2);
        if (buffered.length < len) break;
        const packet = new Packet(buffered.subarray(0, len));
        buffered = buffered.subarray(len);
        message.push(packet.data());
        if (packet.type() === TYPE['ATTENTION']) {
          message = [];
          send(socket, TYPE['TABULAR_RESULT']!, done(0xfd, DONE_ATTN));
          continue;
        }
        if (!packet.isLast()) continue;
        const payload = Buffer.concat(message);
        message = [];
        handleMessage(socket, packet.type(), payload, info);
      }
    });
  }

  function handleMessage(socket: net.Socket, type: number, payload: Buffer, info: SessionInfo): void {
    if (type === TYPE['PRELOGIN']) {
      // VERSION, ENCRYPTION (2 = not supported, or 0 under strict TLS where it is moot), THREADID, MARS
      const opts = [
        [0x00, Buffer.from([16, 0, 0x10, 0x00, 0, 0])],
        [0x01, Buffer.from([options.tls === 'strict' ? 0x00 : 0x02])],
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
      send(socket, TYPE['PRELOGIN']!, Buffer.concat([...head, Buffer.from([0xff]), ...body]));
      return;
    }
    if (type === TYPE['LOGIN7']) {
      const login = decodeLogin7(payload);
      info.user = login.user;
      if (handle.faults.loginFails || logins[login.user] !== login.password) {
        send(socket, TYPE['TABULAR_RESULT']!, Buffer.concat([errorToken(new SqlError(18456, `Login failed for user '${login.user}'.`, 14), serverName), done(0xfd, DONE_ERROR)]));
        return;
      }
      send(socket, TYPE['TABULAR_RESULT']!, Buffer.concat([envChange(1, login.database || 'master', 'master'), loginAck(), envChange(4, '4096', '4096'), done(0xfd, DONE_FINAL)]));
      return;
    }
    let text: string;
    let params: Record<string, unknown> = {};
    const rpc = type === TYPE['RPC_REQUEST'];
    if (type === TYPE['SQL_BATCH']) text = payload.toString('ucs2', skipAllHeaders(payload));
    else if (rpc) ({ statement: text, params } = decodeRpc(payload));
    else return;
    const tag = TAG_RE.exec(text)?.[1] ?? '';
    handle.statements.push({ spid: info.spid, tag, text, params });
    handle.onStatement?.(tag, info.spid);
    if (tag && handle.faults.killOn?.includes(tag)) {
      socket.destroy();
      return;
    }
    if (tag && handle.faults.noAnswer?.includes(tag)) return;
    try {
      respond(socket, execute(info.spid, tag, text, params, info), rpc);
    } catch (e) {
      if (e instanceof SqlError) respondError(socket, e, rpc);
      else throw e;
    }
  }

  const server =
    options.tls === 'strict'
      ? tls.createServer({ key: options.tlsCert!.key, cert: options.tlsCert!.cert, ALPNProtocols: ['tds/8.0'] }, (s) => onConnection(s, true))
      : net.createServer((s) => onConnection(s, false));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  handle.port = (server.address() as net.AddressInfo).port;
  return handle;
}
