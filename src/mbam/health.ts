/**
 * MBAM's availability, capability by capability. MBAM keeps working when a part is down, but each
 * outage takes something away from users; every check says, in plain words, what that is.
 * Checks run in parallel, each under its own timeout, so the whole run is bounded.
 */
import { hostname } from 'node:os';
import type { Platform } from '../platform/platform.js';
import { SqlServerConnection, describeServer } from '../sql/connection.js';
import { hasCertificate } from '../sql/discovery.js';
import { quoteIdentifier } from '../sql/quote.js';
import { withDeadline } from '../util/deadline.js';
import { throwIfAborted, VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { lastSuccessfulBackup } from './history.js';
import { findServer, RECOVERY_CERTIFICATE, type DatabaseRole, type ServerTopology, type Topology } from './topology.js';
import { MBAM_WRITER_ID } from './writer-definition.js';
import { SQL_WRITER_NAME } from '../vss/known-writers.js';

export type HealthStatus = 'pass' | 'warn' | 'fail' | 'skipped';

export interface HealthResult {
  check: string;
  status: HealthStatus;
  /** What users lose while this check fails. */
  impact: string;
  detail: string;
  ms: number;
}

export interface HealthOptions {
  topology: Topology;
  platform: Platform;
  stateDir: string;
  /** Per-check timeout (the whole run is bounded by it, since checks run in parallel). */
  timeoutMs?: number;
  /** The server this machine is, for the writer checks (default: the one named like this host). */
  server?: string;
  now?: Date;
  /**
   * Stops the run: open SQL sessions are closed and HTTP requests cancelled at once, and runHealth
   * rejects with a VssError of category 'aborted' once every check has let go.
   */
  signal?: AbortSignal;
}

export const IMPACT = {
  'recovery-db': 'recovery-password escrow: clients will not start encryption',
  'compliance-db': 'compliance status upload: compliance data goes stale',
  'helpdesk-keys': 'help desk key access: users cannot get a recovery key',
  'report-server': 'compliance and audit reports are unavailable',
  'web-services': 'clients cannot escrow keys or upload status through the web tier',
  'vss-writers': 'backups of MBAM through VSS',
  'recovery-certificate': 'restoring the Recovery database elsewhere',
  'last-backup': 'a recent restore point',
} as const;

type CheckName = keyof typeof IMPACT;
type Outcome = { status: HealthStatus; detail: string };

function serverFor(t: Topology, role: DatabaseRole): ServerTopology | undefined {
  return t.servers.find((s) => s.databases[role]);
}

async function withConnection<T>(server: ServerTopology, timeoutMs: number, signal: AbortSignal | undefined, fn: (c: SqlServerConnection) => Promise<T>): Promise<T> {
  const c = await SqlServerConnection.open(server, { connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs, ...(signal ? { signal } : {}) });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

async function databaseCheck(t: Topology, role: DatabaseRole, timeoutMs: number, writable: boolean, signal?: AbortSignal): Promise<Outcome> {
  const server = serverFor(t, role);
  if (!server) return { status: 'skipped', detail: `no server in the topology hosts the ${role} database` };
  const db = server.databases[role]!.name;
  return withConnection(server, timeoutMs, signal, async (c) => {
    const rows = await c.query<{ state: string | null; updateability: string | null }>(
      'health-database',
      "SELECT CAST(DATABASEPROPERTYEX(@db, 'Status') AS nvarchar(60)) AS state, CAST(DATABASEPROPERTYEX(@db, 'Updateability') AS nvarchar(60)) AS updateability",
      { db },
    );
    const r = rows[0];
    if (!r?.state) return { status: 'fail', detail: `database '${db}' does not exist on ${describeServer(server)}` };
    if (r.state !== 'ONLINE') return { status: 'fail', detail: `'${db}' is ${r.state}` };
    if (writable && r.updateability !== 'READ_WRITE') return { status: 'fail', detail: `'${db}' is ${r.updateability}` };
    return { status: 'pass', detail: `'${db}' on ${describeServer(server)} is ONLINE${writable ? ', READ_WRITE' : ''}` };
  });
}

async function helpdeskCheck(t: Topology, timeoutMs: number, signal?: AbortSignal): Promise<Outcome> {
  const server = serverFor(t, 'recovery');
  if (!server) return { status: 'skipped', detail: 'no server hosts the Recovery database' };
  const db = server.databases.recovery!.name;
  return withConnection(server, timeoutMs, signal, async (c) => {
    // The three-part name is built here (quoted by the one helper) rather than with QUOTENAME(@db) + …
    const rows = await c.query<{ canRead: number | null }>('health-keys', "SELECT HAS_PERMS_BY_NAME(@object, 'OBJECT', 'SELECT') AS canRead", { object: `${quoteIdentifier(db, 'database')}.RecoveryAndHardwareCore.Keys` });
    const can = rows[0]?.canRead;
    if (can === null || can === undefined) return { status: 'fail', detail: `RecoveryAndHardwareCore.Keys is missing from '${db}'` };
    return can === 1 ? { status: 'pass', detail: `recovery keys in '${db}' are readable` } : { status: 'fail', detail: `the login cannot read RecoveryAndHardwareCore.Keys in '${db}'` };
  });
}

async function certificateCheck(t: Topology, timeoutMs: number, signal?: AbortSignal): Promise<Outcome> {
  const server = serverFor(t, 'recovery');
  if (!server) return { status: 'skipped', detail: 'no server hosts the Recovery database' };
  return withConnection(server, timeoutMs, signal, async (c) => {
    return (await hasCertificate(c, RECOVERY_CERTIFICATE)) ? { status: 'pass', detail: `'${RECOVERY_CERTIFICATE}' is in master on ${describeServer(server)}` } : { status: 'fail', detail: `'${RECOVERY_CERTIFICATE}' is missing from master on ${describeServer(server)}` };
  });
}

/** Any HTTP answer below 500 means the service is up (Reporting Services answers 401 to strangers). */
async function urlCheck(urls: string[], timeoutMs: number, what: string, signal?: AbortSignal): Promise<Outcome> {
  if (urls.length === 0) return { status: 'skipped', detail: `no ${what} URL in the topology` };
  const results = await Promise.all(
    urls.map(async (u) => {
      try {
        const r = await fetch(u, { method: 'GET', redirect: 'manual', signal: signal ? AbortSignal.any([AbortSignal.timeout(timeoutMs), signal]) : AbortSignal.timeout(timeoutMs) });
        await r.body?.cancel().catch(() => {});
        return { u, ok: r.status < 500, why: `HTTP ${r.status}` };
      } catch (e) {
        const err = e as Error & { cause?: { code?: string } };
        return { u, ok: false, why: err.name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (err.cause?.code ?? err.message) };
      }
    }),
  );
  const down = results.filter((r) => !r.ok);
  if (down.length) return { status: 'fail', detail: down.map((d) => `${d.u}: ${d.why}`).join('; ') };
  return { status: 'pass', detail: results.map((r) => `${r.u}: ${r.why}`).join('; ') };
}

async function writerCheck(o: HealthOptions): Promise<Outcome> {
  const local = findServer(o.topology, o.server ?? hostname());
  if (!local) return { status: 'skipped', detail: `this host (${o.server ?? hostname()}) is not a server of the topology; run health there to check its writers` };
  const writers = await o.platform.listWriters();
  const mbam = writers.find((w) => w.writerId === MBAM_WRITER_ID);
  if (!mbam) return { status: 'fail', detail: `the MBAM writer is not registered on ${local.name} (run mbam-vss install)` };
  if (mbam.state !== 'STABLE') return { status: 'fail', detail: `the MBAM writer on ${local.name} is ${mbam.state}` };
  const sw = await o.platform.checkSqlWriter();
  if (sw.state === 'unknown') return { status: 'pass', detail: `the MBAM writer is registered and Stable on ${local.name}; ${SQL_WRITER_NAME}: ${sw.detail}` };
  if (sw.state !== 'stable') return { status: 'fail', detail: `${SQL_WRITER_NAME} on ${local.name}: ${sw.detail}` };
  return { status: 'pass', detail: `the MBAM writer and ${SQL_WRITER_NAME} are Stable on ${local.name}` };
}

function lastBackupCheck(o: HealthOptions): Outcome {
  const last = lastSuccessfulBackup(o.stateDir);
  if (!last) return { status: 'warn', detail: `no successful backup is recorded in ${o.stateDir}` };
  const ageH = ((o.now ?? new Date()).getTime() - new Date(last.at).getTime()) / 3_600_000;
  const detail = `last successful backup ${last.at} (${ageH.toFixed(1)} h ago, by ${last.by})`;
  return ageH > o.topology.backupMaxAgeHours ? { status: 'warn', detail: `${detail}, older than ${o.topology.backupMaxAgeHours} h` } : { status: 'pass', detail };
}

export async function runHealth(o: HealthOptions): Promise<HealthResult[]> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const t = o.topology;
  const signal = o.signal;
  throwIfAborted(signal, 'the health check');
  const checks: [CheckName, () => Promise<Outcome> | Outcome][] = [
    ['recovery-db', () => databaseCheck(t, 'recovery', timeoutMs, true, signal)],
    ['compliance-db', () => databaseCheck(t, 'complianceAudit', timeoutMs, false, signal)],
    ['helpdesk-keys', () => helpdeskCheck(t, timeoutMs, signal)],
    ['report-server', () => urlCheck(t.reportServerUrl ? [t.reportServerUrl] : [], timeoutMs, 'report server', signal)],
    ['web-services', () => urlCheck(t.webServiceUrls, timeoutMs, 'web service', signal)],
    ['vss-writers', () => writerCheck(o)],
    ['recovery-certificate', () => certificateCheck(t, timeoutMs, signal)],
    ['last-backup', () => lastBackupCheck(o)],
  ];
  const results = await Promise.all(
    checks.map(async ([check, fn]) => {
      const t0 = Date.now();
      let outcome: Outcome;
      try {
        // A little beyond the check's own timeouts, so its own, more precise error wins.
        outcome = await withDeadline(Promise.resolve().then(fn), timeoutMs + 2_000, () => ({ status: 'fail', detail: `no answer within ${timeoutMs} ms` }));
      } catch (e) {
        outcome = { status: 'fail', detail: e instanceof VssError ? e.message : String((e as Error).message ?? e) };
      }
      return { check, status: outcome.status, impact: IMPACT[check], detail: outcome.detail, ms: Date.now() - t0 };
    }),
  );
  // An aborted run has no results worth reporting: each check failed because it was stopped.
  throwIfAborted(signal, 'the health check');
  return results;
}

/** 0 all pass, 1 only warnings, 3 any capability down. */
export function healthExitCode(results: HealthResult[]): number {
  if (results.some((r) => r.status === 'fail')) return 3;
  if (results.some((r) => r.status === 'warn')) return 1;
  return 0;
}
