import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeWriterMetadata, fileList } from '../../src/vss/writer-metadata.js';
import { runCliAsync } from '../support/cli.js';
import { tempDir } from '../support/state.js';

/** A file-group writer over one file, registered in a fresh state directory through the CLI. */
async function registeredWriter(content: Buffer, name: string, idDigit: string): Promise<{ root: string; state: string }> {
  const root = tempDir();
  const data = join(root, 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'one.bin'), content);
  const wmd = join(root, 'writer.xml');
  const id = (last: number) => `0e6f3a6c-8d6e-4b0f-9d2a-7c1b5e4f3a${idDigit}${last}`;
  writeFileSync(wmd, writeWriterMetadata({
    version: '1.2',
    identity: { writerId: id(1), instanceId: id(2), friendlyName: name, usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
    restoreMethod: { method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'NEVER', rebootRequired: false },
    components: [{ type: 'FILEGROUP', componentName: 'data', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(data, '*.bin')], dependencies: [] }],
    excludeFiles: [],
    excludeFilesFromSnapshot: [],
  }));
  const state = join(root, 'state');
  expect((await runCliAsync(['register-writer', '--metadata', wmd, '--state-dir', state])).code).toBe(0);
  return { root, state };
}

describe('mbam-vss backup / verify / restore', () => {
  it('backs up a registered file-group writer, verifies, names corruption, restores', async () => {
    const { root, state } = await registeredWriter(Buffer.alloc(1 << 20, 1), 'CLI Test Writer', '2');
    const set = join(root, 'set');
    const b = await runCliAsync(['backup', '--to', set, '--provider', 'copy', '--state-dir', state, '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json()).toMatchObject({ ok: true, files: 1, bytes: 1 << 20 });
    // not a TTY: progress goes to stderr as JSON lines; a short backup has no throttled byte line,
    // only the summary, and the provider choice says why
    const progress = b.stderr.trim().split('\n').map((l) => JSON.parse(l).progress);
    expect(progress.filter((p: { type: string }) => p.type === 'bytes')).toEqual([]);
    expect(progress.find((p: { type: string }) => p.type === 'summary')).toMatchObject({ doneBytes: 1 << 20, totalBytes: 1 << 20 });
    expect(progress.find((p: { type: string }) => p.type === 'published')).toMatchObject({ dir: set });
    expect(progress.find((p: { type: string }) => p.type === 'provider')).toMatchObject({ provider: 'copy', reason: '--provider copy' });
    // the backup was recorded for `health`
    expect(readFileSync(join(state, 'history.jsonl'), 'utf8')).toMatch(/"ok":true,"by":"requester"/);
    expect((await runCliAsync(['verify', set])).code).toBe(0);
    const out = join(root, 'out');
    const r = await runCliAsync(['restore', '--from', set, '--to', out, '--state-dir', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, root, 'data', 'one.bin')).equals(Buffer.alloc(1 << 20, 1))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(set, 'manifest.json'), 'utf8'));
    writeFileSync(join(set, manifest.files[0].path), 'corrupt');
    const v = await runCliAsync(['verify', set]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`size: ${manifest.files[0].path}`);
    // --quiet silences the report, not the reason the set is bad
    const q = await runCliAsync(['verify', set, '--quiet']);
    expect(q.code).toBe(1);
    expect(q.stdout).toBe('');
    expect(q.stderr).toContain(`does NOT verify:\n  size: ${manifest.files[0].path}`);
    expect((await runCliAsync(['backup', '--to', set, '--provider', 'copy', '--state-dir', state])).code).toBe(2); // exists
    const zfs = await runCliAsync(['backup', '--to', join(root, 'x'), '--provider', 'zfs']);
    expect(zfs.code).toBe(2);
    expect(zfs.stderr).toMatch(/argument 'zfs' is invalid\. Allowed choices are auto, btrfs, external, copy/);
    // sets lists it with the history, newest first
    const sets = (await runCliAsync(['sets', root, '--state-dir', state, '--json'])).result();
    expect(sets.sets).toHaveLength(1);
    expect(sets.sets[0]).toMatchObject({ dir: set, files: 1, bytes: 1 << 20, writers: ['CLI Test Writer'] });
    expect(sets.sets[0].providers[0]).toMatch(/^copy:\//);
    // the refused second backup into the same set is the newest entry
    expect(sets.history.map((h: { ok: boolean }) => h.ok)).toEqual([false, true]);
    expect(sets.history[1]).toMatchObject({ by: 'requester', backupSet: set });
  });
});

describe('mbam-vss status after a killed backup', () => {
  it('lists the partial set and expose directory a killed backup left beside its target, and exits 1', async () => {
    const root = tempDir();
    const state = join(root, 'state');
    mkdirSync(state, { recursive: true });
    const target = join(root, 'backups');
    mkdirSync(target);
    const id = '3f2b8a4e-0c1d-4e5f-8a9b-0c1d2e3f4a5b';
    // What a SIGKILLed backup leaves: its staging directory and the expose root of its snapshots,
    // and (written before it started copying, as the CLI does on failure) the target in the history.
    mkdirSync(join(target, `.set.partial-${id}`));
    mkdirSync(join(target, `.set.snapshots-${id}`));
    writeFileSync(join(state, 'history.jsonl'), JSON.stringify({ at: new Date().toISOString(), ok: false, by: 'requester', error: 'killed', backupSet: join(target, 'set') }) + '\n');
    const clean = await runCliAsync(['status', '--state-dir', join(root, 'other-state'), '--json']);
    expect(clean.code, clean.stderr).toBe(0);
    const s = await runCliAsync(['status', '--state-dir', state, '--json']);
    expect(s.code, s.stderr).toBe(1);
    expect(s.json().leftovers).toEqual(
      expect.arrayContaining([
        { path: join(target, `.set.partial-${id}`), kind: 'partial-set' },
        { path: join(target, `.set.snapshots-${id}`), kind: 'external-expose-dir' },
      ]),
    );
    const text = await runCliAsync(['status', '--state-dir', state]);
    expect(text.stdout).toContain(`LEFTOVER partial-set ${join(target, `.set.partial-${id}`)}`);
  });
});

describe('a backup whose history cannot be written', () => {
  it('is a success with a warning: the set is complete and verified', async () => {
    const { root, state } = await registeredWriter(Buffer.alloc(4096, 7), 'History Test Writer', '3');
    // A directory where the history file goes: appending to it fails (EISDIR), as a full or
    // read-only state filesystem would.
    mkdirSync(join(state, 'history.jsonl'));
    const set = join(root, 'set');
    const b = await runCliAsync(['backup', '--to', set, '--provider', 'copy', '--state-dir', state, '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json()).toMatchObject({ ok: true, files: 1 });
    expect(b.stderr).toMatch(/warning: the backup history in .* could not be written/);
    expect((await runCliAsync(['verify', set])).code).toBe(0);
  });
});
