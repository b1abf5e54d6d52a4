import { VssError } from '../vss/errors.js';
import { isGuid, parseGuid, type Guid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import type { WriterStatus } from '../vss/vssadmin.js';
import { assertExpressWriterMetadata } from '../vss/express-writer.js';
import { parseWriterMetadata, type WriterMetadata } from '../vss/writer-metadata.js';
import type { Platform, PlatformCapabilities, PrivilegeCheck, SqlWriterCheck } from './platform.js';
import { SYSTEM_STATE_DIR, withStateLock } from './state.js';
import { WriterRegistry, type RegistrationRecord } from './writer-registry.js';

/** Express writers run no code: VSS reports them Stable with no error, and so do we. */
function statusOf(r: RegistrationRecord): WriterStatus {
  const s: WriterStatus = { name: r.friendlyName, writerId: r.writerId, instanceId: r.instanceId, state: 'STABLE', lastError: 0 };
  if (r.instanceName !== undefined) s.instanceName = r.instanceName;
  return s;
}

export class PosixPlatform implements Platform {
  readonly name = 'posix' as const;
  readonly capabilities: PlatformCapabilities = { verbatimRegistration: true, hostedWriterService: false };
  readonly registry: WriterRegistry;

  constructor(readonly stateDir: string) {
    this.registry = new WriterRegistry(stateDir);
  }

  async registerWriter(metadata: WriterMetadata | string): Promise<void> {
    const md = typeof metadata === 'string' ? parseWriterMetadata(metadata) : metadata;
    assertExpressWriterMetadata(md);
    await withStateLock(this.stateDir, () => void this.registry.register(md));
  }

  async unregisterWriter(writerId: Guid): Promise<void> {
    await withStateLock(this.stateDir, () => this.registry.unregister(writerId));
  }

  async listWriters(): Promise<WriterStatus[]> {
    return this.registry.listRecords().registrations.map(statusOf);
  }

  async getWriterStatus(writerId: Guid): Promise<WriterStatus | undefined> {
    try {
      const r = this.registry.getRecord(writerId);
      return r && statusOf(r);
    } catch (e) {
      // An unreadable entry is a registry problem, not a listed writer.
      if (VssError.is(e, HR.VSS_E_CORRUPT_XML_DOCUMENT)) return undefined;
      throw e;
    }
  }

  async registryProblems() {
    return this.registry.listRecords().problems;
  }

  async getWriterMetadata(idOrName: string): Promise<WriterMetadata> {
    // A writer id names its registry entry directly; an instance id or a name is looked up in the
    // registry's index, and only the matching document is parsed.
    const direct = isGuid(idOrName) ? this.registry.get(idOrName) : undefined;
    if (direct) return direct.metadata;
    const writerId = this.registry.findWriterId(isGuid(idOrName) ? { instanceId: parseGuid(idOrName) } : { name: idOrName });
    const found = writerId && this.registry.get(writerId);
    if (!found) throw new VssError(HR.VSS_E_OBJECT_NOT_FOUND, { message: `no registered writer matches '${idOrName}' (state directory ${this.stateDir})` });
    return found.metadata;
  }

  async checkPrivileges(): Promise<PrivilegeCheck> {
    const root = typeof process.geteuid === 'function' && process.geteuid() === 0;
    if (root) return { ok: true, detail: 'running as root' };
    // The system-wide registry needs root; a private state directory (tests, demos, a per-user
    // setup) only needs to be the caller's own.
    if (this.stateDir !== SYSTEM_STATE_DIR) {
      return { ok: true, detail: `not root; using the caller's own state directory ${this.stateDir}` };
    }
    return { ok: false, detail: 'registering the MBAM writer system-wide needs root (run with sudo)' };
  }

  async checkSqlWriter(): Promise<SqlWriterCheck> {
    return { state: 'unknown', detail: 'no SQL Server VSS writer exists on this OS; SQL Server is coordinated over T-SQL instead' };
  }
}

