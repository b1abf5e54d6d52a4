import { VssError } from '../vss/errors.js';
import { isGuid, parseGuid, type Guid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import type { WriterStatus } from '../vss/vssadmin.js';
import { assertExpressWriterMetadata } from '../vss/express-writer.js';
import { parseWriterMetadata, type WriterMetadata } from '../vss/writer-metadata.js';
import type { Platform, PrivilegeCheck, SqlWriterCheck } from './platform.js';
import { SYSTEM_STATE_DIR, withStateLock } from './state.js';
import { WriterRegistry, type Registration } from './writer-registry.js';

export class PosixPlatform implements Platform {
  readonly name = 'posix' as const;
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
    // Express writers run no code: VSS reports them Stable with no error, and so do we.
    return this.registry.list().registrations.map((r) => statusOf(r));
  }

  async registryProblems() {
    return this.registry.list().problems;
  }

  async getWriterMetadata(idOrName: string): Promise<WriterMetadata> {
    const { registrations } = this.registry.list();
    const found = isGuid(idOrName)
      ? registrations.find((r) => r.writerId === parseGuid(idOrName) || r.metadata.identity.instanceId === parseGuid(idOrName))
      : registrations.find((r) => r.metadata.identity.friendlyName.toLowerCase() === idOrName.toLowerCase());
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

function statusOf(r: Registration): WriterStatus {
  const s: WriterStatus = {
    name: r.metadata.identity.friendlyName,
    writerId: r.writerId,
    instanceId: r.metadata.identity.instanceId,
    state: 'STABLE',
    lastError: 0,
  };
  if (r.metadata.identity.instanceName !== undefined) s.instanceName = r.metadata.identity.instanceName;
  return s;
}
