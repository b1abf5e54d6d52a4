import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../../src/mbam/topology.js';
import { buildMbamWriterMetadata } from '../../src/mbam/writer-definition.js';
import { backup } from '../../src/requester/backup.js';
import { MANIFEST, readManifest, verifyBackupSet } from '../../src/requester/backup-set.js';
import { restore } from '../../src/requester/restore.js';
import type { InProcessWriter } from '../../src/vss/writer-events.js';
import { parseBackupComponents } from '../../src/vss/backup-components.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { fileList, parseWriterMetadata } from '../../src/vss/writer-metadata.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { tempDir } from '../support/state.js';

function setup(files: Record<string, string> = { 'a.db': 'alpha', 'sub/b.log': 'bravo' }) {
  const root = tempDir('mbam-rq-');
  const data = join(root, 'data');
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(data, name, '..'), { recursive: true });
    writeFileSync(join(data, name), content);
  }
  return { root, data };
}

function writer(data: string, hooks: Partial<InProcessWriter> = {}, id = '6f0f7c8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f'): InProcessWriter {
  return {
    metadata: {
      version: '1.2',
      identity: { writerId: id, instanceId: '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', friendlyName: 'Test Data Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
      components: [{ type: 'FILEGROUP', logicalPath: 'Data', componentName: 'files', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(data, '*', true)], dependencies: [] }],
      excludeFiles: [],
      excludeFilesFromSnapshot: [],
    },
    ...hooks,
  };
}

async function makeSet() {
  const s = setup();
  const set = join(s.root, 'set');
  const w = writer(s.data);
  await backup({ to: set, writers: [w], provider: 'copy' });
  return { ...s, set, w };
}

describe('the backup set', () => {
  it('holds a manifest, the writer metadata, a VSS backup components document and the files', async () => {
    const { set, data } = await makeSet();
    const m = readManifest(set);
    expect(m).toMatchObject({ format: 2, backupType: 'FULL', volumes: [{ provider: 'copy' }] });
    expect(m.files.map((f) => [f.source, f.size])).toEqual([[join(data, 'a.db'), 5], [join(data, 'sub/b.log'), 5]]);
    expect(m.files[0]!.sha256).toBe('8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8');
    const bcd = parseBackupComponents(readFileSync(join(set, 'BCDocument.xml')));
    expect(bcd.snapshotSetId).toBe(m.snapshotSetId);
    expect(bcd.writers[0]!.components[0]).toMatchObject({ logicalPath: 'Data', componentName: 'files', componentType: 'FILEGROUP' });
    expect(parseWriterMetadata(readFileSync(join(set, m.writers[0]!.metadataFile))).identity.friendlyName).toBe('Test Data Writer');
    expect((await verifyBackupSet(set)).problems).toEqual([]);
  });

  it('restores exactly, under --to', async () => {
    const { set, root, data } = await makeSet();
    const out = join(root, 'out');
    const r = await restore({ from: set, to: out });
    expect(r.files).toBe(2);
    expect(readFileSync(join(out, data, 'sub/b.log'), 'utf8')).toBe('bravo');
  });

  it('a corrupted set fails verify, naming each file, and restore writes nothing', async () => {
    const { set, root } = await makeSet();
    const m = readManifest(set);
    writeFileSync(join(set, m.files[0]!.path), 'ALPHA');
    writeFileSync(join(set, m.files[1]!.path), 'bravo and more');
    writeFileSync(join(set, 'files', 'intruder'), 'x');
    const { problems } = await verifyBackupSet(set);
    expect(problems).toEqual([
      { path: m.files[0]!.path, problem: 'checksum' },
      { path: m.files[1]!.path, problem: 'size', detail: '14 bytes, manifest says 5' },
      { path: 'files/intruder', problem: 'extra' },
    ]);
    const out = join(root, 'out');
    await expect(restore({ from: set, to: out })).rejects.toThrow(/does not verify; nothing was restored/);
    expect(existsSync(out)).toBe(false);
  });

  it('a hostile set cannot write outside the target', async () => {
    const { set, root } = await makeSet();
    const m = readManifest(set);
    const out = join(root, 'out');
    const escape = JSON.parse(JSON.stringify(m));
    escape.files[0].source = '/../../../etc/mbam-vss-escaped';
    writeFileSync(join(set, MANIFEST), JSON.stringify(escape));
    await expect(restore({ from: set, to: out })).rejects.toThrow(/not a normalised absolute path/);
    const outside = JSON.parse(JSON.stringify(m));
    outside.files[0].path = '../../etc/passwd';
    writeFileSync(join(set, MANIFEST), JSON.stringify(outside));
    expect((await verifyBackupSet(set)).problems[0]).toMatchObject({ problem: 'unsafe-path' });
    // a symlink in the set instead of a file
    writeFileSync(join(set, MANIFEST), JSON.stringify(m));
    const victim = join(set, m.files[0]!.path);
    rmSync(victim);
    symlinkSync('/etc/hostname', victim);
    expect((await verifyBackupSet(set)).problems[0]).toMatchObject({ problem: 'not-a-regular-file' });
    expect(existsSync(join(root, 'etc'))).toBe(false);
  });

  it('never writes through a symlink in the target tree', async () => {
    const { set, root, data } = await makeSet();
    const out = join(root, 'out');
    const elsewhere = join(root, 'elsewhere');
    mkdirSync(elsewhere);
    mkdirSync(join(out, data, '..'), { recursive: true });
    symlinkSync(elsewhere, join(out, data));
    await expect(restore({ from: set, to: out })).rejects.toThrow(/is a symbolic link; refusing to write through it/);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('restores in place only where a writer on this machine declares the location', async () => {
    const { set, data, w } = await makeSet();
    writeFileSync(join(data, 'a.db'), 'changed');
    await expect(restore({ from: set })).rejects.toThrow(/not a location that a writer on this machine declares/);
    await restore({ from: set, writers: [w] });
    expect(readFileSync(join(data, 'a.db'), 'utf8')).toBe('alpha');
  });

  it('in place, follows links on the way to the declared directory, never below it', async () => {
    // The data directory lives on "another disk", reached through a link, as /var/opt/mssql/data often is.
    const root = tempDir('mbam-rq-');
    const disk = join(root, 'disk', 'data');
    mkdirSync(join(disk, 'sub'), { recursive: true });
    writeFileSync(join(disk, 'a.db'), 'alpha');
    writeFileSync(join(disk, 'sub', 'b.log'), 'bravo');
    symlinkSync(join(root, 'disk'), join(root, 'via-link'));
    const declared = join(root, 'via-link', 'data');
    const w = writer(declared);
    const set = join(root, 'set');
    await backup({ to: set, writers: [w], provider: 'copy' });
    writeFileSync(join(disk, 'a.db'), 'changed');
    await restore({ from: set, writers: [w] });
    expect(readFileSync(join(disk, 'a.db'), 'utf8')).toBe('alpha');
    expect(readlinkSync(join(root, 'via-link'))).toBe(join(root, 'disk'));
    // Below the declared directory, the set's paths count: a link there is not followed.
    const elsewhere = join(root, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(join(disk, 'sub'), { recursive: true });
    symlinkSync(elsewhere, join(disk, 'sub'));
    writeFileSync(join(disk, 'a.db'), 'changed again');
    await expect(restore({ from: set, writers: [w] })).rejects.toThrow(/is a symbolic link; refusing to write through it/);
    expect(readdirSync(elsewhere)).toEqual([]);
    // refused before anything was written: nothing half restored
    expect(readFileSync(join(disk, 'a.db'), 'utf8')).toBe('changed again');
  });

  it('a failed backup leaves nothing that looks complete', async () => {
    const { root, data } = setup();
    const w = writer(data, { onPostSnapshot: () => { throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, { message: 'busy' }); } });
    const err = await backup({ to: join(root, 'set'), writers: [w], provider: 'copy' }).catch((e) => e);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_RETRYABLE);
    expect(err.details.writers[0]).toMatchObject({ state: 'FAILED_AT_POST_SNAPSHOT', lastError: HR.VSS_E_WRITERERROR_RETRYABLE });
    expect(readdirSync(root)).toEqual(['data']);
  });
});

describe('the event sequence', () => {
  it('freezes front-end, then back-end, then system writers, and thaws in reverse', async () => {
    const { root, data } = setup();
    const log: string[] = [];
    const mk = (name: string, level: InProcessWriter['applicationLevel'], id: string): InProcessWriter => {
      const w = writer(data, { applicationLevel: level, onFreeze: () => void log.push(`freeze ${name}`), onThaw: () => void log.push(`thaw ${name}`) }, id);
      w.metadata = { ...w.metadata, identity: { ...w.metadata.identity, friendlyName: name, instanceId: id.replace(/^a/, 'c') } };
      return w;
    };
    await backup({
      to: join(root, 'set'),
      provider: 'copy',
      writers: [mk('system', 'SYSTEM', 'aaaaaaaa-0000-4000-8000-000000000001'), mk('back', 'BACK_END', 'aaaaaaaa-0000-4000-8000-000000000002'), mk('front', 'FRONT_END', 'aaaaaaaa-0000-4000-8000-000000000003')],
    });
    expect(log).toEqual(['freeze front', 'freeze back', 'freeze system', 'thaw system', 'thaw back', 'thaw front']);
  });

  it.each([
    ['onPrepareBackup', 'FAILED_AT_PREPARE_BACKUP', true],
    ['onPrepareSnapshot', 'FAILED_AT_PREPARE_SNAPSHOT', true],
    ['onFreeze', 'FAILED_AT_FREEZE', true],
    ['onThaw', 'FAILED_AT_THAW', true],
    ['onPostSnapshot', 'FAILED_AT_POST_SNAPSHOT', false],
  ] as const)('a throw in %s leaves %s with the code, and Abort only before PostSnapshot', async (handler, state, aborts) => {
    const { root, data } = setup();
    const calls: string[] = [];
    const w = writer(data, { [handler]: () => { throw new Error('broken'); }, onAbort: () => void calls.push('abort'), onBackupShutdown: () => void calls.push('shutdown') });
    const err = await backup({ to: join(root, 'set'), writers: [w], provider: 'copy' }).catch((e) => e);
    expect(err.details.writers[0]).toMatchObject({ state, lastError: HR.VSS_E_WRITERERROR_NONRETRYABLE });
    expect(calls).toEqual(aborts ? ['abort', 'shutdown'] : ['shutdown']);
  });
});

describe('dependencies', () => {
  it('the MBAM writer alone fails before anything is frozen, naming the SQL Server component it needs', async () => {
    const md = buildMbamWriterMetadata(loadTopology(EXAMPLE_TOPOLOGY), 'MBAM-REC01');
    let frozen = false;
    const { root, data } = setup();
    const err = await backup({ to: join(root, 'set'), registered: [md], writers: [writer(data, { onFreeze: () => void (frozen = true) })], select: [md.identity.writerId], provider: 'copy' }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.message).toMatch(/Recovery\\MBAM Recovery and Hardware depends on writer \{a65faa63-5ea8-4ebc-9dbd-a0c4db26912a\} component MBAM-REC01\\MBAM Recovery and Hardware, which no writer here provides/);
    expect(err.hint).toMatch(/--topology FILE.*SQL Server writer/);
    expect(frozen).toBe(false);
    expect(readdirSync(root)).toEqual(['data']);
  });

  it('selecting a component pulls in the components it depends on', async () => {
    const { root, data } = setup();
    const other = setup({ 'dep.bin': 'dependency' });
    const dep = writer(other.data, {}, 'bbbbbbbb-0000-4000-8000-000000000001');
    dep.metadata = { ...dep.metadata, identity: { ...dep.metadata.identity, friendlyName: 'Dependency Writer', instanceId: 'bbbbbbbb-0000-4000-8000-000000000002' } };
    const main = writer(data);
    main.metadata.components[0]!.dependencies = [{ writerId: dep.metadata.identity.writerId, logicalPath: 'Data', componentName: 'files' }];
    const r = await backup({ to: join(root, 'set'), writers: [main, dep], select: ['Test Data Writer'], provider: 'copy' });
    expect(r.writers.map((w) => w.name).sort()).toEqual(['Dependency Writer', 'Test Data Writer']);
    expect(readManifest(join(root, 'set')).files.map((f) => f.source)).toContain(join(other.data, 'dep.bin'));
  });
});

describe("provider 'auto'", () => {
  it('refuses to fall back to copying inside the freeze window where no snapshot provider serves the data', async () => {
    const { root, data } = setup();
    const { mountOf } = await import('../../src/requester/mounts.js');
    const fsType = mountOf(data).fsType;
    // On btrfs as root 'auto' has a real snapshot provider; the refusal is for everything else.
    if (fsType === 'btrfs' && process.geteuid?.() === 0) return;
    let frozen = false;
    const err = await backup({ to: join(root, 'set'), provider: 'auto', writers: [writer(data, { onFreeze: () => void (frozen = true) })] }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err).toMatchObject({ hresult: HR.VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER, category: 'precondition' });
    expect(err.message).toMatch(/'auto' does not fall back to copying inside the freeze window/);
    expect(err.hint).toMatch(/--provider external --snapshot-command/);
    expect(frozen).toBe(false);
    expect(readdirSync(root).filter((n) => n.includes('set'))).toEqual([]);
  });
});
