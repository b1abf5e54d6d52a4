/**
 * install, uninstall and register-writer as transactions over the Platform, and `status`.
 *
 * Input is validated before anything is touched (a bad topology creates no directory, no lock, no
 * journal). Every run first rolls back whatever transaction a killed predecessor left.
 */
import { hostname } from 'node:os';
import { VssError } from '../vss/errors.js';
import { parseGuid, type Guid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import { assertExpressWriterMetadata } from '../vss/express-writer.js';
import { componentKey, metadataFingerprint, type WriterMetadata } from '../vss/writer-metadata.js';
import { buildMbamWriterMetadata, hostedRoles, MBAM_WRITER_ID, resolveServer } from '../mbam/writer-definition.js';
import { findServer, loadTopology, sqlTargetOf, type ServerTopology, type Topology } from '../mbam/topology.js';
import type { Platform } from '../platform/platform.js';
import { withStateLock } from '../platform/state.js';
import {
  hostedWriterServiceArgs, hostedWriterServiceExists, installHostedWriterService, startHostedWriterService, uninstallHostedWriterService,
} from '../platform/windows-service.js';
import { sqlPreflight, type SqlCheckResult } from '../sql/preflight.js';
import {
  defineOperation, recoverUnfinished, runTransaction, type RollbackReport, type StepBody, type StepContext, type StepReport,
} from './transaction.js';

export interface PreflightCheck {
  check: string;
  ok: boolean;
  skipped?: boolean;
  detail: string;
}

export interface InstallPlan {
  topologyFile: string;
  server: string;
  roles: string[];
  metadata: WriterMetadata;
  steps: string[];
  skipSqlChecks: boolean;
}

export interface TransactionResult {
  op: string;
  outcome: 'committed' | 'no-change';
  recovered?: RollbackReport;
  preflight: PreflightCheck[];
  steps: StepReport[];
  writerId: Guid;
  instanceId?: Guid;
}

/**
 * What makes a registration the same as another. On POSIX, everything it carries. On Windows VSS
 * assigns an express writer its instance id and writes its own XML (dependencies included), so
 * there it is the writer id, name, usage and component keys.
 */
export function registrationKey(platform: Platform, md: WriterMetadata): string {
  if (platform.capabilities.verbatimRegistration) return metadataFingerprint(md);
  return JSON.stringify([md.identity.writerId, md.identity.friendlyName, md.identity.usage, md.components.map(componentKey).sort()]);
}

// ---- undo handlers: they use only what the journal recorded ------------------------------------

interface RegisterIntent {
  writerId: Guid;
  fingerprint: string;
  willRegister: boolean;
}

/** Removes the registration this transaction made, if (and only if) it is there. */
async function undoRegister(ctx: StepContext, intent: RegisterIntent): Promise<void> {
  if (!intent?.willRegister) return;
  const current = await currentRegistration(ctx.platform, intent.writerId);
  if (current && registrationKey(ctx.platform, current) === intent.fingerprint) await ctx.platform.unregisterWriter(intent.writerId);
}

interface UnregisterIntent {
  writerId: Guid;
  previous: WriterMetadata | null;
  willUnregister: boolean;
}

/** Puts the previous registration back if it is gone. */
async function undoUnregister(ctx: StepContext, intent: UnregisterIntent): Promise<void> {
  if (!intent?.willUnregister || !intent.previous) return;
  const current = await currentRegistration(ctx.platform, intent.writerId);
  if (current && registrationKey(ctx.platform, current) === registrationKey(ctx.platform, intent.previous)) return;
  if (current) await ctx.platform.unregisterWriter(intent.writerId);
  await ctx.platform.registerWriter(intent.previous);
}

interface ServiceIntent {
  willInstall: boolean;
  /** Express mode where a hosted-writer service can exist: one left by an earlier install is removed. */
  willRemove?: boolean;
  /** The service's command line, journaled so that a rollback can put a removed service back. */
  argv?: string[];
}

/**
 * Removes the hosted-writer service this transaction created (absent is fine); puts back one it
 * removed (express mode), from the journal alone, whether or not the removal was journaled as done.
 */
function undoService(_ctx: StepContext, intent: ServiceIntent): void {
  if (intent?.willInstall) uninstallHostedWriterService();
  if (intent?.willRemove && intent.argv && !hostedWriterServiceExists()) {
    installHostedWriterService(intent.argv);
    startHostedWriterService();
  }
}

/**
 * One MBAM writer per server: the express registration and the hosted writer expose the same writer
 * class and component names, which AddComponentDependency's uniqueness rule allows only once per
 * machine. Hosted when the topology asks for it and the platform can host a writer service
 * (Windows: POSIX has no VSS to serve), else express; an install switches in one transaction.
 */
function hostedMode(platform: Platform, topology: Topology): boolean {
  return topology.hostedWriter && platform.capabilities.hostedWriterService;
}

/** Hosted mode: the service is installed and must run. Express mode: a leftover service is removed. */
function hostedWriterServiceStep(o: { hosted: boolean; wanted: boolean; topologyFile: string; server: string; stateDir: string }): StepBody<ServiceIntent> {
  return {
    plan(ctx) {
      const can = ctx.platform.capabilities.hostedWriterService;
      const willRemove = can && !o.hosted && hostedWriterServiceExists();
      return { willInstall: o.hosted, ...(willRemove ? { willRemove, argv: hostedWriterServiceArgs(o) } : {}) };
    },
    run(ctx, intent) {
      if (intent.willRemove) {
        return uninstallHostedWriterService() ? { removed: true } : { notNeeded: true, reason: 'the topology does not ask for a hosted writer' };
      }
      if (!intent.willInstall) return { notNeeded: true, reason: o.wanted ? 'this platform has no VSS service to host a writer' : 'the topology does not ask for a hosted writer' };
      // Re-installing replaces a service left by an earlier install; the service must then run.
      installHostedWriterService(hostedWriterServiceArgs(o));
      startHostedWriterService();
      return { installed: true };
    },
  };
}

// ---- the operations: their steps in order and the undos; each run supplies the step bodies -----

export const INSTALL = defineOperation('install', [
  { name: 'preflight' },
  { name: 'save-previous' },
  { name: 'unregister-previous', undo: undoUnregister },
  { name: 'register', undo: undoRegister },
  { name: 'verify' },
  { name: 'hosted-writer-service', undo: undoService },
]);

export const UNINSTALL = defineOperation('uninstall', [
  { name: 'preflight' },
  { name: 'save-previous' },
  { name: 'unregister', undo: undoUnregister },
  { name: 'verify' },
  // Last, so that nothing after it can fail: a removed service is not put back by a rollback
  // (run install again to recreate it).
  { name: 'remove-service' },
]);

export const REGISTER_WRITER = defineOperation('register-writer', [
  { name: 'preflight' },
  { name: 'register', undo: undoRegister },
  { name: 'verify' },
]);

async function currentRegistration(platform: Platform, writerId: Guid): Promise<WriterMetadata | undefined> {
  try {
    return await platform.getWriterMetadata(writerId);
  } catch (e) {
    if (VssError.is(e, HR.VSS_E_OBJECT_NOT_FOUND)) return undefined;
    throw e;
  }
}

// ---- shared steps ------------------------------------------------------------------------------

async function privilegeCheck(platform: Platform): Promise<PreflightCheck> {
  const p = await platform.checkPrivileges();
  if (!p.ok) {
    throw new VssError(HR.E_ACCESSDENIED, { message: `preflight check 'privileges' failed: ${p.detail}`, category: 'precondition' });
  }
  return { check: 'privileges', ok: true, detail: p.detail };
}

function verifyStep(md: WriterMetadata): StepBody {
  return {
    async run(ctx) {
      const status = await ctx.platform.getWriterStatus(md.identity.writerId);
      if (!status) throw new VssError(HR.VSS_E_OBJECT_NOT_FOUND, { message: `verify: ${md.identity.friendlyName} is not listed after registration` });
      if (ctx.platform.capabilities.verbatimRegistration && status.instanceId !== md.identity.instanceId) throw new VssError(HR.VSS_E_UNEXPECTED, { message: `verify: listed with instance ${status.instanceId}, registered ${md.identity.instanceId}` });
      if (status.state !== 'STABLE') throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, { message: `verify: writer state is ${status.state}, not STABLE` });
      const listed = await ctx.platform.getWriterMetadata(md.identity.writerId);
      if (registrationKey(ctx.platform, listed) !== registrationKey(ctx.platform, md)) {
        throw new VssError(HR.VSS_E_UNEXPECTED, { message: 'verify: the registered metadata differs from what was registered' });
      }
      return { state: status.state };
    },
  };
}

function registerStep(md: WriterMetadata, mode: 'replace' | 'new'): StepBody<RegisterIntent> {
  return {
    async plan(ctx) {
      const fingerprint = registrationKey(ctx.platform, md);
      const current = await currentRegistration(ctx.platform, md.identity.writerId);
      const same = !!current && registrationKey(ctx.platform, current) === fingerprint;
      // In 'new' mode an existing registration makes run() fail, as VSS does; undo must then
      // leave that registration alone, so nothing is planned.
      return { writerId: md.identity.writerId, fingerprint, willRegister: mode === 'new' ? !current : !same };
    },
    async run(ctx, intent) {
      if (mode === 'replace' && !intent.willRegister) return { notNeeded: true, reason: 'already registered with this metadata' };
      await ctx.platform.registerWriter(md);
      return { registered: true };
    },
  };
}

/** A step that does nothing in this mode: the table keeps its shape, the body says why. */
function notNeeded<I>(reason: string): StepBody<I> {
  return { run: () => ({ notNeeded: true, reason }) };
}

function savePreviousStep(writerId: Guid, target: { md?: WriterMetadata | undefined }): StepBody {
  return {
    async run(ctx) {
      target.md = await currentRegistration(ctx.platform, writerId);
      return { hadPrevious: !!target.md };
    },
  };
}

function unregisterStep(writerId: Guid, previous: { md?: WriterMetadata | undefined }, keepIf?: WriterMetadata): StepBody<UnregisterIntent> {
  return {
    plan(ctx) {
      const willUnregister = !!previous.md && (keepIf === undefined || registrationKey(ctx.platform, previous.md) !== registrationKey(ctx.platform, keepIf));
      return { writerId, previous: previous.md ?? null, willUnregister };
    },
    async run(ctx, intent) {
      if (!intent.willUnregister) return { notNeeded: true };
      try {
        await ctx.platform.unregisterWriter(writerId);
      } catch (e) {
        // Already gone is what we wanted (uninstall treats VSS_E_OBJECT_NOT_FOUND as success).
        if (!VssError.is(e, HR.VSS_E_OBJECT_NOT_FOUND)) throw e;
      }
      return { unregistered: true };
    },
  };
}

// ---- install -----------------------------------------------------------------------------------

export interface InstallOptions {
  topologyFile: string;
  server?: string;
  skipSqlChecks?: boolean;
  platform: Platform;
  stateDir: string;
  log?: (line: string) => void;
  /** Replaces the SQL preflight (tests, and the SQL module once wired). */
  sqlChecks?: (server: ServerTopology) => Promise<SqlCheckResult[]>;
}

/** Everything install would do, computed without side effects (also the --dry-run output). */
export function planInstall(opts: Pick<InstallOptions, 'topologyFile' | 'server' | 'skipSqlChecks'>): InstallPlan & { topology: Topology } {
  const topology = loadTopology(opts.topologyFile);
  let serverName = opts.server;
  if (!serverName) {
    const here = hostname();
    const found = findServer(topology, here);
    if (!found) {
      throw new VssError(HR.E_INVALIDARG, {
        message: `this host (${here}) is not a server of the topology (${topology.servers.map((s) => s.name).join(', ')})`,
        category: 'precondition',
        hint: 'Run install on one of those servers, or name the server with --server NAME.',
      });
    }
    serverName = found.name;
  }
  const server = resolveServer(topology, serverName);
  const metadata = buildMbamWriterMetadata(topology, server.name);
  return {
    topology,
    topologyFile: opts.topologyFile,
    server: server.name,
    roles: hostedRoles(server),
    metadata,
    steps: [...INSTALL.stepNames],
    skipSqlChecks: !!opts.skipSqlChecks,
  };
}

export async function install(opts: InstallOptions): Promise<TransactionResult> {
  const plan = planInstall(opts);
  const server = resolveServer(plan.topology, plan.server);
  const md = plan.metadata;
  const log = opts.log ?? (() => {});
  const ctx: StepContext = { platform: opts.platform, stateDir: opts.stateDir, log };
  return withStateLock(opts.stateDir, async () => {
    const recovered = await recoverUnfinished(ctx);
    const preflight: PreflightCheck[] = [];
    const previous: { md?: WriterMetadata | undefined } = {};
    const hosted = hostedMode(opts.platform, plan.topology);
    const reports = await runTransaction(ctx, INSTALL, { topology: opts.topologyFile, server: server.name }, {
      preflight: {
        async run() {
          preflight.push(await privilegeCheck(opts.platform));
          preflight.push({ check: 'topology', ok: true, detail: `${opts.topologyFile} is valid` });
          preflight.push({ check: 'server', ok: true, detail: `${server.name} hosts ${plan.roles.join(', ')}` });
          const sw = await opts.platform.checkSqlWriter();
          if (sw.state === 'unknown') preflight.push({ check: 'sql-writer', ok: true, skipped: true, detail: sw.detail });
          else if (sw.state !== 'stable') throw new VssError(HR.VSS_E_WRITER_NOT_RESPONDING, { message: `preflight check 'sql-writer' failed: ${sw.detail}`, category: 'precondition' });
          else preflight.push({ check: 'sql-writer', ok: true, detail: sw.detail });
          if (opts.skipSqlChecks) {
            preflight.push({ check: 'sql', ok: true, skipped: true, detail: '--skip-sql-checks: SQL Server reachability, database state, login rights and the Recovery certificate were NOT checked' });
          } else {
            for (const r of await (opts.sqlChecks ? opts.sqlChecks(server) : sqlPreflight(sqlTargetOf(server)))) {
              if (!r.ok) throw new VssError(HR.VSS_E_WRITERERROR_NONRETRYABLE, { message: `preflight check '${r.check}' failed: ${r.detail}`, category: 'precondition' });
              preflight.push({ check: r.check, ok: true, detail: r.detail });
            }
          }
          return { checks: preflight.map((p) => p.check) };
        },
      },
      'save-previous': savePreviousStep(md.identity.writerId, previous),
      // Switching to the hosted writer removes the express registration; back to express, the
      // service step removes the service. The express steps do nothing in hosted mode.
      'unregister-previous': unregisterStep(md.identity.writerId, previous, hosted ? undefined : md),
      register: hosted ? notNeeded<RegisterIntent>('the hosted writer serves MBAM instead of an express registration') : registerStep(md, 'replace'),
      verify: hosted ? notNeeded('no express registration to verify (the hosted writer was started and runs)') : verifyStep(md),
      'hosted-writer-service': hostedWriterServiceStep({ hosted, wanted: plan.topology.hostedWriter, topologyFile: opts.topologyFile, server: server.name, stateDir: opts.stateDir }),
    });
    const unchanged = !hosted && !!previous.md && registrationKey(opts.platform, previous.md) === registrationKey(opts.platform, md);
    return { op: 'install', outcome: unchanged ? 'no-change' : 'committed', ...(recovered ? { recovered } : {}), preflight, steps: reports, writerId: md.identity.writerId, instanceId: md.identity.instanceId };
  });
}

// ---- uninstall ---------------------------------------------------------------------------------

export interface UninstallOptions {
  platform: Platform;
  stateDir: string;
  writerId?: Guid;
  log?: (line: string) => void;
}

export async function uninstall(opts: UninstallOptions): Promise<TransactionResult> {
  const writerId = parseGuid(opts.writerId ?? MBAM_WRITER_ID, 'writer id');
  const ctx: StepContext = { platform: opts.platform, stateDir: opts.stateDir, log: opts.log ?? (() => {}) };
  return withStateLock(opts.stateDir, async () => {
    const recovered = await recoverUnfinished(ctx);
    const preflight: PreflightCheck[] = [];
    const previous: { md?: WriterMetadata | undefined } = {};
    const reports = await runTransaction(ctx, UNINSTALL, { writerId }, {
      preflight: { run: async () => void preflight.push(await privilegeCheck(opts.platform)) },
      'save-previous': savePreviousStep(writerId, previous),
      unregister: unregisterStep(writerId, previous),
      verify: {
        async run(c: StepContext) {
          if (await c.platform.getWriterStatus(writerId)) {
            throw new VssError(HR.VSS_E_UNEXPECTED, { message: `verify: writer ${writerId} is still listed after unregistering` });
          }
        },
      },
      'remove-service': {
        run: (c: StepContext) => (c.platform.capabilities.hostedWriterService ? { removed: uninstallHostedWriterService() } : { notNeeded: true }),
      },
    });
    return { op: 'uninstall', outcome: previous.md ? 'committed' : 'no-change', ...(recovered ? { recovered } : {}), preflight, steps: reports, writerId };
  });
}

// ---- register-writer ---------------------------------------------------------------------------

export async function registerWriterTransaction(opts: { platform: Platform; stateDir: string; metadata: WriterMetadata; log?: (line: string) => void }): Promise<TransactionResult> {
  const md = opts.metadata;
  assertExpressWriterMetadata(md);
  const ctx: StepContext = { platform: opts.platform, stateDir: opts.stateDir, log: opts.log ?? (() => {}) };
  return withStateLock(opts.stateDir, async () => {
    const recovered = await recoverUnfinished(ctx);
    const preflight: PreflightCheck[] = [];
    const reports = await runTransaction(ctx, REGISTER_WRITER, { writerId: md.identity.writerId }, {
      preflight: { run: async () => void preflight.push(await privilegeCheck(opts.platform)) },
      register: registerStep(md, 'new'),
      verify: verifyStep(md),
    });
    return { op: 'register-writer', outcome: 'committed', ...(recovered ? { recovered } : {}), preflight, steps: reports, writerId: md.identity.writerId, instanceId: md.identity.instanceId };
  });
}

/** Rolls back an unfinished transaction on its own (unregister-writer and status --repair use it). */
export async function recover(opts: { platform: Platform; stateDir: string; log?: (line: string) => void }): Promise<RollbackReport | undefined> {
  const ctx: StepContext = { platform: opts.platform, stateDir: opts.stateDir, log: opts.log ?? (() => {}) };
  return withStateLock(opts.stateDir, () => recoverUnfinished(ctx));
}

// ---- status: in ./status.js, which `mbam-vss status` imports without the transactions' SQL checks

export { status, type StatusReport } from './status.js';

