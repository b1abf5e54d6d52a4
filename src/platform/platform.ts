import type { Guid } from '../vss/guid.js';
import type { WriterStatus } from '../vss/vssadmin.js';
import type { WriterMetadata } from '../vss/writer-metadata.js';
import type { RegistryProblem } from './writer-registry.js';

/** What a platform can say about the SQL Server VSS writer on this machine. */
export type SqlWriterCheck =
  | { state: 'stable'; detail: string }
  | { state: 'absent' | 'not-stable' | 'stopped'; detail: string }
  /** The platform has no SQL Server writer to ask (POSIX): the check is not applicable. */
  | { state: 'unknown'; detail: string };

export interface PrivilegeCheck {
  ok: boolean;
  detail: string;
}

/** What a backend does differently, for the steps that must differ (rather than asking its name). */
export interface PlatformCapabilities {
  /**
   * The registry keeps a registration exactly as given: its instance id and its whole document
   * (POSIX). False where VSS assigns an express writer its instance id and writes its own XML
   * (Windows), so only the writer id, name, usage and component keys can be compared.
   */
  readonly verbatimRegistration: boolean;
  /** A hosted-writer service can be installed for the VSS service to call (Windows). */
  readonly hostedWriterService: boolean;
}

/**
 * One interface, two backends: the Windows backend talks to VSS itself; the POSIX backend keeps
 * its own writer registry and runs the requester in-process.
 */
export interface Platform {
  readonly name: 'posix' | 'windows';
  readonly capabilities: PlatformCapabilities;
  /** Registers an express writer from its metadata (the model, or a WMD XML document). */
  registerWriter(metadata: WriterMetadata | string): Promise<void>;
  /** Unregisters by writer id; VSS_E_OBJECT_NOT_FOUND when absent. */
  unregisterWriter(writerId: Guid): Promise<void>;
  listWriters(): Promise<WriterStatus[]>;
  /** One writer's status by writer id, as listWriters would list it; undefined when it would not. */
  getWriterStatus(writerId: Guid): Promise<WriterStatus | undefined>;
  /** Registry entries that could not be read, by name (POSIX); always empty on Windows. */
  registryProblems(): Promise<RegistryProblem[]>;
  /** The metadata of a writer by writer id, instance id or friendly name. */
  getWriterMetadata(idOrName: string): Promise<WriterMetadata>;
  checkPrivileges(): Promise<PrivilegeCheck>;
  checkSqlWriter(): Promise<SqlWriterCheck>;
}
