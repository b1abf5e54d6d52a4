import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEventBridge, type NativeEventBridge } from '../../src/hosted/bridge.js';
import { loopbackRun } from '../support/loopback.js';
import { EVENT_HANDLER, type WriterEvent } from '../../src/vss/writer-events.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { REPO } from '../support/paths.js';
import { tempDir } from '../support/state.js';
import { execAsync } from '../support/exec.js';
import { itRequires, prereq } from '../support/prereq.js';

const BACKUP: WriterEvent[] = ['Identify', 'PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Thaw', 'PostSnapshot', 'BackupComplete', 'BackupShutdown'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function withBridge<T>(dispatch: Parameters<typeof createEventBridge>[0], fn: (b: NativeEventBridge) => Promise<T>): Promise<T> {
  const b = createEventBridge(dispatch);
  return fn(b).finally(() => b.close());
}

/** The writer state VSS would report after a sequence of results. */
function finalState(results: { event: string; hr: number }[]): string {
  let state = 'STABLE';
  for (const r of results) {
    const spec = EVENT_HANDLER[r.event as WriterEvent];
    if (r.hr !== 0 && r.event !== 'Abort') state = spec.failedState;
    else if (r.hr === 0 && spec.doneState && !state.startsWith('FAILED')) state = spec.doneState;
  }
  return state;
}

describe('event bridge', () => {
  it('runs each event on the JS thread, in VSS order, and answers 0', async () => {
    const seen: [string, unknown][] = [];
    const r = await withBridge((event, payload) => void seen.push([event, payload]), (b) => loopbackRun(b, { events: BACKUP, timeoutMs: 5000, payload: { snapshotSetId: 's1' } }));
    expect(seen.map(([e]) => e)).toEqual(BACKUP);
    expect(seen[0]![1]).toEqual({ snapshotSetId: 's1' });
    expect(r.map((x) => x.hr)).toEqual(BACKUP.map(() => 0));
    expect(finalState(r)).toBe('STABLE');
  });

  it('maps throws and rejections to writer failure codes, then Abort and BackupShutdown follow', async () => {
    const r = await withBridge(
      async (event) => {
        if (event === 'PrepareForSnapshot') throw new VssError(HR.VSS_E_WRITERERROR_RETRYABLE, { message: 'database busy' });
      },
      (b) => loopbackRun(b, { events: BACKUP, timeoutMs: 5000 }),
    );
    expect(r.map((x) => [x.event, x.hr])).toEqual([
      ['Identify', 0], ['PrepareForBackup', 0], ['PrepareForSnapshot', HR.VSS_E_WRITERERROR_RETRYABLE], ['Abort', 0], ['BackupShutdown', 0],
    ]);
    expect(finalState(r)).toBe('FAILED_AT_PREPARE_SNAPSHOT');
    const plain = await withBridge((event) => { if (event === 'Thaw') throw new Error('oops'); }, (b) => loopbackRun(b, { events: BACKUP, timeoutMs: 5000 }));
    expect(plain.find((x) => x.event === 'Thaw')!.hr).toBe(HR.VSS_E_WRITERERROR_NONRETRYABLE);
  });

  it('a handler that never settles costs the calling thread exactly its deadline: TIMEOUT, FAILED_AT_FREEZE', async () => {
    const r = await withBridge((event) => (event === 'Freeze' ? new Promise(() => {}) : undefined), (b) => loopbackRun(b, { events: BACKUP, timeoutMs: 300 }));
    const freeze = r.find((x) => x.event === 'Freeze')!;
    expect(freeze.hr).toBe(HR.VSS_E_WRITERERROR_TIMEOUT);
    expect(freeze.elapsedMs).toBeGreaterThanOrEqual(299);
    expect(freeze.elapsedMs).toBeLessThan(300 + 150);
    expect(finalState(r)).toBe('FAILED_AT_FREEZE');
    expect(r.map((x) => x.event)).toEqual(['Identify', 'PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Abort', 'BackupShutdown']);
  });

  it('takes overlapping calls: Identify arrives from another thread during a backup', async () => {
    let inFreeze = 0;
    let identifyDuringFreeze = false;
    const bridge = createEventBridge(async (event) => {
      if (event === 'Freeze') {
        inFreeze++;
        await sleep(200);
        inFreeze--;
      }
      if (event === 'Identify' && inFreeze) identifyDuringFreeze = true;
    });
    try {
      const backupRun = loopbackRun(bridge, { events: BACKUP, timeoutMs: 5000 });
      await sleep(50);
      const identify = await loopbackRun(bridge, { events: ['Identify'], timeoutMs: 5000, threads: 4, iterations: 5 });
      expect(identify.every((x) => x.hr === 0)).toBe(true);
      expect((await backupRun).every((x) => x.hr === 0)).toBe(true);
      expect(identifyDuringFreeze).toBe(true);
    } finally {
      bridge.close();
    }
  });

  it('closing the bridge fails a waiting call at once instead of hanging it', async () => {
    const bridge = createEventBridge(() => new Promise(() => {}));
    const run = loopbackRun(bridge, { events: ['Freeze'], timeoutMs: 60_000 });
    await sleep(100);
    expect(bridge.pending()).toBe(1);
    const t0 = Date.now();
    bridge.close();
    const [r] = await run;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(r!.hr).toBe(HR.VSS_E_WRITERERROR_RETRYABLE);
    const again = await loopbackRun(bridge, { events: ['Identify'], timeoutMs: 1000 });
    expect(again[0]!.hr).toBe(HR.VSS_E_WRITERERROR_RETRYABLE);
  });

  it('ten thousand events with random delays, throws and timeouts: each ends as VSS would say, nothing leaks', async () => {
    // In a child with --expose-gc, so that the collector can be made to run before counting.
    checkSoak(await runSoak({}));
  }, 120_000);

  itRequires(asan, 'the same soak runs clean with the addon built under AddressSanitizer', async () => {
    await execAsync(process.execPath, [join(REPO, 'scripts', 'build-asan.mjs')]);
    // Any use-after-free or overflow in the bridge aborts the child (abort_on_error), failing this.
    checkSoak(await runSoak({ LD_PRELOAD: LIBASAN, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', MBAM_VSS_NATIVE_ADDON: join(REPO, 'build-asan', 'mbam_vss.node') }));
  }, 300_000);
});

const LIBASAN = (() => {
  try {
    return execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
})();
const asan = prereq(process.platform === 'linux' && LIBASAN.startsWith('/') && existsSync(LIBASAN), 'gcc with libasan (AddressSanitizer)');

function checkSoak(out: { n: number; badCodes: number; codes: Record<string, number>; abortAfterPost: boolean; pending: number; live: number }) {
  expect(out.n).toBeGreaterThan(10_000);
  expect(out.badCodes).toBe(0);
  expect(out.codes[HR.VSS_E_WRITERERROR_TIMEOUT]).toBeGreaterThan(100);
  expect(out.codes[HR.VSS_E_WRITERERROR_RETRYABLE]).toBeGreaterThan(100);
  expect(out.abortAfterPost).toBe(false);
  expect(out.pending).toBe(0);
  expect(out.live).toBe(0); // every call's shared state was freed, late answers included
}

async function runSoak(env: Record<string, string>) {
  {
    const dir = tempDir();
    const script = join(dir, 'soak.mjs');
    writeFileSync(
      script,
      `const { createEventBridge } = await import(${JSON.stringify(join(REPO, 'dist', 'hosted', 'bridge.js'))});
       const { loadNative } = await import(${JSON.stringify(join(REPO, 'dist', 'platform', 'native.js'))});
       const addon = loadNative();
       const loopbackRun = (b, o) => addon.loopbackRun(b, { ...o, payload: '{}' });
       const { VssError } = await import(${JSON.stringify(join(REPO, 'dist', 'vss', 'errors.js'))});
       const EVENTS = ['Identify','PrepareForBackup','PrepareForSnapshot','Freeze','Thaw','PostSnapshot','BackupComplete','BackupShutdown'];
       let seed = 42; const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
       const expected = new Map();
       const bridge = createEventBridge(async (event, payload) => {
         const r = rnd();
         if (r < 0.1) { await new Promise((res) => setTimeout(res, 30)); return; }       // late: times out (deadline 20 ms)
         if (r < 0.2) throw new VssError(0x800423F3, { message: 'x' });                   // retryable
         if (r < 0.25) throw new Error('plain');                                          // nonretryable
         if (r < 0.5) await new Promise((res) => setTimeout(res, 1));                      // slow but in time
       });
       const results = await loopbackRun(bridge, { events: EVENTS, timeoutMs: 20, threads: 8, iterations: 300 });
       const codes = {}; for (const r of results) codes[r.hr] = (codes[r.hr] || 0) + 1;
       await new Promise((r) => setTimeout(r, 100));
       bridge.close();
       for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
       console.log(JSON.stringify({ n: results.length, codes, live: addon.liveObjects().bridgeCalls, pending: bridge.pending(),
         badCodes: results.filter((r) => ![0, 0x800423F2, 0x800423F3, 0x800423F4].includes(r.hr)).length,
         abortAfterPost: results.some((r, i) => r.event === 'Abort' && ['PostSnapshot','BackupComplete'].includes(results[i-1]?.event)) }));`,
    );
    return JSON.parse((await execAsync(process.execPath, ['--expose-gc', script], { timeout: 240_000, env: { ...process.env, ...env } })).trim());
  }
}
