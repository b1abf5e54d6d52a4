/**
 * OUR hosted writer and requester (Windows Node + the MinGW-built addon, loaded through the
 * package's dist/) against the independent vssapi.dll stand-in (test/win-standin), under Wine.
 * The stand-in is built by clang for the MSVC ABI and calls our writer through CVssWriter's MSVC
 * vtable on threads of its own, as vssapi.dll does; its JSON-lines log records every call and every
 * rule a writer or requester breaks. Wine starts are slow: each test is one Wine start with many
 * assertions.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect } from 'vitest';
import { hasCommand, itRequires, prereq } from '../support/prereq.js';
import { EXAMPLE_TOPOLOGY, REPO } from '../support/paths.js';
import { ensureWindowsPrebuild, runWithDeadline, WINE, windowsNode, winePath } from '../support/windows-node.js';
// @ts-expect-error -- plain .mjs helper without type declarations
import { build } from '../win-standin/build.mjs';

const standin = prereq(
  existsSync(WINE) && hasCommand('x86_64-w64-mingw32-g++-posix') && hasCommand('clang++-16') && hasCommand('lld-link-16'),
  'Wine, MinGW-w64, clang-16 and lld-16 (apt-get install wine64 g++-mingw-w64-x86-64 clang-16 lld-16)',
);

type Line = Record<string, unknown> & { ev: string; seq: number };
const readLog = (f: string): Line[] => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Line) : []);

// The driver, run by Windows Node. argv: distUrl topology stateDir outFile logFile mode
const DRIVER = `
import { readFileSync, writeFileSync } from 'node:fs';
const [distUrl, topology, stateDir, outFile, logFile, mode] = process.argv.slice(2);
const sub = (p) => distUrl.replace('index.js', p);
const out = { events: [], mode };
const log = () => { try { return readFileSync(logFile, 'utf8').split('\\n').filter(Boolean).map((l) => JSON.parse(l)); } catch { return []; } };
const until = async (what, pred, ms) => {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (log().some(pred)) return; await new Promise((r) => setTimeout(r, 50)); }
  throw new Error('timed out waiting for ' + what);
};
const settle = async (p) => { try { return { ok: true, value: await p }; } catch (e) { return { ok: false, error: e && e.toJSON ? e.toJSON() : String(e && e.stack || e) }; } };
try {
  const m = await import(distUrl);
  const { HostedWriter } = await import(sub('hosted/hosted-writer.js'));
  const { mbamWriterHandlers } = await import(sub('mbam/hosted-handlers.js'));
  const { resolveServer } = await import(sub('mbam/writer-definition.js'));
  const { readHistory } = await import(sub('mbam/history.js'));
  const native = (await import(sub('platform/native.js'))).windowsAddon();
  const topo = m.loadTopology(topology);
  const md = m.buildMbamWriterMetadata(topo, 'MBAM-REC01');
  // The stand-in's scenario names components by whitespace-separated tokens.
  md.components[0].componentName = 'MBAMRecovery';
  out.identity = md.identity;
  const mbam = mbamWriterHandlers({ server: resolveServer(topo, 'MBAM-REC01'), stateDir });
  let unsubscribing = false;
  const rec = (name, extra) => async (ctx) => {
    out.events.push({ name, snapshotSetId: ctx.snapshotSetId, backupType: ctx.backupType, components: ctx.components.map((c) => c.componentName), backupSucceeded: ctx.backupSucceeded ?? null });
    if (unsubscribing) { out.events.at(-1).duringUnsubscribe = true; await new Promise(() => {}); }
    if (extra) await extra(ctx);
  };
  const writer = new HostedWriter({
    metadata: md, freezeTimeoutMs: 20000, eventTimeoutMs: 20000,
    onPrepareBackup: rec('PrepareForBackup'), onPrepareSnapshot: rec('PrepareForSnapshot'), onFreeze: rec('Freeze'), onThaw: rec('Thaw'),
    onPostSnapshot: rec('PostSnapshot'), onAbort: rec('Abort'), onBackupComplete: rec('BackupComplete', (ctx) => mbam.onBackupComplete(ctx)),
    onBackupShutdown: rec('BackupShutdown'), onPreRestore: rec('PreRestore'), onPostRestore: rec('PostRestore'),
  });
  out.comBefore = native.comDiagnostics();
  out.subscribe = await settle(writer.subscribe());
  // Another thread, right after Subscribe returned (its worker thread has left COM by now).
  out.comAfterSubscribe = native.comDiagnostics();
  await until('scenarioIdle', (l) => l.ev === 'scenarioIdle', 60000);
  out.comWhileSubscribed = native.comDiagnostics();
  const p = m.openPlatform({ stateDir });
  if (mode === 'gatherNever') p.gatherTimeoutMs = 1500;
  const t0 = Date.now();
  out.listWriters = await settle(p.listWriters());
  out.listWritersMs = Date.now() - t0;
  unsubscribing = true;
  const t1 = Date.now();
  out.unsubscribe = await settle(writer.unsubscribe());
  out.unsubscribeMs = Date.now() - t1;
  out.comAfterUnsubscribe = native.comDiagnostics();
  out.history = readHistory(stateDir);
} catch (e) { out.fatal = String(e && e.stack || e); }
writeFileSync(outFile, JSON.stringify(out));
process.exit(0);
`;

const PREFIX = join(tmpdir(), 'mbam-vss-standin-node-prefix');
let node = '';
let dll = '';
const baseEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  WINEPREFIX: PREFIX,
  WINEDEBUG: '-all',
  // Native before builtin: the stand-in in this prefix's system32 replaces Wine's stub.
  WINEDLLOVERRIDES: 'vssapi=n,b;mscoree,mshtml=',
  NODE_SKIP_PLATFORM_CHECK: '1',
  PREBUILDS_ONLY: '1',
});

interface Out {
  fatal?: string;
  identity: { friendlyName: string; instanceName: string };
  events: { name: string; snapshotSetId: string; backupType: string; components: string[]; backupSucceeded: boolean | null; duringUnsubscribe?: boolean }[];
  subscribe: { ok: boolean; error?: unknown };
  listWriters: { ok: boolean; value?: { writerId: string; instanceName?: string }[]; error?: { name: string; hresult: number; message: string } };
  listWritersMs: number;
  unsubscribe: { ok: boolean };
  unsubscribeMs: number;
  comBefore: Com;
  comAfterSubscribe: Com;
  comWhileSubscribed: Com;
  comAfterUnsubscribe: Com;
  history: { by: string; components: string[] }[];
}
interface Com { hr: number; apartment: number; qualifier: number; exceptionHandling: number }

async function drive(name: string, scenario: string, mode = 'normal'): Promise<{ out: Out; log: Line[] }> {
  const dir = mkdtempSync(join(tmpdir(), `mbam-standin-${name}-`));
  writeFileSync(join(dir, 'driver.mjs'), DRIVER);
  writeFileSync(join(dir, 'scenario.txt'), scenario);
  const outFile = join(dir, 'out.json');
  const logFile = join(dir, 'log.jsonl');
  const env = { ...baseEnv(), MBAM_STANDIN_LOG: winePath(logFile), MBAM_STANDIN_SCENARIO: winePath(join(dir, 'scenario.txt')), MBAM_STANDIN_STORE: winePath(join(dir, 'store')) };
  mkdirSync(join(dir, 'store'));
  const distUrl = 'file:///' + winePath(join(REPO, 'dist', 'index.js')).replace(/\\/g, '/');
  const code = await runWithDeadline(WINE, [node, winePath(join(dir, 'driver.mjs')), distUrl, winePath(EXAMPLE_TOPOLOGY), winePath(join(dir, 'state')), winePath(outFile), winePath(logFile), mode], env, 240_000);
  expect(existsSync(outFile), `Windows Node exited ${code} without writing its result (log: ${logFile})`).toBe(true);
  const out = JSON.parse(readFileSync(outFile, 'utf8')) as Out;
  expect(out.fatal).toBeUndefined();
  return { out, log: readLog(logFile) };
}

const delivered = (log: Line[]) => log.filter((l) => l.ev === 'deliver').map((l) => `${l['event']}${l['why'] === 'scenario' ? '' : `(${l['why']})`}`);
const APTTYPE_MTA = 1;
const APTTYPEQUALIFIER_IMPLICIT_MTA = 1;
const COMGLB_EXCEPTION_DONOT_HANDLE = 1;

describe('our hosted writer and requester against the vssapi.dll stand-in (Wine)', () => {
  beforeAll(async () => {
    if (!standin.ok) return;
    await ensureWindowsPrebuild(REPO);
    node = await windowsNode();
    dll = (build(mkdtempSync(join(tmpdir(), 'mbam-standin-build-'))) as { dll: string }).dll;
    // A prefix of its own, made once; the stand-in goes where LoadLibraryEx(SEARCH_SYSTEM32) looks.
    if (!existsSync(join(PREFIX, 'system.reg'))) await runWithDeadline(WINE, [node, '-e', '0'], baseEnv(), 180_000);
    copyFileSync(dll, join(PREFIX, 'drive_c', 'windows', 'system32', 'vssapi.dll'));
  }, 600_000);

  itRequires(standin, 'a full backup and restore: SDK-order Initialize, MTA kept, context, restore events, requester, Unsubscribe with an event in flight', async () => {
    const { out, log } = await drive('backup', [
      'set snapshotSetId 11111111-2222-3333-4444-555555555555',
      'set backupType 1',
      'component FILEGROUP Recovery MBAMRecovery',
      'step identify',
      'step backup',
      'step restore',
      'step waitUnsubscribe',
      'onUnsubscribe Freeze',
    ].join('\n'));
    expect(out.subscribe).toEqual({ ok: true });
    // Initialize as the SDK's CVssWriter::Initialize calls it: the instance name third, versions 0.0.
    const init = log.find((l) => l.ev === 'IVssWriterImpl.Initialize')!;
    expect(init).toMatchObject({ writerId: 'AAF1BBF5-9B9F-4D72-B82D-5CCDDC74336D', writerName: out.identity.friendlyName, instanceName: 'MBAM on MBAM-REC01', major: 0, minor: 0, usage: 3, source: 3, timeoutFreeze: 20000, hr: '0x00000000' });
    expect(log.find((l) => l.ev === 'IVssWriterImpl.Subscribe')).toMatchObject({ flags: 6, supportedMask: true, hr: '0x00000000' });
    // Defect 1: the MTA outlives the subscribing worker thread, and is released after Unsubscribe.
    expect(out.comBefore.hr).not.toBe(0);
    expect(out.comAfterSubscribe).toMatchObject({ hr: 0, apartment: APTTYPE_MTA, qualifier: APTTYPEQUALIFIER_IMPLICIT_MTA });
    expect(out.comWhileSubscribed).toMatchObject({ hr: 0, apartment: APTTYPE_MTA });
    expect(out.comAfterUnsubscribe.hr).not.toBe(0);
    // Defect 9 (COM exception handling off): Wine's IGlobalOptions accepts Set but its Query does not
    // report the value (it answers 0), so only "COM answered" is checkable here; validate.ps1 checks
    // the real value on Windows.
    expect([0, COMGLB_EXCEPTION_DONOT_HANDLE]).toContain(out.comWhileSubscribed.exceptionHandling);
    // Every event arrived, through the MSVC vtable, on the stand-in's threads; defect 5: the restore
    // events too (writerRestore ALWAYS in the hosted writer's metadata).
    expect(delivered(log)).toEqual([
      'Identify', 'PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Thaw', 'PostSnapshot', 'BackupComplete', 'BackupShutdown',
      'PreRestore', 'PostRestore', 'Identify(GatherWriterMetadata)', 'Freeze(duringUnsubscribe)',
    ]);
    expect(log.find((l) => l.ev === 'writerMetadata')!['xml']).toContain('writerRestore="always"');
    expect(log.filter((l) => l['violation'])).toEqual([]);
    const returns = log.filter((l) => l.ev === 'return');
    expect(returns.slice(0, -1).every((l) => l['result'] === true)).toBe(true);
    // Defect 6: the handlers got VSS's context.
    expect(out.events.map((e) => e.name)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Thaw', 'PostSnapshot', 'BackupComplete', 'BackupShutdown', 'PreRestore', 'PostRestore']);
    // GetCurrentSnapshotSetId is asked only up to PostSnapshot (the stand-in logs any later call as a
    // violation, checked above): BackupComplete gets this backup's id, BackupShutdown its argument,
    // and a restore, which has no snapshot set, none.
    const RESTORE = ['PreRestore', 'PostRestore'];
    for (const e of out.events) expect(e.snapshotSetId, e.name).toBe(RESTORE.includes(e.name) ? '00000000-0000-0000-0000-000000000000' : '11111111-2222-3333-4444-555555555555');
    expect(out.events.find((e) => e.name === 'PrepareForBackup')).toMatchObject({ backupType: 'FULL', components: ['MBAMRecovery'] });
    expect(out.events.find((e) => e.name === 'BackupComplete')).toMatchObject({ components: ['MBAMRecovery'], backupSucceeded: true });
    expect(out.history).toHaveLength(1);
    expect(out.history[0]).toMatchObject({ by: 'hosted-writer', components: ['MBAMRecovery'] });
    // Defect 9: the requester sets the backup state before gathering; it sees our writer.
    expect(log.find((l) => l.ev === 'backup.SetBackupState')).toMatchObject({ beforeGatherWriterMetadata: true, hr: '0x00000000' });
    expect(out.listWriters.ok).toBe(true);
    expect(out.listWriters.value!.map((w) => [w.writerId, w.instanceName])).toContainEqual(['aaf1bbf5-9b9f-4d72-b82d-5ccddc74336d', 'MBAM on MBAM-REC01']);
    // Defect 4: an event arriving during Unsubscribe is answered at once (RETRYABLE, on its own
    // thread) without reaching a handler, and Unsubscribe does not wait out its 20 s deadline.
    expect(out.unsubscribe).toEqual({ ok: true });
    expect(out.events.some((e) => e.duringUnsubscribe)).toBe(false);
    const last = returns.at(-1)!;
    expect(last).toMatchObject({ event: 'Freeze', result: false, failureSet: true, failure: '0x800423F3' });
    expect(log.find((l) => l.ev === 'IVssWriterImpl.SetWriterFailure' && l['hr'] === '0x800423F3')).toMatchObject({ onEventThread: true, violation: null });
    const seq = (pred: (l: Line) => boolean) => log.find(pred)!.seq;
    expect(last.seq).toBeLessThan(seq((l) => l.ev === 'IVssWriterImpl.Unsubscribe' && l['phase'] === 'end'));
    expect(seq((l) => l.ev === 'IVssWriterImpl.Unsubscribe' && l['phase'] === 'end')).toBeLessThan(seq((l) => l.ev === 'IVssWriterImpl.Uninitialize'));
    expect(out.unsubscribeMs).toBeLessThan(15_000);
  }, 300_000);

  itRequires(standin, 'a COPY backup is not recorded; a requester step that never finishes is cancelled and reported', async () => {
    const { out, log } = await drive('copy', [
      'set backupType 5',
      'gather never',
      'component FILEGROUP Recovery MBAMRecovery',
      'step backup',
      'step waitUnsubscribe',
    ].join('\n'), 'gatherNever');
    expect(out.subscribe).toEqual({ ok: true });
    expect(out.events.find((e) => e.name === 'BackupComplete')).toMatchObject({ backupType: 'COPY', components: ['MBAMRecovery'], backupSucceeded: true });
    // Defect 6: a COPY backup is not the backup of record.
    expect(out.history).toEqual([]);
    // Defect 9: the pending GatherWriterMetadata is cancelled, and the listing fails.
    expect(log.find((l) => l.ev === 'async.Wait')).toMatchObject({ timedOut: true });
    expect(log.find((l) => l.ev === 'async.Cancel')).toMatchObject({ op: 'GatherWriterMetadata', hr: '0x00000000' });
    expect(out.listWriters.ok).toBe(false);
    expect(out.listWriters.error).toMatchObject({ name: 'VSS_E_WRITER_NOT_RESPONDING' });
    expect(out.listWritersMs).toBeLessThan(60_000);
    expect(out.unsubscribe).toEqual({ ok: true });
  }, 300_000);
});
