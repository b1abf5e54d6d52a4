import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeWriterMetadata, fileList } from '../../src/vss/writer-metadata.js';
import { runCliAsync } from '../support/cli.js';
import { tempDir } from '../support/state.js';

describe('mbam-vss backup / verify / restore', () => {
  it('backs up a registered file-group writer, verifies, names corruption, restores', async () => {
    const root = tempDir();
    const data = join(root, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'one.bin'), Buffer.alloc(1 << 20, 1));
    const wmd = join(root, 'writer.xml');
    writeFileSync(wmd, writeWriterMetadata({
      version: '1.2',
      identity: { writerId: '0e6f3a6c-8d6e-4b0f-9d2a-7c1b5e4f3a21', instanceId: '0e6f3a6c-8d6e-4b0f-9d2a-7c1b5e4f3a22', friendlyName: 'CLI Test Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
      restoreMethod: { method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'NEVER', rebootRequired: false },
      components: [{ type: 'FILEGROUP', componentName: 'data', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(data, '*.bin')], dependencies: [] }],
      excludeFiles: [],
      excludeFilesFromSnapshot: [],
    }));
    const state = join(root, 'state');
    expect((await runCliAsync(['register-writer', '--metadata', wmd, '--state-dir', state])).code).toBe(0);
    const set = join(root, 'set');
    const b = await runCliAsync(['backup', '--to', set, '--provider', 'copy', '--state-dir', state, '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json()).toMatchObject({ ok: true, files: 1, bytes: 1 << 20 });
    // not a TTY: progress goes to stderr as JSON lines
    const progress = b.stderr.trim().split('\n').map((l) => JSON.parse(l).progress);
    expect(progress.some((p: { type: string }) => p.type === 'file')).toBe(true);
    expect(progress.find((p: { type: string }) => p.type === 'published')).toMatchObject({ dir: set });
    // the backup was recorded for `health`
    expect(readFileSync(join(state, 'history.jsonl'), 'utf8')).toMatch(/"ok":true,"by":"requester"/);
    expect((await runCliAsync(['verify', set])).code).toBe(0);
    const out = join(root, 'out');
    const r = await runCliAsync(['restore', '--from', set, '--to', out, '--state-dir', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, data, 'one.bin')).equals(Buffer.alloc(1 << 20, 1))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(set, 'manifest.json'), 'utf8'));
    writeFileSync(join(set, manifest.files[0].path), 'corrupt');
    const v = await runCliAsync(['verify', set]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`size: ${manifest.files[0].path}`);
    expect((await runCliAsync(['backup', '--to', set, '--provider', 'copy', '--state-dir', state])).code).toBe(2); // exists
    expect((await runCliAsync(['backup', '--to', join(root, 'x'), '--provider', 'zfs'])).code).toBe(2);
  });
});
