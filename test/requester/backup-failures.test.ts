/**
 * No false success, and failure cleans up: a backup that copied nothing fails, a snapshot that
 * cannot be released fails the backup naming what leaked, an abort (a signal, a deadline) stops the
 * copy and removes everything partial, a full target fails cleanly, and a killed backup's btrfs
 * snapshot is found and removed by the next one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backup, type ProgressEvent } from '../../src/requester/backup.js';
import { findLeftoverSnapshots } from '../../src/requester/providers.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import type { InProcessWriter } from '../../src/vss/writer-events.js';
import { fileList, writeWriterMetadata } from '../../src/vss/writer-metadata.js';
import { runCliAsync } from '../support/cli.js';
import { CLI, REPO } from '../support/paths.js';
import { loopPrereq, makeLoopFs, type FsKind, type LoopFs } from '../support/loop.js';
import { itRequires } from '../support/prereq.js';
import { tempDir } from '../support/state.js';

const MiB = 1 << 20;

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.reverse()) c();
  cleanups = [];
});

function loop(kind: FsKind, sizeMiB?: number): LoopFs {
  const l = makeLoopFs(kind, sizeMiB);
  cleanups.push(() => l.cleanup());
  return l;
}

function writer(dir: string, hooks: Partial<InProcessWriter> = {}, filespec = '*'): InProcessWriter {
  return {
    metadata: {
      version: '1.2',
      identity: { writerId: '6f0f7c8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f', instanceId: '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', friendlyName: 'Test Data Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
      components: [{ type: 'FILEGROUP', logicalPath: 'Data', componentName: 'files', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(dir, filespec, true)], dependencies: [] }],
      excludeFiles: [],
      excludeFilesFromSnapshot: [],
    },
    ...hooks,
  };
}

/** A data directory with sparse files of the given sizes (holes read fast, but are copied whole). */
function sparseData(root: string, sizes: number[]): string {
  const data = join(root, 'data');
  mkdirSync(data, { recursive: true });
  sizes.forEach((size, i) => {
    writeFileSync(join(data, `f${i}.bin`), 'head');
    truncateSync(join(data, `f${i}.bin`), size);
  });
  return data;
}

const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.'));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Watches for `ms` that nothing happens any more: no progress after the rejection, no partial set coming back. */
async function staysQuiet(dir: string, events: ProgressEvent[], ms: number): Promise<{ newEvents: number; leftovers: string[] }> {
  const n = events.length;
  await until(() => events.length > n || leftovers(dir).length > 0, ms);
  return { newEvents: events.length - n, leftovers: leftovers(dir) };
}

/** Bytes written so far under a directory (a partial set being filled). */
function partialBytes(dir: string): number {
  let n = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true, recursive: true });
  } catch {
    return 0; // removed meanwhile
  }
  for (const e of entries) {
    if (e.isFile()) {
      try {
        n += statSync(join(e.parentPath ?? dir, e.name)).size;
      } catch {
        // removed meanwhile
      }
    }
  }
  return n;
}

describe('no false success', () => {
  it('a selected component whose files match nothing fails the backup; nothing is published', async () => {
    const root = tempDir();
    const data = join(root, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'notes.txt'), 'x');
    const calls: string[] = [];
    const err = await backup({ to: join(root, 'set'), writers: [writer(data, { onBackupComplete: () => void calls.push('complete'), onBackupShutdown: () => void calls.push('shutdown') }, '*.mdf')], provider: 'copy' }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err).toMatchObject({ hresult: HR.VSS_E_OBJECT_NOT_FOUND, category: 'failed' });
    expect(err.message).toMatch(/component Data\\files of Test Data Writer: no file in the backup matches .*\/data\/\*\.mdf/);
    expect(calls).toEqual(['shutdown']);
    expect(readdirSync(root)).toEqual(['data']);
  });

  it('a component whose directory does not exist fails too', async () => {
    const root = tempDir();
    const err = await backup({ to: join(root, 'set'), writers: [writer(join(root, 'missing'))], provider: 'copy' }).catch((e) => e);
    expect(err).toMatchObject({ hresult: HR.VSS_E_OBJECT_NOT_FOUND });
    expect(readdirSync(root)).toEqual([]);
  });

  it('a component without files of its own (a certificate carrier) is not an empty backup', async () => {
    const root = tempDir();
    const data = join(root, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'a.db'), 'alpha');
    const w = writer(data);
    w.metadata.components.push({ ...w.metadata.components[0]!, componentName: 'master', files: [] });
    const r = await backup({ to: join(root, 'set'), writers: [w], provider: 'copy' });
    expect(r.files).toBe(1);
  });

  itRequires(loopPrereq('ext4'), 'a snapshot command that exposes nothing (`true`) fails the external backup', async () => {
    const fs = loop('ext4');
    const data = join(fs.mountPoint, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'a.db'), 'alpha');
    const dir = tempDir();
    const err = await backup({ to: join(dir, 'set'), writers: [writer(data)], provider: 'external', snapshotCommand: 'true' }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.hresult).toBe(HR.VSS_E_OBJECT_NOT_FOUND);
    expect(err.message).toMatch(/no file in the snapshot matches/);
    expect(err.hint).toMatch(/MBAM_VSS_SNAPSHOT_ROOT\/i/);
    expect(readdirSync(dir)).toEqual([]);
  }, 60_000);
});

/**
 * Exposes the frozen mount at $MBAM_VSS_SNAPSHOT_ROOT/0 by a bind mount (a stand-in for a SAN
 * snapshot: what matters here is the mount, not what it shows) and logs each action.
 */
function bindSnapshotCommand(log: string, release: string): string {
  return [
    `echo "$MBAM_VSS_SNAPSHOT_ACTION" >> ${log}`,
    'if [ "$MBAM_VSS_SNAPSHOT_ACTION" = create ]; then mount --bind "$MBAM_VSS_FROZEN_MOUNTS" "$MBAM_VSS_SNAPSHOT_ROOT/0"; else',
    release,
    'fi',
  ].join('\n');
}

const mounted = (path: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);

describe('snapshot release', () => {
  itRequires(loopPrereq('ext4'), 'a release command that fails fails the backup, naming what leaked; the leftover is listed', async () => {
    const fs = loop('ext4');
    const data = join(fs.mountPoint, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'a.db'), 'alpha');
    const dir = tempDir();
    const log = join(fs.dir, 'actions.log');
    const err = await backup({ to: join(dir, 'set'), writers: [writer(data)], provider: 'external', snapshotCommand: bindSnapshotCommand(log, 'echo "the SAN said no" >&2; exit 1') }).catch((e) => e);
    const exposed = readdirSync(dir).filter((n) => n.includes('.snapshots-')).map((n) => join(dir, n));
    cleanups.push(() => {
      for (const e of exposed) spawnSync('umount', [join(e, '0')]);
    });
    expect(readFileSync(log, 'utf8')).toBe('create\nrelease\n');
    expect(err).toBeInstanceOf(VssError);
    expect(err.category).toBe('incomplete');
    expect(err.message).toMatch(/not published because a snapshot could not be released/);
    expect(err.message).toMatch(/snapshot release command failed \(exit 1\): the SAN said no/);
    expect(err.message).toMatch(/left .*\/0 mounted/);
    expect(err.details.leaked).toHaveLength(2);
    expect(existsSync(join(dir, 'set'))).toBe(false);
    // The mount was not deleted through; `status` can list it.
    expect(exposed).toHaveLength(1);
    expect(mounted(join(exposed[0]!, '0'))).toBe(true);
    expect(findLeftoverSnapshots([], [dir]).map((x) => x.kind).sort()).toEqual(['external-expose-dir', 'external-mount']);
  }, 60_000);

  itRequires(loopPrereq('ext4'), 'an abort during the copy releases the external snapshot and removes its mount', async () => {
    const fs = loop('ext4');
    const data = sparseData(fs.mountPoint, [64 * MiB]);
    const dir = tempDir();
    const log = join(fs.dir, 'actions.log');
    const ctl = new AbortController();
    const events: ProgressEvent[] = [];
    const calls: string[] = [];
    const w = writer(data, { onAbort: () => void calls.push('abort'), onBackupShutdown: () => void calls.push('shutdown') });
    const err = await backup({
      to: join(dir, 'set'), writers: [w], provider: 'external', snapshotCommand: bindSnapshotCommand(log, 'umount "$MBAM_VSS_SNAPSHOT_ROOT/0"'),
      signal: ctl.signal,
      onProgress: (e) => {
        events.push(e);
        if (e.type === 'file') ctl.abort();
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err).toMatchObject({ hresult: HR.E_ABORT, category: 'aborted' });
    expect(events.filter((e) => e.type === 'file').length).toBeLessThanOrEqual(2);
    expect(readFileSync(log, 'utf8')).toBe('create\nrelease\n');
    expect(calls).toEqual(['shutdown']); // after PostSnapshot: no Abort, as VSS
    expect(readdirSync(dir)).toEqual([]);
    expect(findLeftoverSnapshots([data], [dir])).toEqual([]);
  }, 60_000);
});

describe('abort and deadlines stop the work', () => {
  it('an abort during the copy stops it within a buffer, Aborts the writers and removes the partial set', async () => {
    const root = tempDir();
    const data = sparseData(root, [256 * MiB]);
    const ctl = new AbortController();
    const events: ProgressEvent[] = [];
    const calls: string[] = [];
    let abortedAt = 0;
    const err = await backup({
      to: join(root, 'set'), writers: [writer(data, { onAbort: () => void calls.push('abort'), onBackupShutdown: () => void calls.push('shutdown') })], provider: 'copy',
      signal: ctl.signal,
      onProgress: (e) => {
        events.push(e);
        if (e.type === 'file' && !abortedAt) {
          abortedAt = Date.now();
          ctl.abort();
        }
      },
    }).catch((e) => e);
    const stoppedMs = Date.now() - abortedAt;
    expect(err).toBeInstanceOf(VssError);
    expect(err).toMatchObject({ hresult: HR.E_ABORT, category: 'aborted' });
    // the copy provider copies inside the freeze window: before PostSnapshot, so Abort
    expect(calls).toEqual(['abort', 'shutdown']);
    // the buffers already in flight at most (READ_AHEAD = 2)
    expect(events.filter((e) => e.type === 'file').length).toBeLessThanOrEqual(3);
    expect(stoppedMs).toBeLessThan(5000);
    expect(readdirSync(root)).toEqual(['data']);
    expect(await staysQuiet(root, events, 500)).toEqual({ newEvents: 0, leftovers: [] });
  });

  it('an abort while a handler hangs rejects at once, without waiting for the handler', async () => {
    const root = tempDir();
    const data = sparseData(root, [1]);
    const ctl = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ctl.abort(), 100);
    const err = await backup({ to: join(root, 'set'), writers: [writer(data, { onPrepareSnapshot: () => new Promise(() => {}) })], provider: 'copy', signal: ctl.signal }).catch((e) => e);
    expect(err).toMatchObject({ hresult: HR.E_ABORT, category: 'aborted' });
    expect(err.details.writers[0]).toMatchObject({ state: 'STABLE', lastError: 0 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(readdirSync(root)).toEqual(['data']);
  });

  it('the copy inside the freeze window stops at the window deadline; nothing goes on afterwards', async () => {
    const root = tempDir();
    const data = sparseData(root, [128 * MiB, 128 * MiB]);
    const events: ProgressEvent[] = [];
    const err = await backup({ to: join(root, 'set'), writers: [writer(data)], provider: 'copy', freezeTimeoutMs: 50, onProgress: (e) => void events.push(e) }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_TIMEOUT);
    expect(readdirSync(root)).toEqual(['data']);
    expect(await staysQuiet(root, events, 1500)).toEqual({ newEvents: 0, leftovers: [] });
  });

  it('a PostSnapshot handler that times out cannot bring the partial set back by writing late', async () => {
    const root = tempDir();
    const data = sparseData(root, [1]);
    const err = await backup({
      to: join(root, 'set'),
      provider: 'copy',
      eventTimeoutMs: 200,
      writers: [writer(data, {
        onPostSnapshot: async (ctx) => {
          await new Promise((r) => setTimeout(r, 500));
          mkdirSync(ctx.writerDir!, { recursive: true });
          writeFileSync(join(ctx.writerDir!, 'late.bak'), 'late');
        },
      })],
    }).catch((e) => e);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_TIMEOUT);
    expect(err.details.writers[0]).toMatchObject({ state: 'FAILED_AT_POST_SNAPSHOT' });
    expect(await staysQuiet(root, [], 1500)).toEqual({ newEvents: 0, leftovers: [] });
  });
});

describe('a full target', () => {
  itRequires(loopPrereq('ext4'), 'ENOSPC during the copy: a clean VssError, writers Aborted and shut down, the partial set removed', async () => {
    const fs = loop('ext4', 16);
    const src = tempDir();
    const data = sparseData(src, [64 * MiB]);
    const calls: string[] = [];
    const err = await backup({ to: join(fs.mountPoint, 'set'), writers: [writer(data, { onAbort: () => void calls.push('abort'), onBackupShutdown: () => void calls.push('shutdown') })], provider: 'copy' }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err).toMatchObject({ category: 'failed', hresult: HR.E_FAIL });
    expect(err.message).toMatch(/no space left for the backup set in .* \(ENOSPC\) while copying .*f0\.bin/);
    expect(calls).toEqual(['abort', 'shutdown']);
    expect(readdirSync(fs.mountPoint).filter((n) => n !== 'lost+found')).toEqual([]);
  }, 60_000);
});

describe('a killed btrfs backup', () => {
  itRequires(loopPrereq('btrfs'), 'leaves a snapshot that is listed, then removed by the next backup', async () => {
    const fs = loop('btrfs');
    const data = join(fs.mountPoint, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'a.db'), 'alpha');
    const dir = tempDir();
    const marker = join(dir, 'post-snapshot');
    const script = join(dir, 'requester.mjs');
    const w = writer(data);
    writeFileSync(
      script,
      `import { writeFileSync } from 'node:fs';
       const m = await import(${JSON.stringify(join(REPO, 'dist', 'index.js'))});
       await m.backup({ to: ${JSON.stringify(join(dir, 'killed'))}, provider: 'btrfs',
         writers: [{ metadata: ${JSON.stringify(w.metadata)}, onPostSnapshot: () => { writeFileSync(${JSON.stringify(marker)}, ''); return new Promise(() => {}); } }] });`,
    );
    const child = spawn(process.execPath, [script], { stdio: 'ignore' });
    cleanups.push(() => child.kill('SIGKILL'));
    expect(await until(() => existsSync(marker), 30_000)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const left = findLeftoverSnapshots([data]);
    expect(left).toEqual([{ path: expect.stringMatching(new RegExp(`^${fs.mountPoint}/\\.mbam-vss-snapshot-[0-9a-f-]{36}-pid${child.pid}$`)), kind: 'btrfs-snapshot', ownerAlive: false }]);
    const logs: string[] = [];
    const r = await backup({ to: join(dir, 'set'), writers: [writer(data)], provider: 'btrfs', onProgress: (e) => void (e.type === 'log' && logs.push(e.message)) });
    expect(r.files).toBe(1);
    expect(logs).toEqual([`removed ${left[0]!.path}, the snapshot of a backup that was killed`]);
    expect(readdirSync(fs.mountPoint).filter((n) => n.startsWith('.mbam-vss'))).toEqual([]);
    expect(findLeftoverSnapshots([data], [dir]).map((x) => x.kind)).toEqual(['partial-set']); // the killed one's staging
  }, 120_000);
});

describe('the CLI', () => {
  function registered(root: string, sizes: number[]) {
    const data = sparseData(root, sizes);
    const wmd = join(root, 'writer.xml');
    writeFileSync(wmd, writeWriterMetadata({ ...writer(data).metadata, restoreMethod: { method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'NEVER', rebootRequired: false } }));
    const state = join(root, 'state');
    return { data, wmd, state };
  }

  it.each([['SIGINT', 130], ['SIGTERM', 143]] as const)('%s during the copy: cleaned up, exit %i, recorded as failed', async (sig, code) => {
    const root = tempDir();
    const { wmd, state } = registered(root, [1024 * MiB]);
    expect((await runCliAsync(['register-writer', '--metadata', wmd, '--state-dir', state])).code).toBe(0);
    const set = join(root, 'set');
    const p = spawn(process.execPath, [CLI, 'backup', '--to', set, '--provider', 'copy', '--state-dir', state, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sent = false;
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const closed = new Promise<number | null>((r) => p.on('close', (c) => r(c)));
    // The copy is under way once the partial set holds data (progress off a terminal is throttled
    // to one line every 5 s, so the set itself is the condition to wait for).
    const copying = () => readdirSync(root).filter((n) => n.startsWith('.set.partial-')).some((n) => partialBytes(join(root, n)) > 0);
    for (const until = Date.now() + 50_000; !sent && p.exitCode === null && Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
      if (copying()) {
        sent = true;
        p.kill(sig);
      }
    }
    const exit = await closed;
    expect(sent).toBe(true);
    expect(exit, stderr.slice(-500)).toBe(code);
    expect(JSON.parse(stdout)).toMatchObject({ ok: false, error: { category: 'aborted', name: 'E_ABORT' } });
    expect(leftovers(root)).toEqual([]);
    expect(existsSync(set)).toBe(false);
    expect(readFileSync(join(state, 'history.jsonl'), 'utf8')).toMatch(/"ok":false,"by":"requester","error":"interrupted by SIG/);
  }, 60_000);

  itRequires(loopPrereq('ext4'), 'ENOSPC with --json: exit 1 and a JSON error', async () => {
    const fs = loop('ext4', 16);
    const root = tempDir();
    const { wmd, state } = registered(root, [64 * MiB]);
    expect((await runCliAsync(['register-writer', '--metadata', wmd, '--state-dir', state])).code).toBe(0);
    const b = await runCliAsync(['backup', '--to', join(fs.mountPoint, 'set'), '--provider', 'copy', '--state-dir', state, '--json']);
    expect(b.code, b.stderr.slice(-500)).toBe(1);
    expect(b.json()).toMatchObject({ ok: false, exitCode: 1, error: { category: 'failed', message: expect.stringMatching(/no space left/) } });
    expect(readdirSync(fs.mountPoint).filter((n) => n !== 'lost+found')).toEqual([]);
  }, 60_000);
});
