/**
 * The Windows backend: express-writer registration and requester queries through the native
 * addon's COM code (every call on a worker thread), the SQL Server writer service through the
 * Service Control Manager, and the caller's privileges from its token.
 */
import { ComponentType, RestoreMethod, UsageType, WriterRestore, WriterState } from '../vss/enums.js';
import { VssError } from '../vss/errors.js';
import { isGuid, parseGuid, type Guid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import { assertExpressWriterMetadata, expressWriterSpec, type ExpressWriterSpec } from '../vss/express-writer.js';
import type { WriterStatus } from '../vss/vssadmin.js';
import { parseWriterMetadata, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import { SQL_WRITER_ID, SQL_WRITER_SERVICE } from '../vss/known-writers.js';
import { nativeError, windowsAddon, type GatheredWriter, type WindowsAddon } from './native.js';
import type { Platform, PlatformCapabilities, PrivilegeCheck, SqlWriterCheck } from './platform.js';

export type { GatheredWriter, WindowsAddon } from './native.js';

/** The instance name from a gathered writer's metadata, read as XML (entities decoded). */
function instanceNameOf(w: GatheredWriter): string | undefined {
  if (!w.metadataXml) return undefined;
  try {
    return parseWriterMetadata(w.metadataXml, `metadata of ${w.name}`).identity.instanceName;
  } catch {
    // One writer's odd document must not stop the listing; getWriterMetadata reports it.
    return undefined;
  }
}

export class WindowsPlatform implements Platform {
  readonly name = 'windows' as const;
  readonly capabilities: PlatformCapabilities = { verbatimRegistration: false, hostedWriterService: true };
  /** How long one asynchronous VSS step of a writer listing may take before it is cancelled. */
  gatherTimeoutMs = 5 * 60_000;

  constructor(
    readonly stateDir: string,
    private readonly addon: Pick<WindowsAddon, 'registerExpressWriter' | 'unregisterExpressWriter' | 'gatherWriters' | 'serviceState' | 'privileges'> = windowsAddon(),
  ) {}

  async registerWriter(metadata: WriterMetadata | string): Promise<void> {
    const md = typeof metadata === 'string' ? parseWriterMetadata(metadata) : metadata;
    assertExpressWriterMetadata(md);
    try {
      await this.addon.registerExpressWriter(expressWriterSpec(md));
    } catch (e) {
      throw nativeError(e, `register ${md.identity.friendlyName}`);
    }
  }

  async unregisterWriter(writerId: Guid): Promise<void> {
    try {
      await this.addon.unregisterExpressWriter(parseGuid(writerId));
    } catch (e) {
      throw nativeError(e, `unregister writer ${parseGuid(writerId)}`);
    }
  }

  private async gather(): Promise<GatheredWriter[]> {
    try {
      return await this.addon.gatherWriters(this.gatherTimeoutMs);
    } catch (e) {
      throw nativeError(e, 'gather writers from VSS');
    }
  }

  async listWriters(): Promise<WriterStatus[]> {
    return (await this.gather()).map((w) => {
      const s: WriterStatus = {
        name: w.name,
        writerId: parseGuid(w.writerId),
        instanceId: parseGuid(w.instanceId),
        state: (w.state === null ? undefined : WriterState.fromValue(w.state)) ?? 'UNKNOWN',
        lastError: w.failure >>> 0,
      };
      const instanceName = instanceNameOf(w);
      if (instanceName) s.instanceName = instanceName;
      return s;
    });
  }

  async getWriterStatus(writerId: Guid): Promise<WriterStatus | undefined> {
    const id = parseGuid(writerId);
    return (await this.listWriters()).find((w) => w.writerId === id);
  }

  async registryProblems() {
    return [];
  }

  async getWriterMetadata(idOrName: string): Promise<WriterMetadata> {
    const all = await this.gather();
    const g = isGuid(idOrName) ? parseGuid(idOrName) : undefined;
    const found = all.find((w) => (g ? parseGuid(w.writerId) === g || parseGuid(w.instanceId) === g : w.name.toLowerCase() === idOrName.toLowerCase()));
    if (!found?.metadataXml) throw new VssError(HR.VSS_E_OBJECT_NOT_FOUND, { message: `VSS lists no writer matching '${idOrName}'` });
    return parseWriterMetadata(found.metadataXml, `metadata of ${found.name}`);
  }

  async checkPrivileges(): Promise<PrivilegeCheck> {
    const p = this.addon.privileges();
    if (!p.elevated) return { ok: false, detail: 'not elevated: run from an elevated prompt ("Run as administrator")' };
    if (!p.administrators && !p.backupOperators) return { ok: false, detail: 'the account is in neither Administrators nor Backup Operators' };
    return { ok: true, detail: `elevated, member of ${[p.administrators && 'Administrators', p.backupOperators && 'Backup Operators'].filter(Boolean).join(' and ')}` };
  }

  async checkSqlWriter(): Promise<SqlWriterCheck> {
    let svc: { exists: boolean; state: string };
    try {
      svc = this.addon.serviceState(SQL_WRITER_SERVICE);
    } catch (e) {
      throw nativeError(e, `query the ${SQL_WRITER_SERVICE} service`);
    }
    if (!svc.exists) return { state: 'absent', detail: `the SQL Server VSS Writer service (${SQL_WRITER_SERVICE}) is not installed; add it with SQL Server setup` };
    if (svc.state !== 'running') return { state: 'stopped', detail: `the ${SQL_WRITER_SERVICE} service is ${svc.state}; start it (Start-Service ${SQL_WRITER_SERVICE}) and set it to start automatically` };
    const sql = (await this.listWriters()).find((w) => w.writerId === SQL_WRITER_ID);
    if (!sql) return { state: 'absent', detail: `the ${SQL_WRITER_SERVICE} service runs but VSS lists no SqlServerWriter; restart the service and check the Application event log` };
    if (sql.state !== 'STABLE') return { state: 'not-stable', detail: `SqlServerWriter is ${WriterState.display(sql.state)} [${WriterState.value(sql.state)}]; wait for running backups to finish or restart ${SQL_WRITER_SERVICE}` };
    return { state: 'stable', detail: 'SqlServerWriter is Stable' };
  }
}
