/**
 * Connections to an MBAM SQL Server from a topology server entry. Encryption is on by default, and
 * because tedious silently continues unencrypted when a server says it cannot encrypt, every
 * connection asks the server whether it really is encrypted and refuses it if not (unless the
 * topology turned encryption off explicitly).
 */
import { readFileSync } from 'node:fs';
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
  requestTimeoutMs?: number;
  cancelTimeoutMs?: number;
}

export interface ServerIdentity {
  serverName: string;
  instanceName: string | null;
  majorVersion: number;
  edition: string;
  spid: number;
  encrypted: boolean;
}

export function describeServer(server: SqlEndpoint): string {
  const s = server.sql;
  return `${server.name} (${s.host}${s.instance ? `\\${s.instance}` : ''}${s.port ? `:${s.port}` : ''})`;
}

export function connectionConfig(server: SqlEndpoint, opts: ConnectOptions = {}, poolMax = 1): sql.config {
  const s = server.sql;
  if (s.auth.type !== 'sql') {
    throw new VssError(HR.E_NOTIMPL, {
      message: `SQL Server ${describeServer(server)}: integrated authentication is not available through the tedious driver`,
      category: 'precondition',
      hint: 'Give the topology server a SQL login: "auth": { "type": "sql", "user": "…", "password": { "env": "…" } }.',
    });
  }
  const config: sql.config = {
    server: s.host,
    user: s.auth.user,
    password: readSecret(s.auth.password, `SQL Server ${describeServer(server)} password`),
    database: 'master',
    connectionTimeout: opts.connectTimeoutMs ?? 15_000,
    requestTimeout: opts.requestTimeoutMs ?? 15_000,
    pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 },
    options: {
      encrypt: s.encrypt,
      trustServerCertificate: s.trustServerCertificate,
      appName: 'mbam-vss',
      cancelTimeout: opts.cancelTimeoutMs ?? 5_000,
      ...(s.instance && !s.port ? { instanceName: s.instance } : {}),
      ...(s.caFile ? { cryptoCredentialsDetails: { ca: readCa(s.caFile, server) } } : {}),
    },
  };
  if (s.port) config.port = s.port;
  return config;
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

/** A connection pool of `max` sessions to one server, checked for real encryption. */
export class SqlServerConnection {
  private constructor(
    readonly server: SqlEndpoint,
    readonly pool: sql.ConnectionPool,
    readonly identity: ServerIdentity,
  ) {}

  get name(): string {
    return describeServer(this.server);
  }

  static async open(server: SqlEndpoint, opts: ConnectOptions = {}, poolMax = 1): Promise<SqlServerConnection> {
    const { ConnectionPool } = await mssql();
    const pool = new ConnectionPool(connectionConfig(server, opts, poolMax));
    // A pool emits errors for idle connections that drop; the next request reports them.
    pool.on('error', () => {});
    try {
      await pool.connect();
    } catch (e) {
      await pool.close().catch(() => {});
      throw sqlError(e, describeServer(server), 'connect');
    }
    let identity: ServerIdentity;
    try {
      identity = await queryIdentity(pool);
    } catch (e) {
      await pool.close().catch(() => {});
      throw sqlError(e, describeServer(server), 'read the server identity');
    }
    if (server.sql.encrypt && !identity.encrypted) {
      await pool.close().catch(() => {});
      throw new VssError(HR.E_ACCESSDENIED, {
        message: `SQL Server ${describeServer(server)}: the connection is not encrypted although encryption was asked for (the server does not offer it); refusing to continue`,
        category: 'precondition',
        hint: 'Configure a certificate on SQL Server, or set "encrypt": false for this server in the topology if an unencrypted connection is acceptable.',
      });
    }
    return new SqlServerConnection(server, pool, identity);
  }

  async query<T = Record<string, unknown>>(tag: string, statement: string, params: Record<string, string | number | boolean | null> = {}, operation = tag): Promise<T[]> {
    try {
      const sql = driver!; // loaded by open()
      const req = this.pool.request();
      for (const [k, v] of Object.entries(params)) {
        if (typeof v === 'number') req.input(k, sql.Int, v);
        else if (typeof v === 'boolean') req.input(k, sql.Bit, v);
        else req.input(k, sql.NVarChar(4000), v);
      }
      const r = await req.query(tagged(tag, statement));
      return (r.recordset ?? []) as T[];
    } catch (e) {
      throw sqlError(e, this.name, operation);
    }
  }

  /** A statement that cannot be parameterised (ALTER DATABASE, BACKUP …): sent as a SQL batch. */
  async batch(tag: string, statement: string, operation = tag): Promise<void> {
    try {
      await this.pool.request().batch(tagged(tag, statement));
    } catch (e) {
      throw sqlError(e, this.name, operation);
    }
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {});
  }
}

async function queryIdentity(pool: sql.ConnectionPool): Promise<ServerIdentity> {
  const r = await pool.request().query(
    tagged(
      'identity',
      `SELECT @@SERVERNAME AS serverName, CAST(SERVERPROPERTY('InstanceName') AS nvarchar(128)) AS instanceName,
        CAST(SERVERPROPERTY('ProductMajorVersion') AS int) AS majorVersion, CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition,
        @@SPID AS spid, (SELECT encrypt_option FROM sys.dm_exec_connections WHERE session_id = @@SPID) AS encryptOption`,
    ),
  );
  const row = r.recordset[0] as Record<string, unknown>;
  return {
    serverName: String(row['serverName']),
    instanceName: (row['instanceName'] as string | null) ?? null,
    majorVersion: Number(row['majorVersion']),
    edition: String(row['edition']),
    spid: Number(row['spid']),
    encrypted: String(row['encryptOption']).toUpperCase() === 'TRUE',
  };
}
