/**
 * Connections to an MBAM SQL Server from a topology server entry. Encryption is on by default, and
 * because tedious silently continues unencrypted when a server says it cannot encrypt, every
 * connection checks that it really is encrypted and refuses it if not (unless the topology turned
 * encryption off explicitly). The check reads the driver's own TLS state, so it needs no server
 * permission: sys.dm_exec_connections would need VIEW SERVER PERFORMANCE STATE, which a
 * least-privilege login does not have, and no CONNECTIONPROPERTY tells encryption.
 */
import { readFileSync } from 'node:fs';
import { TLSSocket } from 'node:tls';
import type sql from 'mssql';
import { readSecret } from '../util/secrets.js';
import type { SqlEndpoint } from './target.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { sqlError } from './errors.js';
import { tagged } from './quote.js';

export interface ConnectOptions {
  /** Connect timeout; the freeze path sets it well below its deadline. */
  connectTimeoutMs?: number;
  /** Default timeout of each request on this connection (a request may ask for its own). */
  requestTimeoutMs?: number;
  cancelTimeoutMs?: number;
  /** Aborting closes the connection (its session ends on the server). */
  signal?: AbortSignal;
}

/** Per request: what it is (for errors), how long it may take, and a signal that ends it. */
export interface RequestOptions {
  operation?: string;
  /** 0: no timeout (a RESTORE of a large database); default: the connection's. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ServerIdentity {
  serverName: string;
  instanceName: string | null;
  majorVersion: number;
  /** SERVERPROPERTY('ProductVersion'), e.g. 16.0.4165.4. */
  productVersion: string;
  /** SERVERPROPERTY('ProductUpdateLevel'), e.g. CU16 (null on an RTM build). */
  updateLevel: string | null;
  updateReference: string | null;
  edition: string;
  spid: number;
  /** From the driver's TLS state; null when it cannot tell (never read as "unencrypted"). */
  encrypted: boolean | null;
}

export function describeServer(server: SqlEndpoint): string {
  const s = server.sql;
  return `${server.name} (${s.host}${s.instance ? `\\${s.instance}` : ''}${s.port ? `:${s.port}` : ''})`;
}

/** The SQL statement that reads a server's identity (no permission beyond a login is needed). */
export const IDENTITY_STATEMENT = `SELECT @@SERVERNAME AS serverName, CAST(SERVERPROPERTY('InstanceName') AS nvarchar(128)) AS instanceName,
  CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS productVersion, CAST(SERVERPROPERTY('ProductUpdateLevel') AS nvarchar(128)) AS updateLevel,
  CAST(SERVERPROPERTY('ProductUpdateReference') AS nvarchar(128)) AS updateReference, CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition, @@SPID AS spid`;

export function identityFrom(row: Record<string, unknown>, encrypted: boolean | null): ServerIdentity {
  const productVersion = String(row['productVersion'] ?? '0');
  return {
    serverName: String(row['serverName']),
    instanceName: (row['instanceName'] as string | null) ?? null,
    majorVersion: Number(productVersion.split('.')[0]),
    productVersion,
    updateLevel: (row['updateLevel'] as string | null) ?? null,
    updateReference: (row['updateReference'] as string | null) ?? null,
    edition: String(row['edition']),
    spid: Number(row['spid']),
    encrypted,
  };
}

/** The driver's view of a tedious connection: TLS first (TDS 8 strict), or TLS after PRELOGIN. */
export function driverEncrypted(connection: unknown): boolean | null {
  const c = connection as { socket?: unknown; messageIo?: { tlsNegotiationComplete?: boolean } } | undefined;
  if (!c) return null;
  if (c.socket instanceof TLSSocket) return true;
  if (c.messageIo && typeof c.messageIo.tlsNegotiationComplete === 'boolean') return c.messageIo.tlsNegotiationComplete;
  return null;
}

/** Refuses a connection that is known to be unencrypted when encryption was asked for. */
export function checkEncrypted(server: SqlEndpoint, encrypted: boolean | null): void {
  if (server.sql.encrypt && encrypted === false) {
    throw new VssError(HR.E_ACCESSDENIED, {
      message: `SQL Server ${describeServer(server)}: the connection is not encrypted although encryption was asked for (the server does not offer it); refusing to continue`,
      category: 'precondition',
      hint: 'Configure a certificate on SQL Server, or set "encrypt": false for this server in the topology if an unencrypted connection is acceptable.',
    });
  }
}

function authentication(server: SqlEndpoint): { type: 'default'; options: { userName: string; password: string } } | { type: 'ntlm'; options: { domain: string; userName: string; password: string } } {
  const s = server.sql;
  if (s.auth.type === 'sql') return { type: 'default', options: { userName: s.auth.user, password: readSecret(s.auth.password, `SQL Server ${describeServer(server)} password`) } };
  if (s.auth.type === 'ntlm') return { type: 'ntlm', options: { domain: s.auth.domain, userName: s.auth.user, password: readSecret(s.auth.password, `SQL Server ${describeServer(server)} password`) } };
  throw new VssError(HR.E_NOTIMPL, {
    message: `SQL Server ${describeServer(server)}: integrated authentication is not available through the tedious driver (and Kerberos is not offered)`,
    category: 'precondition',
    hint: 'Give the topology server a SQL login ("auth": { "type": "sql", "user": "…", "password": { "env": "…" } }) or a Windows login over NTLM ("auth": { "type": "ntlm", "domain": "…", "user": "…", "password": { "env": "…" } }).',
  });
}

/** tedious's configuration for a server (the dedicated suspend session uses it as is). */
export function tediousConfig(server: SqlEndpoint, opts: ConnectOptions = {}): Record<string, unknown> & { server: string; options: Record<string, unknown> } {
  const s = server.sql;
  const options: Record<string, unknown> = {
    encrypt: s.encrypt,
    trustServerCertificate: s.trustServerCertificate,
    appName: 'mbam-vss',
    database: 'master',
    connectTimeout: opts.connectTimeoutMs ?? 15_000,
    requestTimeout: opts.requestTimeoutMs ?? 15_000,
    cancelTimeout: opts.cancelTimeoutMs ?? 5_000,
    ...(s.instance && !s.port ? { instanceName: s.instance } : {}),
    ...(s.port ? { port: s.port } : {}),
    ...(s.caFile ? { cryptoCredentialsDetails: { ca: readCa(s.caFile, server) } } : {}),
    ...(s.serverCertificateHostName ? { serverName: s.serverCertificateHostName } : {}),
    ...(s.multiSubnetFailover ? { multiSubnetFailover: true } : {}),
  };
  return { server: s.host, authentication: authentication(server), options };
}

export function connectionConfig(server: SqlEndpoint, opts: ConnectOptions = {}, poolMax = 1): sql.config {
  const t = tediousConfig(server, opts);
  return {
    server: t.server,
    // mssql passes `authentication` and `options` through to tedious.
    authentication: t['authentication'],
    connectionTimeout: opts.connectTimeoutMs ?? 15_000,
    requestTimeout: opts.requestTimeoutMs ?? 15_000,
    pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 },
    options: t.options,
    ...(t.options['port'] ? { port: t.options['port'] as number } : {}),
  } as sql.config;
}

function readCa(file: string, server: SqlEndpoint): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new VssError(HR.E_INVALIDARG, { message: `SQL Server ${describeServer(server)}: cannot read caFile ${file} (${(e as NodeJS.ErrnoException).code})`, category: 'precondition' });
  }
}

/**
 * The driver, loaded on first use: mssql and tedious are some 400 modules, and most commands and
 * library calls never talk to SQL Server (`mbam-vss --version`, `writers`, `import('mbam-vss')`).
 */
let driver: typeof sql | undefined;
async function mssql(): Promise<typeof sql> {
  return (driver ??= (await import('mssql')).default);
}

/** An aborted operation: the connection was closed, which ends whatever it held. */
export function abortedError(server: string, operation: string, signal: AbortSignal): VssError {
  const reason = signal.reason instanceof Error ? signal.reason.message : signal.reason !== undefined ? String(signal.reason) : 'aborted';
  return new VssError(HR.E_ABORT, { message: `SQL Server ${server}, ${operation}: aborted (${reason}); the session was closed`, category: 'aborted' });
}

/** A connection pool of `max` sessions to one server, checked for real encryption. */
export class SqlServerConnection {
  private constructor(
    readonly server: SqlEndpoint,
    readonly pool: sql.ConnectionPool,
    readonly identity: ServerIdentity,
    private readonly defaults: ConnectOptions,
  ) {}

  get name(): string {
    return describeServer(this.server);
  }

  static async open(server: SqlEndpoint, opts: ConnectOptions = {}, poolMax = 1): Promise<SqlServerConnection> {
    const name = describeServer(server);
    if (opts.signal?.aborted) throw abortedError(name, 'connect', opts.signal);
    const { ConnectionPool } = await mssql();
    // Every session the pool creates, so that an abort can end each (the pool itself retries a
    // failed create, so a session can also appear after the abort: it is ended as it logs in).
    const sessions = new Set<{ close(): void; once(event: 'connect', fn: () => void): unknown }>();
    const pool = new ConnectionPool({
      ...connectionConfig(server, opts, poolMax),
      // Each acquire checks the socket, not a round trip of `SELECT 1` (which the freeze path would
      // pay on every request, and which a hung server turns into a hung connect).
      validateConnection: 'socket',
      beforeConnect: (c) => {
        sessions.add(c);
        if (opts.signal?.aborted) c.once('connect', () => c.close());
      },
    });
    // A pool emits errors for idle connections that drop; the next request reports them.
    pool.on('error', () => {});
    // The identity request in flight is cancelled too: closing the pool alone leaves it waiting
    // for the server's answer (or its timeout).
    let identityRequest: sql.Request | undefined;
    const onAbort = () => {
      // The pool waits for a connection in use to come back before it closes it; ending the
      // session's socket now is what stops the I/O (and fails the request in flight).
      for (const c of sessions) c.close();
      identityRequest?.cancel();
      void pool.close().catch(() => {});
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      try {
        await pool.connect();
      } catch (e) {
        await pool.close().catch(() => {});
        if (opts.signal?.aborted) throw abortedError(name, 'connect', opts.signal);
        throw sqlError(e, name, 'connect');
      }
      // A close while the pool was still connecting does not stop the connect (the pool retries a
      // session the abort ended): one that completes after the abort is closed here.
      if (opts.signal?.aborted) {
        for (const c of sessions) c.close();
        await pool.close().catch(() => {});
        throw abortedError(name, 'connect', opts.signal);
      }
      let identity: ServerIdentity;
      try {
        const p = pool as unknown as { acquire(r: unknown): Promise<unknown>; release(c: unknown): void };
        const raw = await p.acquire(pool);
        const encrypted = driverEncrypted(raw);
        p.release(raw);
        identityRequest = pool.request();
        const r = await identityRequest.query(tagged('identity', IDENTITY_STATEMENT));
        identity = identityFrom(r.recordset[0] as Record<string, unknown>, encrypted);
      } catch (e) {
        await pool.close().catch(() => {});
        if (opts.signal?.aborted) throw abortedError(name, 'read the server identity', opts.signal);
        throw sqlError(e, name, 'read the server identity');
      }
      try {
        checkEncrypted(server, identity.encrypted);
      } catch (e) {
        await pool.close().catch(() => {});
        throw e;
      }
      return new SqlServerConnection(server, pool, identity, opts);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async run<T>(operation: string, ro: RequestOptions, fn: (req: sql.Request) => Promise<T>): Promise<T> {
    const signal = ro.signal ?? this.defaults.signal;
    if (signal?.aborted) {
      await this.close();
      throw abortedError(this.name, operation, signal);
    }
    const timeout = ro.timeoutMs ?? this.defaults.requestTimeoutMs;
    const req = (this.pool.request as unknown as (o?: { requestTimeout?: number }) => sql.Request).call(this.pool, timeout !== undefined ? { requestTimeout: timeout } : undefined);
    // Abort cancels the request and closes the connection: the session ends, and with it anything
    // it held on the server (a suspension thaws).
    const onAbort = () => {
      req.cancel();
      void this.close();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await fn(req);
    } catch (e) {
      if (signal?.aborted) throw abortedError(this.name, operation, signal);
      throw sqlError(e, this.name, operation);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async query<T = Record<string, unknown>>(tag: string, statement: string, params: Record<string, string | number | boolean | null> = {}, operation: string | RequestOptions = tag): Promise<T[]> {
    const ro: RequestOptions = typeof operation === 'string' ? { operation } : operation;
    return this.run(ro.operation ?? tag, ro, async (req) => {
      const sql = driver!; // loaded by open()
      for (const [k, v] of Object.entries(params)) {
        if (typeof v === 'number') req.input(k, sql.Int, v);
        else if (typeof v === 'boolean') req.input(k, sql.Bit, v);
        else req.input(k, sql.NVarChar(4000), v);
      }
      const r = await req.query(tagged(tag, statement));
      return (r.recordset ?? []) as T[];
    });
  }

  /** A statement that cannot be parameterised (ALTER DATABASE, BACKUP …): sent as a SQL batch. */
  async batch(tag: string, statement: string, operation: string | RequestOptions = tag): Promise<void> {
    const ro: RequestOptions = typeof operation === 'string' ? { operation } : operation;
    await this.run(ro.operation ?? tag, ro, (req) => req.batch(tagged(tag, statement)));
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {});
  }
}
