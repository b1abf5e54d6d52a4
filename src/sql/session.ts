/**
 * One dedicated SQL Server session on a bare tedious Connection, for the snapshot suspension. The
 * suspension belongs to the session that asked for it; a pool would reap that session when idle
 * (mssql's pool closes idle connections after idleTimeoutMillis) and silently open another, so
 * the suspending session is a connection of its own that nothing closes but us. It can be cut at
 * once (`destroy`: the socket goes, SQL Server ends the session and thaws), which is how a freeze
 * deadline is kept even while a request is in flight.
 *
 * tedious is loaded on the first session, as mssql is on the first connection, and through
 * mssql's own resolution, so it is the tedious mssql was installed with.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type * as Tedious from 'tedious';
import type { SqlEndpoint } from './target.js';
import { abortedError, checkEncrypted, describeServer, driverEncrypted, IDENTITY_STATEMENT, identityFrom, tediousConfig, type ConnectOptions, type ServerIdentity } from './connection.js';
import { sqlError } from './errors.js';
import { tagged } from './quote.js';

let tedious: typeof Tedious | undefined;
async function loadTedious(): Promise<typeof Tedious> {
  if (tedious) return tedious;
  const require = createRequire(import.meta.url);
  const fromMssql = createRequire(require.resolve('mssql')).resolve('tedious');
  const m = (await import(pathToFileURL(fromMssql).href)) as typeof Tedious & { default?: typeof Tedious };
  return (tedious = m.Connection ? m : m.default!);
}

export interface SessionRequest {
  operation: string;
  /** ms this request may take; 0 = no limit. */
  timeoutMs: number;
  params?: Record<string, string | number | boolean | null>;
}

export class DedicatedSession {
  private destroyed = false;
  /** Set when the socket is gone, by us or by the network. */
  closedReason: string | undefined;

  private constructor(
    readonly server: SqlEndpoint,
    private readonly conn: Tedious.Connection,
    private readonly t: typeof Tedious,
    public identity: ServerIdentity,
  ) {
    conn.on('end', () => (this.closedReason ??= 'the connection ended'));
    conn.on('error', () => (this.closedReason ??= 'the connection failed'));
  }

  get name(): string {
    return describeServer(this.server);
  }

  get open(): boolean {
    return !this.destroyed && this.closedReason === undefined;
  }

  static async open(server: SqlEndpoint, opts: ConnectOptions = {}): Promise<DedicatedSession> {
    const name = describeServer(server);
    if (opts.signal?.aborted) throw abortedError(name, 'connect', opts.signal);
    const t = await loadTedious();
    const config = tediousConfig(server, opts);
    const conn = new t.Connection(config as unknown as Tedious.ConnectionConfiguration);
    conn.on('error', () => {});
    const onAbort = () => destroySocket(conn);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        conn.connect((err) => (err ? reject(err) : resolve()));
      });
    } catch (e) {
      destroySocket(conn);
      if (opts.signal?.aborted) throw abortedError(name, 'connect', opts.signal);
      throw sqlError(e, name, 'connect');
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    const session = new DedicatedSession(server, conn, t, identityFrom({}, null));
    try {
      const rows = await session.execute(tagged('identity', IDENTITY_STATEMENT), { operation: 'read the server identity', timeoutMs: opts.connectTimeoutMs ?? 15_000 });
      session.identity = identityFrom(rows[0] ?? {}, driverEncrypted(conn));
      checkEncrypted(server, session.identity.encrypted);
    } catch (e) {
      session.destroy();
      throw e;
    }
    return session;
  }

  /** Runs one batch (or, with params, one sp_executesql) and returns the rows of its result sets. */
  execute(statement: string, r: SessionRequest): Promise<Record<string, unknown>[]> {
    if (!this.open) return Promise.reject(sqlError(Object.assign(new Error(`the session is closed (${this.closedReason ?? 'destroyed'})`), { code: 'ECONNCLOSED' }), this.name, r.operation));
    return new Promise((resolve, reject) => {
      const rows: Record<string, unknown>[] = [];
      const req = new this.t.Request(statement, (err) => {
        if (err) reject(sqlError(err, this.name, r.operation));
        else resolve(rows);
      });
      req.setTimeout(r.timeoutMs);
      req.on('row', (columns: { metadata: { colName: string }; value: unknown }[]) => {
        rows.push(Object.fromEntries(columns.map((c) => [c.metadata.colName, c.value])));
      });
      const params = Object.entries(r.params ?? {});
      if (params.length) {
        for (const [k, v] of params) {
          if (typeof v === 'number') req.addParameter(k, this.t.TYPES.Int, v);
          else if (typeof v === 'boolean') req.addParameter(k, this.t.TYPES.Bit, v);
          else req.addParameter(k, this.t.TYPES.NVarChar, v, { length: 4000 });
        }
        this.conn.execSql(req);
      } else this.conn.execSqlBatch(req);
    });
  }

  /** Cuts the session at once: the socket is destroyed, so the server ends the session (and thaws). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closedReason ??= 'closed by mbam-vss';
    destroySocket(this.conn);
  }

  /** Ends the session politely when it is idle; at once when a request is still running. */
  async close(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closedReason ??= 'closed by mbam-vss';
    await new Promise<void>((resolve) => {
      const done = setTimeout(() => {
        destroySocket(this.conn);
        resolve();
      }, 1000);
      done.unref?.();
      this.conn.once('end', () => {
        clearTimeout(done);
        resolve();
      });
      this.conn.close();
    });
  }
}

function destroySocket(conn: Tedious.Connection): void {
  const c = conn as unknown as { socket?: { destroy(): void } };
  try {
    c.socket?.destroy();
  } catch {
    /* already gone */
  }
  try {
    conn.close();
  } catch {
    /* already closed */
  }
}
