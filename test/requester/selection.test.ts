/**
 * Selection and dependency closure, on metadata alone: no filesystem, no writer handlers.
 */
import { describe, expect, it } from 'vitest';
import { candidates, selectComponents } from '../../src/requester/selection.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { SQL_WRITER_ID } from '../../src/vss/known-writers.js';
import type { ComponentDependency, WriterComponent, WriterMetadata } from '../../src/vss/writer-metadata.js';

function component(logicalPath: string, name: string, dependencies: ComponentDependency[] = [], selectable = true): WriterComponent {
  return { type: 'FILEGROUP', logicalPath, componentName: name, restoreMetadata: false, notifyOnBackupComplete: false, selectable, selectableForRestore: true, componentFlags: 0, files: [], dependencies };
}

function writer(n: number, name: string, components: WriterComponent[]): WriterMetadata {
  return {
    version: '1.2',
    identity: { writerId: `aaaaaaaa-0000-4000-8000-00000000000${n}`, instanceId: `bbbbbbbb-0000-4000-8000-00000000000${n}`, friendlyName: name, usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
    components,
    excludeFiles: [],
    excludeFilesFromSnapshot: [],
  };
}

const keys = (sel: ReturnType<typeof selectComponents>) => sel.map((s) => [s.metadata.identity.friendlyName, s.components.map((c) => `${c.logicalPath}\\${c.componentName}`)]);

describe('selectComponents', () => {
  const db = writer(1, 'Database', [component('Inst', 'db1'), component('Inst', 'db2'), component('Inst', 'hidden', [], false)]);
  const app = writer(2, 'App', [component('App', 'web', [{ writerId: db.identity.writerId, logicalPath: 'Inst', componentName: 'db2' }])]);

  it('by default takes every selectable component of every writer, dependencies included', () => {
    expect(keys(selectComponents(candidates([], [app, db])))).toEqual([
      ['App', ['App\\web']],
      ['Database', ['Inst\\db2', 'Inst\\db1']],
    ]);
  });

  it('a selected writer brings all its components, and only the components it depends on', () => {
    expect(keys(selectComponents(candidates([], [app, db]), ['app']))).toEqual([
      ['App', ['App\\web']],
      ['Database', ['Inst\\db2']],
    ]);
    expect(keys(selectComponents(candidates([], [app, db]), [db.identity.writerId.toUpperCase()]))).toEqual([
      ['Database', ['Inst\\db1', 'Inst\\db2', 'Inst\\hidden']],
    ]);
  });

  it('follows dependencies transitively and stops at cycles', () => {
    const a = writer(3, 'A', [component('A', 'a', [{ writerId: 'aaaaaaaa-0000-4000-8000-000000000004', logicalPath: 'B', componentName: 'b' }])]);
    const b = writer(4, 'B', [component('B', 'b', [{ writerId: 'aaaaaaaa-0000-4000-8000-000000000005', logicalPath: 'C', componentName: 'c' }])]);
    const c = writer(5, 'C', [component('C', 'c', [{ writerId: a.identity.writerId, logicalPath: 'A', componentName: 'a' }])]);
    expect(keys(selectComponents(candidates([], [a, b, c]), ['A']))).toEqual([['A', ['A\\a']], ['B', ['B\\b']], ['C', ['C\\c']]]);
  });

  it('an in-process writer replaces the registered metadata of the same writer id', () => {
    const live = { metadata: db, onFreeze: () => {} };
    const all = candidates([live], [db, app]);
    expect(all.map((x) => x.metadata.identity.friendlyName)).toEqual(['Database', 'App']);
    expect(selectComponents(all, ['Database'])[0]!.writer).toBe(live);
  });

  it('a dependency nobody provides names the chain, with a hint for the SQL Server writer', () => {
    const mbam = writer(6, 'MBAM', [component('Recovery', 'keys', [{ writerId: SQL_WRITER_ID, logicalPath: 'HOST', componentName: 'MBAM Recovery' }])]);
    const err = (() => { try { selectComponents(candidates([], [mbam]), ['MBAM']); } catch (e) { return e as VssError; } })();
    expect(err).toBeInstanceOf(VssError);
    expect(err).toMatchObject({ hresult: HR.VSS_E_OBJECT_NOT_FOUND, category: 'precondition' });
    expect(err!.message).toMatch(/Recovery\\keys depends on writer \{a65faa63-5ea8-4ebc-9dbd-a0c4db26912a\} component HOST\\MBAM Recovery, which no writer here provides/);
    expect(err!.hint).toMatch(/--topology FILE/);
  });

  it('a dependency on a component the writer does not have is refused too', () => {
    const bad = writer(7, 'Bad', [component('X', 'x', [{ writerId: db.identity.writerId, logicalPath: 'Inst', componentName: 'nope' }])]);
    expect(() => selectComponents(candidates([], [bad, db]), ['Bad'])).toThrow(/which that writer does not have/);
  });

  it('an unknown writer name is bad input; nothing selectable is bad input', () => {
    expect(() => selectComponents(candidates([], [db]), ['nobody'])).toThrow(expect.objectContaining({ category: 'input', message: expect.stringMatching(/no writer matches 'nobody' \(known: Database\)/) }));
    expect(() => selectComponents(candidates([], [writer(8, 'Empty', [component('E', 'e', [], false)])]))).toThrow(/nothing to back up/);
  });
});
