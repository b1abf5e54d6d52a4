/**
 * What the hosted writer reports and decides without VSS: its restore flag, the handlers' context
 * built from what VSS read on the event's thread, when the MBAM writer records a backup, and remote
 * SQL dependencies. The same code runs against the vssapi stand-in in test/native/standin.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { hostedEventContext, hostedWriterSpec } from '../../src/hosted/hosted-writer.js';
import { mbamWriterHandlers } from '../../src/mbam/hosted-handlers.js';
import { readHistory } from '../../src/mbam/history.js';
import { loadTopology } from '../../src/mbam/topology.js';
import { buildMbamWriterMetadata, resolveServer } from '../../src/mbam/writer-definition.js';
import { expressWriterSpec } from '../../src/vss/express-writer.js';
import { WriterRestore } from '../../src/vss/enums.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { tempDir } from '../support/state.js';

const topo = loadTopology(EXAMPLE_TOPOLOGY);
const md = buildMbamWriterMetadata(topo, 'MBAM-REC01');
const SET = '11111111-2222-3333-4444-555555555555';
const rec = { logicalPath: 'Recovery', componentName: 'MBAM Recovery and Hardware' };

describe('hosted writer metadata and context', () => {
  it('asks VSS for restore events (writerRestore ALWAYS); the express registration keeps NEVER', () => {
    expect(hostedWriterSpec(md).restoreMethod!.writerRestore).toBe(WriterRestore.value('ALWAYS'));
    expect(expressWriterSpec(md).restoreMethod!.writerRestore).toBe(WriterRestore.value('NEVER'));
    expect(md.restoreMethod!.writerRestore).toBe('NEVER');
  });

  it('gives handlers the snapshot set, the backup type and the selected components with VSS success', () => {
    const ctx = hostedEventContext(md, { snapshotSetId: SET, backupType: 5, componentsSelected: true, components: [{ ...rec, backupSucceeded: true }] }, () => {});
    expect(ctx).toMatchObject({ snapshotSetId: SET, backupType: 'COPY', backupSucceeded: true });
    expect(ctx.components.map((c) => c.componentName)).toEqual(['MBAM Recovery and Hardware']);
    // Matched by logical path and name, case-insensitively; another writer's component is not ours.
    const other = hostedEventContext(md, { components: [{ logicalPath: 'Elsewhere', componentName: 'MBAM Recovery and Hardware', backupSucceeded: true }] }, () => {});
    expect(other.components).toEqual([]);
    // The requester selected none: none take part.
    expect(hostedEventContext(md, { componentsSelected: false, components: [{ ...rec, backupSucceeded: true }] }, () => {}).components).toEqual([]);
    // A component VSS could not report on counts as not succeeded.
    expect(hostedEventContext(md, { components: [{ ...rec, backupSucceeded: null }] }, () => {}).backupSucceeded).toBe(false);
    // Events without a component list concern all of the writer's components.
    expect(hostedEventContext(md, { snapshotSetId: SET, backupType: 1 }, () => {}).components).toEqual(md.components);
  });

  it('records an MBAM backup only when its components were selected, VSS says it succeeded, and it is not a COPY', async () => {
    const server = resolveServer(topo, 'MBAM-REC01');
    const cases: [string, Parameters<typeof hostedEventContext>[1], boolean, boolean?][] = [
      ['full, selected, succeeded', { snapshotSetId: SET, backupType: 1, components: [{ ...rec, backupSucceeded: true }] }, true],
      ['not selected', { snapshotSetId: SET, backupType: 1, componentsSelected: false, components: [{ ...rec, backupSucceeded: true }] }, false],
      ['VSS says it failed', { snapshotSetId: SET, backupType: 1, components: [{ ...rec, backupSucceeded: false }] }, false],
      ['a COPY backup', { snapshotSetId: SET, backupType: 5, components: [{ ...rec, backupSucceeded: true }] }, false],
      ['a COPY backup, asked to record copies', { snapshotSetId: SET, backupType: 5, components: [{ ...rec, backupSucceeded: true }] }, true, true],
    ];
    for (const [name, payload, recorded, recordCopyBackups] of cases) {
      const stateDir = tempDir();
      const h = mbamWriterHandlers({ server, stateDir, ...(recordCopyBackups ? { recordCopyBackups } : {}) });
      await h.onBackupComplete!(hostedEventContext(md, payload, () => {}));
      expect(readHistory(stateDir).length, name).toBe(recorded ? 1 : 0);
    }
  });

  it('SQL dependencies of a writer on another machine than the database carry \\\\ComputerName\\', () => {
    const deps = (local?: string) => buildMbamWriterMetadata(topo, 'MBAM-CMP01', local).components.flatMap((c) => c.dependencies.map((d) => d.logicalPath));
    expect(deps()).toEqual(['MBAM-CMP01\\MBAM']);
    expect(deps('mbam-cmp01.corp.example')).toEqual(['MBAM-CMP01\\MBAM']);
    expect(deps('MBAM-WEB01')).toEqual(['\\\\MBAM-CMP01\\MBAM-CMP01\\MBAM']);
  });
});
