/**
 * The in-process file-group writer the requester tests back up: every file below `dir`, with
 * whatever handlers a test adds.
 */
import type { InProcessWriter } from '../../src/vss/writer-events.js';
import { fileList } from '../../src/vss/writer-metadata.js';

export function dataWriter(dir: string, hooks: Partial<InProcessWriter> = {}): InProcessWriter {
  return {
    metadata: {
      version: '1.2',
      identity: { writerId: '6f0f7c8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f', instanceId: '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', friendlyName: 'Test Data Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
      components: [{ type: 'FILEGROUP', componentName: 'data', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(dir, '*', true)], dependencies: [] }],
      excludeFiles: [],
      excludeFilesFromSnapshot: [],
    },
    ...hooks,
  };
}
