/**
 * A TDS 7.4 test server that models Microsoft SQL Server 2022 as documented on Microsoft Learn: a
 * real TCP server on 127.0.0.1 speaking SQL Server's wire protocol (PRELOGIN, LOGIN7, TLS plain or
 * TDS 8 strict, SQL_BATCH, RPC sp_executesql, ATTENTION) for tedious/mssql, recognising statements
 * by their documented T-SQL syntax (test/support/tds/tsql.ts) and answering what SQL Server would
 * (test/support/tds/model.ts). Anything outside the modelled subset fails loudly: 102/156 for
 * syntax, 50000 "The TDS test server does not model: ..." for recognised but unmodelled statements.
 *
 * Test-only faults (not SQL Server behaviour) are kept apart in `faults`; they select statements by
 * their recognised kind (StatementKind) or by a RegExp on the statement text.
 * See test/support/tds/BEHAVIOURS.md for the behaviour table.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { Model, SqlError, StatementFailure, type DatabaseState, type CertificateState, type ModelOptions, type Session } from './tds/model.js';
import { parseBatch, SyntaxError102, type Statement, type StatementKind } from './tds/tsql.js';
import * as W from './tds/wire.js';

export type { TdsDatabase, TdsLogin, TdsCertificate, TdsDatabaseUser, ServerPermission, ServerRole, DatabaseRole, TdsFile } from './tds/model.js';
export type { StatementKind } from './tds/tsql.js';

export interface TdsServerOptions extends ModelOptions {
  /** Shorthand for productVersion: 16 → 16.0.4003.1, 15 → 15.0.4355.3 (2019), 14 → 14.0.3465.1. */
  productMajorVersion?: number;
  /** 'plain': PRELOGIN answers "encryption not supported" (no TLS). 'strict': TDS 8, TLS first. */
  tls?: 'plain' | 'strict';
  tlsCert?: { key: string; cert: string };
  faults?: TdsFaults;
}

/** Selects statements by recognised kind or by a RegExp on the statement's text. */
export type StatementSelector = StatementKind | RegExp;

/** Test helpers, not SQL Server behaviour. */
export interface TdsFaults {
  /** Refuse every login with error 18456. */
  loginFails?: boolean;
  /** Batches holding a matching statement are swallowed without an answer (client timeouts). */
  noAnswer?: StatementSelector[];
  /** The server drops the connection when a matching statement arrives. */
  killOn?: StatementSelector[];
  /** A matching statement hangs until the client sends ATTENTION or disconnects. */
  hangOn?: StatementSelector[];
  /** A matching statement is delayed by ms before it runs. */
  delay?: { on: StatementSelector; ms: number }[];
}

export interface SessionInfo {
  spid: number;
  user: string;
  open: boolean;
  encrypted: boolean;
  database: string;
  tranCount: number;
}

export interface TdsServerHandle {
  port: number;
  close(): Promise<void>;
  sessions(): SessionInfo[];
  /** Databases suspended for snapshot backup, and by which session. */
  suspended(): { database: string; spid: number; copyOnly: boolean; server: boolean }[];
  /** Every recognised statement (secrets are in here: it is a test helper). `tag` = `kind`. */
  statements: { spid: number; kind: StatementKind | 'unparsed'; tag: string; text: string; params: Record<string, unknown> }[];
  /** BACKUP ... WITH METADATA_ONLY carried out (the msdb history is in state.backupHistory). */
  backups: { kind: string; databases: string[]; path: string; spid: number; position: number; copyOnly: boolean }[];
  certificateBackups: { certificate: string; file: string; keyFile: string; password: string }[];
  /** RESTORE DATABASE ... WITH METADATA_ONLY carried out. */
  restores: { database: string; source: string; path: string; position: number; recovery: boolean }[];
  killSession(spid: number): void;
  /** Called as each statement arrives, before it is carried out. */
  onStatement?: (kind: StatementKind | 'unparsed', spid: number, text: string) => void;
  faults: TdsFaults;
  /** The live model: databases (state, files, differential base), certificates, msdb history. */
  state: { databases: DatabaseState[]; certificates: CertificateState[]; backupHistory: Model['backupHistory']; model: Model };
  database(name: string): DatabaseState | undefined;
}

const VERSIONS: Record<number, string> = { 16: '16.0.4003.1', 15: '15.0.4355.3', 14: '14.0.3465.1', 13: '13.0.6300.2' };

function matches(sel: StatementSelector, st: { kind: string; text: string }): boolean {
  return typeof sel === 'string' ? sel === st.kind : sel.test(st.text);
}

export async function startTdsServer(options: TdsServerOptions = {}): Promise<TdsServerHandle> {
  const productVersion = options.productVersion ?? (options.productMajorVersion ? (VERSIONS[options.productMajorVersion] ?? `${options.productMajorVersion}.0.1000.0`) : undefined);
  // ProductUpdateLevel / ProductUpdateReference / @@VERSION follow the version (model.ts KNOWN_BUILDS).
  const model = new Model({ ...options, ...(productVersion ? { productVersion } : {}) });
  const sockets = new Map<number, { socket: net.Socket; session: Session; cancel?: () => void }>();
  const handle: TdsServerHandle = {
    port: 0,
    close: async () => {
      for (const s of sockets.values()) s.socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
    sessions: () => [...model.sessions.values()].map((s) => ({ spid: s.spid, user: s.login, open: s.open, encrypted: s.encrypted, database: s.database, tranCount: s.tranCount })),
    suspended: () => [...model.suspensions.values()].map((x) => ({ database: x.database, spid: x.spid, copyOnly: x.copyOnly, server: x.server })),
    statements: [],
    backups: model.events.backups,
    certificateBackups: model.events.certificateBackups,
    restores: model.events.restores,
    // KILL ends the session; its suspension goes with it. A reset (RST), as a dropped connection.
    killSession: (spid) => sockets.get(spid)?.socket.resetAndDestroy(),
    faults: options.faults ?? {},
    state: { databases: model.databases, certificates: model.certificates, backupHistory: model.backupHistory, model },
    database: (name) => model.db(name),
  };
  model.killSession = handle.killSession;
  const serverName = (options.serverName ?? 'MBAM-DB1') + (options.instanceName ? `\\${options.instanceName}` : '');

  function send(socket: net.Socket, type: number, payload: Buffer, packetSize = 4096): void {
    if (socket.destroyed) return;
    const max = packetSize - W.HEADER_LENGTH;
    let id = 1;
    for (let off = 0; off < payload.length || off === 0; off += max) {
      const p = new W.Packet(type);
      p.addData(payload.subarray(off, off + max));
      p.packetId(id++ & 0xff);
      p.last(off + max >= payload.length);
      socket.write(p.buffer);
      if (payload.length === 0) break;
    }
  }

  // "For compatibility reasons, the Database Engine converts severity 10 to severity 0 before
  // returning the error information to the calling application" (Learn: Database Engine error
  // severities). Informational messages (INFO token) keep their documented severity in the model.
  const msg = (e: SqlError, line: number, info = false): W.Message => ({ number: e.number, state: e.state, severity: info && e.severity <= 10 ? 0 : e.severity, message: e.message, line });

  function onConnection(socket: net.Socket, encrypted: boolean): void {
    // SQL Server reuses the session ids of ended sessions; user sessions start at 51.
    let spid = 51;
    while (sockets.has(spid)) spid++;
    const session: Session = { spid, login: '', database: 'master', tranCount: 0, encrypted, open: true, connectedAt: new Date(), masterKeyOpen: new Set() };
    const entry: { socket: net.Socket; session: Session; cancel?: () => void } = { socket, session };
    sockets.set(spid, entry);
    let loggedIn = false;
    let buffered = Buffer.alloc(0);
    let message: Buffer[] = [];
    socket.on('error', () => {});
    socket.on('close', () => {
      session.open = false;
      // The session ends: open transactions roll back and its suspension is released at once.
      model.thawSession(spid);
      model.sessions.delete(spid);
      entry.cancel?.();
      sockets.delete(spid);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= W.HEADER_LENGTH) {
        const len = buffered.readUInt16BE(2);
        if (buffered.length < len) break;
        const packet = new W.Packet(buffered.subarray(0, len));
        buffered = buffered.subarray(len);
        if (packet.type() === W.TYPE['ATTENTION']) {
          // ATTENTION cancels the running request; the session (and anything it holds, such as a
          // suspension) stays. The server answers DONE with DONE_ATTN ([MS-TDS] 2.2.1.7, 3.3.5.9).
          message = [];
          if (entry.cancel) entry.cancel();
          else send(socket, W.TYPE['TABULAR_RESULT']!, W.done(W.TOKEN_DONE, W.DONE_ATTN));
          continue;
        }
        message.push(packet.data());
        if (!packet.isLast()) continue;
        const payload = Buffer.concat(message);
        message = [];
        void handleMessage(packet.type(), payload).catch((e: unknown) => {
          socket.destroy();
          throw e;
        });
      }
    });

    async function handleMessage(type: number, payload: Buffer): Promise<void> {
      if (type === W.TYPE['PRELOGIN']) {
        send(socket, W.TYPE['PRELOGIN']!, W.preloginResponse(model.version, options.tls === 'strict'));
        return;
      }
      if (type === W.TYPE['LOGIN7']) {
        const login = W.decodeLogin7(payload);
        session.login = login.user;
        const l = model.logins[login.user];
        // 18456 (severity 14): "Login failed for user '%.*ls'.%.*ls" — the client sees no reason.
        if (handle.faults.loginFails || !l || l.password !== login.password) {
          send(socket, W.TYPE['TABULAR_RESULT']!, Buffer.concat([W.messageToken(msg(new SqlError(18456, `Login failed for user '${login.user}'.`, 14), 1), serverName), W.done(W.TOKEN_DONE, W.DONE_ERROR)]));
          return;
        }
        const dbName = login.database || l.defaultDatabase || 'master';
        const db = model.db(dbName);
        if (!db || db.state !== 'ONLINE' || !model.canAccessDb(session, db)) {
          // 4060 (severity 11): "Cannot open database "%.*ls" requested by the login. The login failed." then 18456.
          const errs = [new SqlError(4060, `Cannot open database "${dbName}" requested by the login. The login failed.`, 11), new SqlError(18456, `Login failed for user '${login.user}'.`, 14)];
          send(socket, W.TYPE['TABULAR_RESULT']!, Buffer.concat([...errs.map((e) => W.messageToken(msg(e, 1), serverName)), W.done(W.TOKEN_DONE, W.DONE_ERROR)]));
          return;
        }
        session.database = db.name;
        loggedIn = true;
        model.sessions.set(spid, session);
        send(
          socket,
          W.TYPE['TABULAR_RESULT']!,
          Buffer.concat([W.envChange(1, db.name, 'master'), W.messageToken(msg(new SqlError(5701, `Changed database context to '${db.name}'.`, 10), 1, true), serverName, true), W.loginAck(model.version), W.envChange(4, '4096', '4096'), W.done(W.TOKEN_DONE, W.DONE_FINAL)]),
        );
        return;
      }
      if (!loggedIn) {
        socket.destroy();
        return;
      }
      let text: string;
      let params: Record<string, unknown> = {};
      const rpc = type === W.TYPE['RPC_REQUEST'];
      if (type === W.TYPE['SQL_BATCH']) text = payload.toString('ucs2', W.skipAllHeaders(payload));
      else if (rpc) ({ statement: text, params } = W.decodeRpc(payload));
      else return;
      await runBatch(text, params, rpc);
    }

    /**
     * The interrupted response ends (its message closes with a DONE), then the attention
     * acknowledgement follows as a message of its own: a DONE with DONE_ATTN ([MS-TDS] 3.2.5.7
     * "Sent Attention State": the client discards data until it reads the acknowledgement).
     */
    function acknowledgeAttention(out: Buffer[]): void {
      if (socket.destroyed) return;
      send(socket, W.TYPE['TABULAR_RESULT']!, Buffer.concat([...out, W.done(W.TOKEN_DONE, W.DONE_FINAL)]));
      send(socket, W.TYPE['TABULAR_RESULT']!, W.done(W.TOKEN_DONE, W.DONE_ATTN));
    }

    async function runBatch(text: string, params: Record<string, unknown>, rpc: boolean): Promise<void> {
      const out: Buffer[] = [];
      const inner = rpc ? W.TOKEN_DONEINPROC : W.TOKEN_DONE;
      const finish = (last: Buffer[]) => {
        if (rpc) out.push(...last, W.returnStatus(0), W.done(W.TOKEN_DONEPROC, 0));
        else if (last.length) {
          // The last DONE of a batch carries no DONE_MORE.
          const d = last[last.length - 1]!;
          d.writeUInt16LE(d.readUInt16LE(1) & ~W.DONE_MORE, 1);
          out.push(...last);
        } else out.push(W.done(W.TOKEN_DONE, W.DONE_FINAL));
        send(socket, W.TYPE['TABULAR_RESULT']!, Buffer.concat(out));
      };
      let statements: Statement[];
      try {
        statements = parseBatch(text, params);
      } catch (e) {
        if (!(e instanceof SyntaxError102)) throw e;
        handle.statements.push({ spid, kind: 'unparsed', tag: 'unparsed', text, params });
        handle.onStatement?.('unparsed', spid, text);
        // A compile error: nothing in the batch runs. Severity 15 (102, 156, 105...).
        out.push(W.messageToken(msg(new SqlError(e.number, e.message, 15), e.line), serverName));
        finish([W.done(inner, W.DONE_ERROR)]);
        return;
      }
      let cancelled = false;
      let wake: (() => void) | undefined;
      entry.cancel = () => {
        cancelled = true;
        wake?.();
      };
      const sleep = (ms: number) =>
        new Promise<void>((r) => {
          const t = ms === Infinity ? undefined : setTimeout(r, ms);
          wake = () => {
            if (t) clearTimeout(t);
            r();
          };
        });
      const pending: Buffer[] = [];
      try {
        for (const st of statements) {
          handle.statements.push({ spid, kind: st.kind, tag: st.kind, text: st.text, params });
          handle.onStatement?.(st.kind, spid, st.text);
          const f = handle.faults;
          if (f.killOn?.some((x) => matches(x, st))) {
            // A reset (RST): tedious handles it cleanly, where a FIN mid-request trips its state machine.
            socket.resetAndDestroy();
            return;
          }
          if (f.noAnswer?.some((x) => matches(x, st))) {
            // Swallowed: no answer until ATTENTION (then DONE_ATTN) or disconnect.
            await sleep(Infinity);
            if (cancelled) acknowledgeAttention([]);
            return;
          }
          const delay = f.delay?.find((d) => matches(d.on, st));
          if (delay) await sleep(delay.ms);
          if (f.hangOn?.some((x) => matches(x, st))) await sleep(Infinity);
          if (cancelled) break;
          out.push(...pending.splice(0));
          const line = st.line;
          try {
            let result;
            if (st.kind === 'set-offline' || st.kind === 'set-online') {
              // Without a termination option, SET OFFLINE waits for the other users of the database.
              while (model.setState(session, st) === 'wait') {
                await sleep(25);
                if (cancelled || socket.destroyed) break;
              }
              result = { sets: [], infos: [] };
            } else result = model.execute(session, st, params);
            if (cancelled) break;
            for (const ec of result.envChanges ?? []) out.push(W.envChange(ec.type, ec.newValue, ec.oldValue));
            for (const i of result.infos) out.push(W.messageToken(msg(i, line, true), serverName, true));
            if (result.sets.length) {
              for (const rs of result.sets) {
                out.push(W.colMetadata(rs.columns));
                for (const r of rs.rows) out.push(W.row(rs.columns, r));
                pending.push(W.done(inner, W.DONE_COUNT | W.DONE_MORE | (session.tranCount ? W.DONE_INXACT : 0), rs.rows.length));
              }
            } else pending.push(W.done(inner, W.DONE_MORE | (session.tranCount ? W.DONE_INXACT : 0), 0, 0xc3));
          } catch (e) {
            if (!(e instanceof StatementFailure)) throw e;
            for (const i of e.infos) out.push(W.messageToken(msg(i, line, true), serverName, true));
            for (const err of e.errors) out.push(W.messageToken(msg(err, line), serverName));
            if (e.disconnect) {
              // Severity 20 and above end the connection ("Database Engine error severities"): the
              // errors are sent, the request ends with DONE_ERROR, and the server closes the socket.
              send(socket, W.TYPE['TABULAR_RESULT']!, Buffer.concat([...out, W.done(inner, W.DONE_ERROR)]));
              socket.end(() => socket.destroy());
              return;
            }
            pending.push(W.done(inner, W.DONE_ERROR | W.DONE_MORE));
            // Severity 19+ and compile-time errors found at run time (207, 208, 137...) end the batch.
            if (e.abortBatch) break;
          }
        }
      } finally {
        entry.cancel = undefined;
      }
      if (socket.destroyed) return;
      if (cancelled) return acknowledgeAttention(out);
      finish(pending);
    }
  }

  const server =
    options.tls === 'strict'
      ? tls.createServer({ key: options.tlsCert!.key, cert: options.tlsCert!.cert, ALPNProtocols: ['tds/8.0'] }, (s) => onConnection(s, true))
      : net.createServer((s) => onConnection(s, false));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  handle.port = (server.address() as net.AddressInfo).port;
  model.port = handle.port;
  return handle;
}
