/**
 * Backups on real kernel snapshots of loop-mounted btrfs, ext4 and xfs images (root; required in
 * CI). For `external`, the snapshot command copies the loop device while it is frozen, exactly as a
 * hypervisor snapshots a guest disk, and mounts the copy read-only where the requester reads it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { backup } from '../../src/requester/backup.js';
import { FrozenFilesystems } from '../../src/requester/fs-freeze.js';
import { verifyBackupSet } from '../../src/requester/backup-set.js';
import { restore } from '../../src/requester/restore.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { dataWriter } from '../support/data-writer.js';
import { checkRecords, startAppender } from '../support/appender.js';
import { loopPrereq, makeLoopFs, type FsKind, type LoopFs } from '../support/loop.js';
import { REPO } from '../support/paths.js';
import { itRequires } from '../support/prereq.js';
import { tempDir } from '../support/state.js';

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.reverse()) c();
  cleanups = [];
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function loop(kind: FsKind): LoopFs {
  const l = makeLoopFs(kind);
  cleanups.push(() => l.cleanup());
  return l;
}


/** Exposes mount i's snapshot: copies the frozen loop device, then mounts the copy read-only. */
function snapshotCommand(kind: FsKind, work: string): string {
  const opts = kind === 'xfs' ? 'ro,norecovery,nouuid' : kind === 'ext4' ? 'ro,noload' : 'ro';
  return [
    'set -e',
    `if [ "$MBAM_VSS_SNAPSHOT_ACTION" = create ]; then`,
    `  i=0; echo "$MBAM_VSS_FROZEN_DEVICES" | while read dev; do cp --sparse=always "$dev" ${work}/snap-$i.img; i=$((i+1)); done`,
    `  i=0; echo "$MBAM_VSS_FROZEN_DEVICES" | while read dev; do mount -o loop,${opts} ${work}/snap-$i.img "$MBAM_VSS_SNAPSHOT_ROOT/$i"; i=$((i+1)); done`,
    'else',
    `  i=0; echo "$MBAM_VSS_FROZEN_DEVICES" | while read dev; do umount "$MBAM_VSS_SNAPSHOT_ROOT/$i" || true; rm -f ${work}/snap-$i.img; i=$((i+1)); done`,
    'fi',
  ].join('\n');
}

function writable(path: string, timeoutMs: number): boolean {
  try {
    execFileSync('timeout', [String(timeoutMs / 1000), 'sh', '-c', `echo x > "${path}/.probe" && sync -f "${path}/.probe"`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('backup on btrfs (read-only subvolume snapshot)', () => {
  itRequires(loopPrereq('btrfs'), 'a live appender paused in Freeze restores as whole records; the snapshot is gone afterwards', async () => {
    const fs = loop('btrfs');
    const data = join(fs.mountPoint, 'data');
    mkdirSync(data);
    const appender = await startAppender(fs.dir, join(data, 'records.log'), (p) => cleanups.push(() => p.kill('SIGKILL')));
    const events: string[] = [];
    // The writer quiesces its application for the snapshot, as a VSS writer does.
    const w = dataWriter(data, { onFreeze: () => void appender.kill('SIGSTOP'), onThaw: () => void appender.kill('SIGCONT') });
    const set = join(tempDir(), 'set');
    const r = await backup({ to: set, writers: [w], provider: 'btrfs', onProgress: (e) => e.type === 'event' && events.push(e.event) });
    expect(r.volumes).toEqual([{ root: fs.mountPoint, provider: 'btrfs' }]);
    expect(r.files).toBeGreaterThan(0);
    expect(events).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Thaw', 'PostSnapshot', 'BackupComplete', 'BackupShutdown']);
    expect(r.writers[0]).toMatchObject({ state: 'STABLE', lastError: 0 });
    expect(readdirSync(fs.mountPoint).filter((n) => n.startsWith('.mbam-vss'))).toEqual([]);
    expect((await verifyBackupSet(set)).problems).toEqual([]);
    const out = join(tempDir(), 'out');
    await restore({ from: set, to: out });
    expect(checkRecords(join(out, data, 'records.log'))).toBeGreaterThan(100);
  }, 120_000);
});

describe.each(['ext4', 'xfs'] as const)('backup on %s (external snapshot command, filesystem frozen)', (kind) => {
  itRequires(loopPrereq(kind), 'a live appender restores as whole records; the write hold is short', async () => {
    const fs = loop(kind);
    const data = join(fs.mountPoint, 'data');
    mkdirSync(data);
    await startAppender(fs.dir, join(data, 'records.log'), (p) => cleanups.push(() => p.kill('SIGKILL')));
    const set = join(tempDir(), 'set');
    const r = await backup({ to: set, writers: [dataWriter(data)], provider: 'external', snapshotCommand: snapshotCommand(kind, fs.dir), writeHoldMs: 10_000 });
    expect(r.volumes[0]).toMatchObject({ provider: 'external', root: fs.mountPoint });
    expect(r.files).toBeGreaterThan(0);
    expect(r.writeHolds[0]).toBeLessThan(10_000);
    expect(writable(fs.mountPoint, 2000)).toBe(true);
    const out = join(tempDir(), 'out');
    await restore({ from: set, to: out });
    expect(checkRecords(join(out, data, 'records.log'))).toBeGreaterThan(100);
  }, 120_000);
});

describe('the freeze always ends', () => {
  itRequires(loopPrereq('ext4'), 'a requester killed with SIGKILL while frozen leaves the filesystem writable within the deadline plus one second', async () => {
    const fs = loop('ext4');
    const data = join(fs.mountPoint, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'f'), 'x');
    const marker = join(fs.dir, 'frozen');
    const script = join(fs.dir, 'requester.mjs');
    writeFileSync(
      script,
      `const m = await import(${JSON.stringify(join(REPO, 'dist', 'index.js'))});
       await m.backup({ to: ${JSON.stringify(join(fs.dir, 'set'))}, provider: 'external', writeHoldMs: 8000,
         snapshotCommand: 'touch ${marker}; sleep 30',
         writers: [${JSON.stringify(dataWriter(data))}] });`,
    );
    const child = spawn(process.execPath, [script], { stdio: 'ignore' });
    cleanups.push(() => child.kill('SIGKILL'));
    for (let i = 0; i < 100 && !existsSync(marker); i++) await sleep(100);
    expect(existsSync(marker)).toBe(true);
    // A write to a frozen filesystem waits in the kernel until the thaw; its exit times the thaw.
    const probe = spawn('sh', ['-c', `echo x > "${fs.mountPoint}/.probe" && sync -f "${fs.mountPoint}/.probe"`], { stdio: 'ignore' });
    let probeDone = false;
    probe.on('exit', () => (probeDone = true));
    await sleep(500);
    expect(probeDone).toBe(false); // frozen now
    const t0 = Date.now();
    child.kill('SIGKILL');
    while (!probeDone && Date.now() - t0 < 8000 + 1000) await sleep(10);
    const thawMs = Date.now() - t0;
    expect(probeDone).toBe(true);
    expect(thawMs).toBeLessThan(8000 + 1000);
    // The owner's death, not the 8 s deadline, ended the freeze.
    expect(thawMs).toBeLessThan(2000);
    try { execFileSync('pkill', ['-KILL', '-f', `touch ${marker}`]); } catch { /* gone */ }
  }, 60_000);

  itRequires(loopPrereq('ext4'), 'a handler that hangs in Freeze: FAILED_AT_FREEZE with VSS_E_WRITERERROR_TIMEOUT, filesystem thawed, nothing published', async () => {
    const fs = loop('ext4');
    const data = join(fs.mountPoint, 'data');
    mkdirSync(data);
    const aborted: string[] = [];
    const w = dataWriter(data, { onFreeze: () => new Promise(() => {}), onAbort: () => void aborted.push('abort') });
    const set = join(tempDir(), 'set');
    const err = await backup({ to: set, writers: [w], provider: 'external', snapshotCommand: 'true', freezeTimeoutMs: 500 }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.hresult).toBe(HR.VSS_E_WRITERERROR_TIMEOUT);
    expect(err.details.writers[0]).toMatchObject({ state: 'FAILED_AT_FREEZE', lastError: HR.VSS_E_WRITERERROR_TIMEOUT });
    expect(aborted).toEqual(['abort']);
    expect(writable(fs.mountPoint, 2000)).toBe(true);
    expect(existsSync(set)).toBe(false);
  }, 60_000);

  itRequires(loopPrereq('ext4'), 'a snapshot command that hangs is cut off at the write-hold deadline, thawed, nothing published', async () => {
    const fs = loop('ext4');
    const data = join(fs.mountPoint, 'data');
    mkdirSync(data);
    const dir = tempDir();
    const set = join(dir, 'set');
    const t0 = Date.now();
    const err = await backup({ to: set, writers: [dataWriter(data)], provider: 'external', snapshotCommand: 'sleep 60', writeHoldMs: 1000 }).catch((e) => e);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err.hresult).toBe(HR.VSS_E_HOLD_WRITES_TIMEOUT);
    expect(writable(fs.mountPoint, 2000)).toBe(true);
    expect(readdirSync(dir)).toEqual([]); // no set, no partial staging, no snapshot mount points
  }, 60_000);

  itRequires(loopPrereq('ext4'), 'refuses to freeze the filesystem that holds the backup target', async () => {
    const fs = loop('ext4');
    const data = join(fs.mountPoint, 'data');
    mkdirSync(data);
    const err = await backup({ to: join(fs.mountPoint, 'set'), writers: [dataWriter(data)], provider: 'external', snapshotCommand: 'true' }).catch((e) => e);
    expect(err.message).toMatch(/refusing to freeze .* would block mbam-vss itself/);
    expect(writable(fs.mountPoint, 2000)).toBe(true);
  }, 60_000);
});

describe('the snapshot command waits at the gate', () => {
  itRequires(loopPrereq('ext4'), 'it runs only once the filesystem is frozen, as `sh -c` would run it', async () => {
    const fs = loop('ext4');
    const dir = tempDir();
    const report = join(dir, 'report');
    // A second FIFREEZE of a frozen filesystem fails with EBUSY: proof that the freeze is in place
    // (a test write would block, unkillably, until the thaw).
    const script = `echo "args=$# fd3=$([ -e /proc/self/fd/3 ] && echo open || echo closed) set=$MBAM_TEST_VALUE" > ${report}; ` +
      `if fsfreeze -f ${fs.mountPoint} 2>/dev/null; then fsfreeze -u ${fs.mountPoint}; echo not-frozen >> ${report}; else echo frozen >> ${report}; fi`;
    const frozen = await FrozenFilesystems.freeze([fs.mountPoint], { deadlineMs: 10_000, command: { script, env: ['MBAM_TEST_VALUE=v1'], output: join(dir, 'out.log') } });
    const r = await frozen.waitForThaw();
    expect(r).toMatchObject({ reason: 'command-done', commandStatus: 0, thawErrors: 0 });
    expect(readFileSync(report, 'utf8')).toBe('args=0 fd3=closed set=v1\nfrozen\n');
    expect(writable(fs.mountPoint, 2000)).toBe(true);
  }, 60_000);

  it('it never runs when the freeze fails', async () => {
    const dir = tempDir();
    const marker = join(dir, 'ran');
    // tmpfs cannot be frozen (and without root nothing can): FIFREEZE fails either way.
    const err = await FrozenFilesystems.freeze(['/dev/shm'], { deadlineMs: 5000, command: { script: `touch ${marker}`, env: [], output: join(dir, 'out.log') } }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.message).toMatch(/FIFREEZE/);
    await sleep(200);
    expect(existsSync(marker)).toBe(false);
  });
});
