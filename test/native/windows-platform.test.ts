import { describe, expect, it } from 'vitest';
import { loadTopology } from '../../src/mbam/topology.js';
import { buildMbamWriterMetadata, MBAM_WRITER_ID } from '../../src/mbam/writer-definition.js';
import { SQL_WRITER_ID } from '../../src/vss/known-writers.js';
import { WindowsPlatform, type GatheredWriter, type WindowsAddon } from '../../src/platform/windows.js';
import { expressWriterSpec } from '../../src/vss/express-writer.js';
import { HR } from '../../src/vss/hresult.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAPTURES, EXAMPLE_TOPOLOGY } from '../support/paths.js';

const md = buildMbamWriterMetadata(loadTopology(EXAMPLE_TOPOLOGY), 'MBAM-REC01');
const sqlXml = readFileSync(join(CAPTURES, 'with_sql', 'WM4.xml'), 'utf8');

function fakeAddon(over: Partial<WindowsAddon> & { writers?: GatheredWriter[] } = {}): WindowsAddon & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    napiVersion: 8,
    platform: 'win32',
    calls,
    capabilities: () => ({ privileged: true, fsFreeze: false, reflink: false, btrfsSnapshot: false, expressWriter: true, wine: false }),
    registerExpressWriter: async (spec) => {
      calls.push(['register', spec]);
      return '';
    },
    unregisterExpressWriter: async (id) => void calls.push(['unregister', id]),
    gatherWriters: async () => over.writers ?? [],
    serviceState: () => ({ exists: true, state: 'running' }),
    privileges: () => ({ elevated: true, administrators: true, backupOperators: false }),
    ...over,
  } as WindowsAddon & { calls: unknown[] };
}

describe('Windows platform (TypeScript side, fake addon)', () => {
  it('turns the model into the native spec with VSS enum values and the dependencies', () => {
    const spec = expressWriterSpec(md);
    expect(spec).toMatchObject({ writerId: MBAM_WRITER_ID, usage: 3, versionMajor: 1, restoreMethod: { method: 2, writerRestore: 1, rebootRequired: false } });
    expect(spec.components[0]).toMatchObject({ type: 2, logicalPath: 'Recovery', componentName: 'MBAM Recovery and Hardware', selectable: true });
    expect(spec.components[0]!.dependencies).toEqual([
      { writerId: SQL_WRITER_ID, logicalPath: 'MBAM-REC01', componentName: 'MBAM Recovery and Hardware' },
      { writerId: SQL_WRITER_ID, logicalPath: 'MBAM-REC01', componentName: 'master' },
    ]);
  });

  it('maps native HRESULT failures to named VssErrors', async () => {
    const err = Object.assign(new Error('IVssExpressWriter::Register failed'), { hresult: HR.VSS_E_OBJECT_ALREADY_EXISTS, operation: 'IVssExpressWriter::Register' });
    const p = new WindowsPlatform('C:\\ProgramData\\mbam-vss', fakeAddon({ registerExpressWriter: async () => Promise.reject(err) }));
    await expect(p.registerWriter(md)).rejects.toMatchObject({ hresultName: 'VSS_E_OBJECT_ALREADY_EXISTS', message: expect.stringMatching(/IVssExpressWriter::Register/) });
  });

  it('lists writers and reads their metadata from what VSS gathered', async () => {
    const writers: GatheredWriter[] = [{ name: 'SqlServerWriter', writerId: SQL_WRITER_ID, instanceId: 'dd8d6255-b3bb-4ec1-8249-73cd75c0ee21', state: 1, failure: 0, metadataXml: sqlXml }];
    const p = new WindowsPlatform('x', fakeAddon({ writers }));
    expect(await p.listWriters()).toEqual([{ name: 'SqlServerWriter', writerId: SQL_WRITER_ID, instanceId: 'dd8d6255-b3bb-4ec1-8249-73cd75c0ee21', instanceName: 'Microsoft SQL Server 2017:SQLWriter', state: 'STABLE', lastError: 0 }]);
    expect((await p.getWriterMetadata('SqlServerWriter')).components).toHaveLength(5);
    expect(await p.checkSqlWriter()).toMatchObject({ state: 'stable' });
    const named: GatheredWriter[] = [{ ...writers[0]!, metadataXml: sqlXml.replace('instanceName="Microsoft SQL Server 2017:SQLWriter"', 'instanceName="R&amp;D &quot;SQL&quot;"') }];
    expect((await new WindowsPlatform('x', fakeAddon({ writers: named })).listWriters())[0]!.instanceName).toBe('R&D "SQL"');
  });

  it('says what to do when the SQL writer is absent, stopped or failed', async () => {
    expect((await new WindowsPlatform('x', fakeAddon({ serviceState: () => ({ exists: false, state: 'absent' }) })).checkSqlWriter()).detail).toMatch(/not installed/);
    expect((await new WindowsPlatform('x', fakeAddon({ serviceState: () => ({ exists: true, state: 'stopped' }) })).checkSqlWriter())).toMatchObject({ state: 'stopped', detail: expect.stringMatching(/Start-Service SQLWriter/) });
    const failed: GatheredWriter[] = [{ name: 'SqlServerWriter', writerId: SQL_WRITER_ID, instanceId: 'dd8d6255-b3bb-4ec1-8249-73cd75c0ee21', state: 9, failure: HR.VSS_E_WRITERERROR_TIMEOUT, metadataXml: sqlXml }];
    expect(await new WindowsPlatform('x', fakeAddon({ writers: failed })).checkSqlWriter()).toMatchObject({ state: 'not-stable', detail: expect.stringMatching(/Failed \[9\]/) });
  });

  it('needs elevation and Administrators or Backup Operators', async () => {
    expect((await new WindowsPlatform('x', fakeAddon({ privileges: () => ({ elevated: false, administrators: true, backupOperators: false }) })).checkPrivileges()).ok).toBe(false);
    expect((await new WindowsPlatform('x', fakeAddon({ privileges: () => ({ elevated: true, administrators: false, backupOperators: false }) })).checkPrivileges()).ok).toBe(false);
    expect(await new WindowsPlatform('x', fakeAddon({ privileges: () => ({ elevated: true, administrators: false, backupOperators: true }) })).checkPrivileges()).toMatchObject({ ok: true, detail: expect.stringMatching(/Backup Operators/) });
  });
});
