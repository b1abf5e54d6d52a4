import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { healthExitCode, IMPACT, runHealth } from '../../src/mbam/health.js';
import { recordBackup } from '../../src/mbam/history.js';
import { parseTopology } from '../../src/mbam/topology.js';
import { buildMbamWriterMetadata } from '../../src/mbam/writer-definition.js';
import { PosixPlatform } from '../../src/platform/posix.js';
import { runCliAsync } from '../support/cli.js';
import { mbamDatabases, PASSWORD_ENV, SQL_PASSWORD } from '../support/sql.js';
import { tempDir } from '../support/state.js';
import { startTdsServer, type TdsServerHandle, type TdsServerOptions } from '../support/tds-server.js';

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.map((c) => c().catch(() => {})));
  closers = [];
});

async function http(status = 200): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.statusCode = status;
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ReportServer`, server };
}

interface Env {
  tds: TdsServerHandle;
  topology: ReturnType<typeof parseTopology>;
  topologyFile: string;
  stateDir: string;
  platform: PosixPlatform;
}

async function environment(tdsOpts: TdsServerOptions = {}, o: { reportStatus?: number; register?: boolean; backupHoursAgo?: number | null } = {}): Promise<Env> {
  const tds = await startTdsServer({ databases: mbamDatabases(), certificates: ['MBAM Recovery Encryption Certificate'], ...tdsOpts });
  closers.push(() => tds.close());
  const report = await http(o.reportStatus ?? 401);
  const web = await http(200);
  const json = {
    servers: [{ name: 'MBAM-DB1', sql: { host: '127.0.0.1', port: tds.port, encrypt: false, auth: { type: 'sql', user: 'mbam_vss', password: { env: PASSWORD_ENV } } }, databases: { recovery: true, complianceAudit: true } }],
    reportServerUrl: report.url,
    webServiceUrls: [web.url.replace('ReportServer', 'MBAMRecoveryAndHardwareService/CoreService.svc')],
    backupMaxAgeHours: 24,
  };
  const dir = tempDir();
  const topologyFile = join(dir, 'topology.json');
  writeFileSync(topologyFile, JSON.stringify(json));
  const stateDir = join(dir, 'state');
  const topology = parseTopology(json);
  const platform = new PosixPlatform(stateDir);
  if (o.register !== false) await platform.registerWriter(buildMbamWriterMetadata(topology, 'MBAM-DB1'));
  if (o.backupHoursAgo !== null) recordBackup(stateDir, { ok: true, by: 'requester', at: new Date(Date.now() - (o.backupHoursAgo ?? 1) * 3_600_000).toISOString() });
  return { tds, topology, topologyFile, stateDir, platform };
}

const KEYS = ['RecoveryAndHardwareCore.Keys'];
// Generous: the first check of a run also loads the SQL driver, on a shared machine.
const run = (e: Env, timeoutMs = 10_000) => runHealth({ topology: e.topology, platform: e.platform, stateDir: e.stateDir, server: 'MBAM-DB1', timeoutMs });
const byCheck = (r: Awaited<ReturnType<typeof runHealth>>) => Object.fromEntries(r.map((x) => [x.check, x]));

describe('mbam-vss health', () => {
  it('all up: every check passes, exit 0', async () => {
    const e = await environment();
    const r = await run(e);
    expect(r.map((x) => [x.check, x.status])).toEqual(Object.keys(IMPACT).map((k) => [k, 'pass']));
    expect(healthExitCode(r)).toBe(0);
  });

  it.each([
    ['recovery-db', { databases: [{ name: 'MBAM Recovery and Hardware', state: 'OFFLINE', tables: KEYS }, { name: 'MBAM Compliance Status' }] }, {}, /is OFFLINE/],
    ['recovery-db', { databases: [{ name: 'MBAM Recovery and Hardware', readOnly: true, tables: KEYS }, { name: 'MBAM Compliance Status' }] }, {}, /READ_ONLY/],
    ['compliance-db', { databases: [{ name: 'MBAM Recovery and Hardware', tables: KEYS }] }, {}, /does not exist/],
    // A login that is a user of the Recovery database without SELECT on the keys table (229 on a read).
    ['helpdesk-keys', { logins: { mbam_vss: { password: SQL_PASSWORD, serverPermissions: ['VIEW ANY DEFINITION'], databases: { 'MBAM Recovery and Hardware': {}, 'MBAM Compliance Status': {}, master: { certificates: { 'MBAM Recovery Encryption Certificate': ['VIEW DEFINITION'] } } } } } }, {}, /cannot read RecoveryAndHardwareCore\.Keys/],
    ['report-server', {}, { reportStatus: 503 }, /HTTP 503/],
    ['vss-writers', {}, { register: false }, /not registered on MBAM-DB1/],
    ['recovery-certificate', { certificates: [] }, {}, /missing from master/],
  ] as const)('%s down: that check fails with its impact, exit 3', async (check, tdsOpts, o, detail) => {
    const e = await environment(tdsOpts as TdsServerOptions, o);
    const r = byCheck(await run(e));
    expect(r[check]).toMatchObject({ status: 'fail', impact: IMPACT[check] });
    expect(r[check]!.detail).toMatch(detail);
    expect(Object.values(r).filter((x) => x.status === 'fail').map((x) => x.check)).toEqual([check]);
    expect(healthExitCode(Object.values(r))).toBe(3);
  });

  it('an old backup is only a warning: exit 1', async () => {
    const e = await environment({}, { backupHoursAgo: 48 });
    const r = await run(e);
    expect(byCheck(r)['last-backup']).toMatchObject({ status: 'warn' });
    expect(byCheck(r)['last-backup']!.detail).toMatch(/older than 24 h/);
    expect(healthExitCode(r)).toBe(1);
  });

  it('everything down at once: every capability fails, within the bound', async () => {
    const e = await environment({}, { register: false, backupHoursAgo: null });
    await Promise.all(closers.map((c) => c()));
    closers = [];
    const t0 = Date.now();
    const r = await run(e, 1000);
    expect(Date.now() - t0).toBeLessThan(1000 + 2500);
    const s = byCheck(r);
    for (const c of ['recovery-db', 'compliance-db', 'helpdesk-keys', 'report-server', 'web-services', 'vss-writers', 'recovery-certificate']) expect(s[c]!.status, c).toBe('fail');
    expect(s['last-backup']!.status).toBe('warn');
  });

  it('a server that hangs is bounded by the timeout', async () => {
    const e = await environment({ faults: { noAnswer: [/DATABASEPROPERTYEX|HAS_PERMS_BY_NAME|sys\.certificates/] } });
    const t0 = Date.now();
    const r = byCheck(await run(e, 500));
    expect(Date.now() - t0).toBeLessThan(500 + 2500);
    expect(r['recovery-db']!.status).toBe('fail');
  });

  it('the CLI: table, --json, exit codes, and no credential in the output', async () => {
    const e = await environment({ databases: [{ name: 'MBAM Recovery and Hardware', state: 'OFFLINE' }, { name: 'MBAM Compliance Status' }] });
    const args = ['health', '--topology', e.topologyFile, '--server', 'MBAM-DB1', '--state-dir', e.stateDir, '--timeout', '3000'];
    const text = await runCliAsync(args, { [PASSWORD_ENV]: SQL_PASSWORD });
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(/CHECK\s+STATUS\s+WHILE DOWN, USERS LOSE\s+DETAIL/);
    expect(text.stdout).toMatch(/recovery-db\s+FAIL\s+recovery-password escrow: clients will not start encryption/);
    expect(text.stdout).not.toContain('\x1b['); // no colour when not a TTY
    const json = await runCliAsync([...args, '--json'], { [PASSWORD_ENV]: SQL_PASSWORD });
    expect(json.json()).toMatchObject({ ok: false, exitCode: 3 });
    expect(json.stdout + json.stderr + text.stdout + text.stderr).not.toContain(SQL_PASSWORD);
    expect((await runCliAsync(['health', '--topology', e.topologyFile, '--timeout', 'soon'])).code).toBe(2);
  });
});

describe('health, aborted', () => {
  it('stops at once: SQL sessions closed, HTTP requests cancelled, a VssError of category aborted', async () => {
    // Every SELECT hangs on the server (until the client gives up or is cancelled), and the report
    // server never answers: without the abort the run would last its 30 s timeout.
    const e = await environment({ faults: { hangOn: ['select'] } });
    const hanging = createServer(() => {});
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => { hanging.closeAllConnections(); hanging.close(() => r()); }));
    const topology = { ...e.topology, reportServerUrl: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/ReportServer` };
    const ctl = new AbortController();
    const run = runHealth({ topology, platform: e.platform, stateDir: e.stateDir, timeoutMs: 30_000, signal: ctl.signal });
    // Abort once the SQL checks are waiting on the server.
    for (const until = Date.now() + 20_000; e.tds.sessions().filter((s) => s.open).length < 3 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    expect(e.tds.sessions().filter((s) => s.open).length).toBeGreaterThanOrEqual(3);
    // The server's session objects (a later login may reuse a closed session's id).
    const openAtAbort = [...e.tds.state.model.sessions.values()].filter((s) => s.open);
    const t0 = Date.now();
    ctl.abort(new Error('operator stopped it'));
    const err = await run.catch((x) => x);
    expect(err).toMatchObject({ category: 'aborted', name: 'VssError' });
    expect(err.message).toMatch(/operator stopped it/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // No I/O continues: every session the checks had open when they were stopped is closed.
    // (Known gap, docs in the closing note: now and then the driver's pool completes one more login
    // after the abort and keeps that idle session; src/sql/connection.ts.)
    const stillOpen = () => openAtAbort.filter((s) => s.open).map((s) => s.spid);
    for (const until = Date.now() + 5_000; stillOpen().length && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    expect(stillOpen()).toEqual([]);
  }, 60_000);
});
