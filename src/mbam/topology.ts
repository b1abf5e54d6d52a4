/**
 * The MBAM topology file: which servers host which MBAM databases, how to reach their SQL Server
 * instances, and where the report server and web services are. Secrets never live in the file; it
 * names an environment variable or a file that holds them.
 */
import { readFileSync } from 'node:fs';
import { invalidInput, VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import type { SecretRef } from '../util/secrets.js';
import type { SqlInstance, SqlTarget } from '../sql/target.js';

export type { SecretRef } from '../util/secrets.js';
export { readSecret } from '../util/secrets.js';
export type { SqlAuth, SqlInstance } from '../sql/target.js';
import type { SqlAuth } from '../sql/target.js';

export const DEFAULT_RECOVERY_DATABASE = 'MBAM Recovery and Hardware';
export const DEFAULT_COMPLIANCE_DATABASE = 'MBAM Compliance Status';
export const RECOVERY_CERTIFICATE = 'MBAM Recovery Encryption Certificate';

export type DatabaseRole = 'recovery' | 'complianceAudit';
export const DATABASE_ROLES: readonly DatabaseRole[] = ['recovery', 'complianceAudit'];


export interface ServerTopology {
  /** The server's computer name; `install` picks the server whose name matches this host. */
  name: string;
  sql: SqlInstance;
  databases: Partial<Record<DatabaseRole, { name: string }>>;
  /**
   * Protects the private key of the Recovery database's certificate in backups (BACKUP
   * CERTIFICATE … ENCRYPTION BY PASSWORD) and opens it on restore. Needed to back up a server
   * that hosts the Recovery database with the POSIX requester.
   */
  recoveryCertificatePassword?: SecretRef;
  /**
   * Password for a new database master key in master, used only when a restore must re-create the
   * Recovery certificate on a server whose master has none (by reference, never a value).
   */
  masterKeyPassword?: SecretRef;
}

export interface Topology {
  servers: ServerTopology[];
  reportServerUrl?: string;
  webServiceUrls: string[];
  /** Register the hosted writer service too (Windows), not only the express writer. */
  hostedWriter: boolean;
  /** Warn in `health` when the last successful backup is older than this. */
  backupMaxAgeHours: number;
}

type Json = unknown;

function obj(v: Json, path: string): Record<string, Json> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidInput(path, 'an object', v);
  return v as Record<string, Json>;
}

function str(v: Json, path: string, what = 'a non-empty string'): string {
  if (typeof v !== 'string' || v.trim() === '') throw invalidInput(path, what, v);
  return v;
}

function optStr(o: Record<string, Json>, key: string, path: string): string | undefined {
  return o[key] === undefined ? undefined : str(o[key], `${path}.${key}`);
}

function bool(o: Record<string, Json>, key: string, path: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw invalidInput(`${path}.${key}`, key === 'encrypt' ? 'true, false or "strict"' : 'true or false', v);
  return v;
}

function noUnknownKeys(o: Record<string, Json>, allowed: string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw invalidInput(`${path}.${k}`, `no such field (allowed: ${allowed.join(', ')})`);
  }
}

/** A URL as an error may show it: any user information (`user:password@`) replaced. */
function redactUrl(s: string): string {
  return s.replace(/^([^:/?#]*:\/*)[^/?#]*@/, '$1***@');
}

function url(v: Json, path: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw invalidInput(path, 'an http(s) URL', v);
  // Every echo of the value goes through redactUrl: a URL that does not parse, or has the wrong
  // scheme, may still carry a password.
  const shown = redactUrl(v);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw invalidInput(path, 'an http(s) URL', shown);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalidInput(path, 'an http(s) URL', shown);
  if (u.username || u.password) throw invalidInput(path, 'a URL without credentials in it (secrets never live in the topology)', shown);
  return v;
}

/**
 * A secret reference. Whatever is where a reference belongs may be the secret itself (a password
 * typed as a number, or as the "variable name"), so no error here echoes a value: only the path.
 */
function secretRef(v: Json, path: string): SecretRef {
  const expected = 'a reference {"env": "VAR"} or {"file": "/path/to/secret"}; secrets never live in the topology file';
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidInput(path, expected);
  const o = v as Record<string, Json>;
  noUnknownKeys(o, ['env', 'file'], path);
  if (o['env'] !== undefined && o['file'] !== undefined) throw invalidInput(path, 'either "env" or "file", not both');
  if (o['env'] !== undefined) {
    const env = o['env'];
    if (typeof env !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) {
      throw invalidInput(`${path}.env`, 'an environment variable name (letters, digits and _; the value itself is not shown, in case it is the secret)');
    }
    return { env };
  }
  if (o['file'] !== undefined) {
    if (typeof o['file'] !== 'string' || o['file'].trim() === '') throw invalidInput(`${path}.file`, 'the path of a file holding the secret');
    return { file: o['file'] };
  }
  throw invalidInput(path, expected);
}

function parseAuth(v: Json, path: string): SqlAuth {
  const o = obj(v, path);
  const type = o['type'] ?? 'sql';
  if (type === 'integrated') {
    noUnknownKeys(o, ['type'], path);
    return { type: 'integrated' };
  }
  if (type === 'ntlm') {
    // Windows authentication from Linux: NTLM through tedious. Kerberos is not offered.
    noUnknownKeys(o, ['type', 'domain', 'user', 'password'], path);
    return { type: 'ntlm', domain: str(o['domain'], `${path}.domain`), user: str(o['user'], `${path}.user`), password: secretRef(o['password'], `${path}.password`) };
  }
  if (type !== 'sql') throw invalidInput(`${path}.type`, '"sql", "ntlm" or "integrated" (Kerberos is not offered)', type);
  noUnknownKeys(o, ['type', 'user', 'password'], path);
  return { type: 'sql', user: str(o['user'], `${path}.user`), password: secretRef(o['password'], `${path}.password`) };
}

function parseSql(v: Json, path: string): SqlInstance {
  const o = obj(v, path);
  noUnknownKeys(o, ['host', 'port', 'instance', 'writerServerName', 'auth', 'encrypt', 'trustServerCertificate', 'caFile', 'serverCertificateHostName', 'multiSubnetFailover'], path);
  const sql: SqlInstance = {
    host: str(o['host'], `${path}.host`),
    auth: o['auth'] === undefined ? { type: 'integrated' } : parseAuth(o['auth'], `${path}.auth`),
    encrypt: o['encrypt'] === 'strict' ? 'strict' : bool(o, 'encrypt', path, true),
    trustServerCertificate: bool(o, 'trustServerCertificate', path, false),
  };
  if (o['port'] !== undefined) {
    const p = o['port'];
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw invalidInput(`${path}.port`, 'an integer from 1 to 65535', p);
    sql.port = p;
  }
  const instance = optStr(o, 'instance', path);
  if (instance !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_$#]{0,15}$/.test(instance)) throw invalidInput(`${path}.instance`, 'a SQL Server instance name (letters, digits, _, $, #; at most 16)', instance);
    if (instance.toUpperCase() !== 'MSSQLSERVER') sql.instance = instance;
  }
  const caFile = optStr(o, 'caFile', path);
  if (caFile !== undefined) sql.caFile = caFile;
  const certHost = optStr(o, 'serverCertificateHostName', path);
  if (certHost !== undefined) sql.serverCertificateHostName = certHost;
  if (o['multiSubnetFailover'] !== undefined) sql.multiSubnetFailover = bool(o, 'multiSubnetFailover', path, false);
  const wsn = optStr(o, 'writerServerName', path);
  if (wsn !== undefined) sql.writerServerName = wsn;
  return sql;
}

const COMPUTER_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;

function parseServer(v: Json, path: string): ServerTopology {
  const o = obj(v, path);
  noUnknownKeys(o, ['name', 'sql', 'databases', 'recoveryCertificatePassword', 'masterKeyPassword'], path);
  const name = str(o['name'], `${path}.name`);
  if (!COMPUTER_NAME.test(name)) throw invalidInput(`${path}.name`, 'a computer name (letters, digits, hyphens, dots)', name);
  const dbs = obj(o['databases'], `${path}.databases`);
  noUnknownKeys(dbs, [...DATABASE_ROLES], `${path}.databases`);
  const databases: ServerTopology['databases'] = {};
  for (const role of DATABASE_ROLES) {
    const d = dbs[role];
    if (d === undefined || d === false) continue;
    const dflt = role === 'recovery' ? DEFAULT_RECOVERY_DATABASE : DEFAULT_COMPLIANCE_DATABASE;
    if (d === true) {
      databases[role] = { name: dflt };
      continue;
    }
    const dobj = obj(d, `${path}.databases.${role}`);
    noUnknownKeys(dobj, ['name'], `${path}.databases.${role}`);
    const dbName = dobj['name'] === undefined ? dflt : str(dobj['name'], `${path}.databases.${role}.name`);
    if (dbName.length > 128) throw invalidInput(`${path}.databases.${role}.name`, 'a database name of at most 128 characters', dbName);
    databases[role] = { name: dbName };
  }
  if (Object.keys(databases).length === 0) {
    throw invalidInput(`${path}.databases`, 'at least one of "recovery" or "complianceAudit"');
  }
  const server: ServerTopology = { name, sql: parseSql(o['sql'], `${path}.sql`), databases };
  if (o['masterKeyPassword'] !== undefined) server.masterKeyPassword = secretRef(o['masterKeyPassword'], `${path}.masterKeyPassword`);
  if (o['recoveryCertificatePassword'] !== undefined) {
    server.recoveryCertificatePassword = secretRef(o['recoveryCertificatePassword'], `${path}.recoveryCertificatePassword`);
  }
  return server;
}

/** Validates a parsed JSON value; every error names the JSON path and what was expected. */
export function parseTopology(value: Json): Topology {
  const o = obj(value, '$');
  noUnknownKeys(o, ['$schema', 'servers', 'reportServerUrl', 'webServiceUrls', 'hostedWriter', 'backupMaxAgeHours'], '$');
  if (!Array.isArray(o['servers']) || o['servers'].length === 0) throw invalidInput('$.servers', 'a non-empty array of servers', o['servers']);
  const servers = o['servers'].map((s, i) => parseServer(s, `$.servers[${i}]`));
  const seen = new Map<string, number>();
  servers.forEach((s, i) => {
    const k = s.name.toLowerCase();
    if (seen.has(k)) throw invalidInput(`$.servers[${i}].name`, `a unique server name ('${s.name}' is also $.servers[${seen.get(k)}])`);
    seen.set(k, i);
  });
  for (const role of DATABASE_ROLES) {
    const hosts = servers.filter((s) => s.databases[role]);
    if (hosts.length > 1) {
      throw invalidInput(`$.servers[${servers.indexOf(hosts[1]!)}].databases.${role}`, `the ${role} database on one server only (also on ${hosts[0]!.name})`);
    }
  }
  const t: Topology = {
    servers,
    webServiceUrls: [],
    hostedWriter: bool(o, 'hostedWriter', '$', false),
    backupMaxAgeHours: 24,
  };
  if (o['reportServerUrl'] !== undefined) t.reportServerUrl = url(o['reportServerUrl'], '$.reportServerUrl');
  if (o['webServiceUrls'] !== undefined) {
    if (!Array.isArray(o['webServiceUrls'])) throw invalidInput('$.webServiceUrls', 'an array of URLs', o['webServiceUrls']);
    t.webServiceUrls = o['webServiceUrls'].map((u, i) => url(u, `$.webServiceUrls[${i}]`));
  }
  if (o['backupMaxAgeHours'] !== undefined) {
    const h = o['backupMaxAgeHours'];
    if (typeof h !== 'number' || !(h > 0)) throw invalidInput('$.backupMaxAgeHours', 'a positive number of hours', h);
    t.backupMaxAgeHours = h;
  }
  return t;
}

export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new VssError(HR.E_INVALIDARG, { message: `topology file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`, category: 'input', cause: e });
  }
  // Notepad and PowerShell's Out-File -Encoding utf8 write a byte-order mark; JSON.parse refuses it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    // V8's message quotes the text around the error, which may be a password typed in by mistake:
    // say where, never what.
    const { line, col } = lineAndColumn(text, jsonErrorOffset(text));
    throw new VssError(HR.E_INVALIDARG, { message: `topology file ${file}: not valid JSON at line ${line}, column ${col}`, category: 'input' });
  }
  try {
    return parseTopology(json);
  } catch (e) {
    if (e instanceof VssError) {
      throw new VssError(e.hresult, { message: `topology file ${file}: ${e.message}`, category: 'input', cause: e });
    }
    throw e;
  }
}

function lineAndColumn(text: string, pos: number): { line: number; col: number } {
  const before = text.slice(0, pos);
  const nl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, col: pos - nl };
}

/**
 * The offset of the first JSON syntax error in `s` (its length when the text ends too soon). Only
 * called on text JSON.parse refused; iterative, so deep nesting cannot exhaust the stack.
 */
function jsonErrorOffset(s: string): number {
  let i = 0;
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const stack: ('[' | '{')[] = [];
  // What may come next: a value, a key (or '}' after '{'), or ',' / the closing bracket.
  let want: 'value' | 'first-value' | 'key' | 'first-key' | 'after' = 'value';
  for (;;) {
    ws();
    if (i >= s.length) return stack.length || want !== 'after' ? s.length : i;
    const c = s[i]!;
    if (want === 'after') {
      const top = stack[stack.length - 1];
      if (!top) return i; // text after the document
      if (c === ',') {
        i++;
        want = top === '[' ? 'value' : 'key';
      } else if (c === (top === '[' ? ']' : '}')) {
        i++;
        stack.pop();
      } else return i;
      continue;
    }
    if (want === 'key' || want === 'first-key') {
      if (want === 'first-key' && c === '}') {
        i++;
        stack.pop();
        want = 'after';
        continue;
      }
      if (c !== '"') return i;
      const end = jsonStringEnd(s, i);
      if (end < 0) return -end - 1;
      i = end;
      ws();
      if (s[i] !== ':') return i;
      i++;
      want = 'value';
      continue;
    }
    if (want === 'first-value' && c === ']') {
      i++;
      stack.pop();
      want = 'after';
      continue;
    }
    if (c === '[' || c === '{') {
      stack.push(c);
      i++;
      want = c === '[' ? 'first-value' : 'first-key';
      continue;
    }
    if (c === '"') {
      const end = jsonStringEnd(s, i);
      if (end < 0) return -end - 1;
      i = end;
    } else {
      const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
      m.lastIndex = i;
      if (!m.exec(s)) return i;
      i = m.lastIndex;
    }
    want = 'after';
  }
}

/** The offset after the string starting at `i`, or -(offset of the error) - 1. */
function jsonStringEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x22) return j + 1;
    if (c < 0x20) return -j - 1;
    if (c === 0x5c) {
      const e = s[j + 1];
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(s.slice(j + 2, j + 6))) return -j - 1;
        j += 5;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) j++;
      else return -j - 1;
    }
  }
  return -s.length - 1;
}

/** The server entry by name (case-insensitive, ignoring any DNS suffix of the host name). */
export function findServer(t: Topology, name: string): ServerTopology | undefined {
  const short = (n: string) => n.toLowerCase().split('.')[0];
  return t.servers.find((s) => s.name.toLowerCase() === name.toLowerCase()) ?? t.servers.find((s) => short(s.name) === short(name));
}

/**
 * What the SQL layer needs of one topology server: its instance, the MBAM databases it hosts
 * (labelled by role, for check names and messages) and, where it hosts the Recovery database, the
 * certificate in master that encrypts the keys and the password that protects its backups.
 */
export function sqlTargetOf(server: ServerTopology): SqlTarget {
  return {
    name: server.name,
    sql: server.sql,
    databases: DATABASE_ROLES.filter((r) => server.databases[r]).map((role) => ({ role, name: server.databases[role]!.name })),
    ...(server.databases.recovery
      ? {
          certificate: {
            name: RECOVERY_CERTIFICATE,
            ...(server.recoveryCertificatePassword ? { password: server.recoveryCertificatePassword } : {}),
            passwordField: `servers[${server.name}].recoveryCertificatePassword`,
            ...(server.masterKeyPassword ? { masterKeyPassword: server.masterKeyPassword } : {}),
          },
        }
      : {}),
  };
}
