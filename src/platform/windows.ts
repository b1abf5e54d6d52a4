import { VssError } from '../vss/errors.js';
import type { Guid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import type { WriterStatus } from '../vss/vssadmin.js';
import type { WriterMetadata } from '../vss/writer-metadata.js';
import type { Platform, PrivilegeCheck, SqlWriterCheck } from './platform.js';

/**
 * The Windows backend. Registration and requester queries go through the native addon's COM code;
 * until that code is built into the addon, every call says so instead of pretending.
 */
export class WindowsPlatform implements Platform {
  readonly name = 'windows' as const;

  constructor(readonly stateDir: string) {}

  private notBuilt(op: string): never {
    throw new VssError(HR.E_NOTIMPL, {
      message: `${op}: the Windows VSS backend is not built into this version of mbam-vss`,
      category: 'precondition',
      hint: 'Use a release of mbam-vss with the Windows backend, or register the writer with the MBAM installer.',
    });
  }

  async registerWriter(_md: WriterMetadata | string): Promise<void> {
    this.notBuilt('registerWriter');
  }
  async unregisterWriter(_writerId: Guid): Promise<void> {
    this.notBuilt('unregisterWriter');
  }
  async listWriters(): Promise<WriterStatus[]> {
    return this.notBuilt('listWriters');
  }
  async registryProblems() {
    return [];
  }
  async getWriterMetadata(_idOrName: string): Promise<WriterMetadata> {
    return this.notBuilt('getWriterMetadata');
  }
  async checkPrivileges(): Promise<PrivilegeCheck> {
    return this.notBuilt('checkPrivileges');
  }
  async checkSqlWriter(): Promise<SqlWriterCheck> {
    return this.notBuilt('checkSqlWriter');
  }
}
