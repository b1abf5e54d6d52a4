/**
 * Self-test of the vssapi.dll stand-in (test-only): the MSVC-ABI oracle, then the stand-in DLL
 * loaded under Wine by a client built by clang for the MSVC ABI that subclasses the SDK's
 * CVssWriter (test/win-standin/cvsswriter_sdk.h). Asserts on the stand-in's JSON-lines log.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect } from 'vitest';
import { hasCommand, itRequires, prereq } from '../support/prereq.js';
import { WINE } from '../support/windows-node.js';
// @ts-expect-error -- plain .mjs helpers without type declarations
import { oracle } from './vtable-oracle.mjs';
// @ts-expect-error -- plain .mjs helpers without type declarations
import { build } from './build.mjs';

const clang = prereq(hasCommand('clang++-16'), 'clang-16 (apt-get install clang-16)');
const toolchain = prereq(
  hasCommand('clang++-16') && hasCommand('lld-link-16') && existsSync('/usr/x86_64-w64-mingw32/lib/libkernel32.a'),
  'clang-16, lld-16 and MinGW-w64 import libraries (apt-get install clang-16 lld-16 g++-mingw-w64-x86-64)',
);
const wine = prereq(toolchain.ok && existsSync(WINE), `${toolchain.reason}; Wine (apt-get install wine64)`);

type Line = Record<string, unknown> & { ev?: string; seq?: number; tid?: number };
const readLines = (f: string): Line[] =>
  existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Line) : [];
const winPath = (p: string): string => 'Z:' + p.replace(/\//g, '\\');

async function waitFor<T>(what: string, probe: () => T | undefined, deadlineMs: number): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let out: { dll: string; client: string; outDir: string };
const prefix = join(tmpdir(), 'mbam-vss-standin-wineprefix');

interface Run { log: Line[]; client: Line[]; exitCode: number | null }
async function runClient(name: string, scenario: string, env: Record<string, string>): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), `standin-${name}-`));
  copyFileSync(out.dll, join(dir, 'vssapi.dll'));
  copyFileSync(out.client, join(dir, 'standin_client.exe'));
  const store = join(dir, 'store');
  mkdirSync(store);
  writeFileSync(join(dir, 'scenario.txt'), scenario);
  const logFile = join(dir, 'log.jsonl');
  const clientFile = join(dir, 'client.jsonl');
  const child = spawn(WINE, ['standin_client.exe'], {
    cwd: dir,
    stdio: 'ignore',
    env: {
      ...process.env,
      WINEPREFIX: prefix,
      WINEDEBUG: '-all',
      WINEDLLOVERRIDES: 'vssapi=n,b;mscoree,mshtml=',
      MBAM_STANDIN_LOG: winPath(logFile),
      MBAM_STANDIN_SCENARIO: winPath(join(dir, 'scenario.txt')),
      MBAM_STANDIN_STORE: winPath(store),
      STANDIN_CLIENT_LOG: winPath(clientFile),
      ...env,
    },
  });
  let exitCode: number | null | undefined;
  child.on('exit', (c) => (exitCode = c));
  // The client writes {"client":"exit"} as its last act; poll for it (first Wine start may be slow).
  await waitFor(`${name}: client exit line`, () => (readLines(clientFile).some((l) => l['client'] === 'exit') ? true : undefined), 150_000);
  await waitFor(`${name}: process exit`, () => (exitCode === undefined ? undefined : true), 30_000);
  return { log: readLines(logFile), client: readLines(clientFile), exitCode: exitCode ?? null };
}
const delivered = (log: Line[]): string[] => log.filter((l) => l.ev === 'deliver').map((l) => l['event'] as string);
const states = (log: Line[]): string[] => log.filter((l) => l.ev === 'writerState').map((l) => l['name'] as string);
const note = (r: Run, what: string): Line | undefined => r.client.find((l) => l['client'] === what);

describe('MSVC ABI oracle (cvsswriter_sdk.h)', () => {
  itRequires(clang, 'lays out CVssWriter and IVssWriterImpl in SDK order and returns VSS_ID via RDX for members', () => {
    const o = oracle();
    expect(o.CVssWriter.slotCount).toBe(16);
    expect(o.CVssWriter.slots['0']).toMatch(/^~CVssWriter \[scalar deleting/);
    expect(Object.values(o.CVssWriter.slots).slice(1)).toEqual([
      'OnIdentify', 'OnPrepareBackup', 'OnPrepareSnapshot', 'OnFreeze', 'OnThaw', 'OnAbort', 'OnBackupComplete', 'OnBackupShutdown',
      'OnPreRestore', 'OnPostRestore', 'OnPostSnapshot', 'OnBackOffIOOnVolume', 'OnContinueIOOnVolume', 'OnVSSShutdown', 'OnVSSApplicationStartup',
    ]);
    expect(o.CVssWriter.pureSlots).toEqual([3, 4, 5, 6]);
    expect(o.CVssWriter.offsetof_m_pWriterImpl).toBe(8);
    expect(o.CVssWriter.sizeof).toBe(16);
    expect(o.IVssWriterImpl.slotCount).toBe(25);
    expect(Object.values(o.IVssWriterImpl.slots)).toEqual([
      'QueryInterface', 'AddRef', 'Release', 'Initialize', 'Subscribe', 'Unsubscribe', 'Uninitialize', 'GetCurrentVolumeArray',
      'GetCurrentVolumeCount', 'GetSnapshotDeviceName', 'GetCurrentSnapshotSetId', 'GetContext', 'GetCurrentLevel', 'IsPathAffected',
      'IsBootableSystemStateBackedUp', 'AreComponentsSelected', 'GetBackupType', 'GetRestoreType', 'SetWriterFailure',
      'IsPartialFileSupportEnabled', 'InstallAlternateWriter', 'GetIdentityInformation', 'SetWriterFailureEx', 'GetSessionId', 'IsWriterShuttingDown',
    ]);
    expect(o.structReturn.memberFunction.retBufferReg).toBe('rdx');
    expect(o.structReturn.memberFunction.raxIsRetBufferFrom).toBe('rdx');
    expect(o.structReturn.freeFunction.retBufferReg).toBe('rcx');
    expect(o.structReturn.virtualCallSite.retBufferRegAtCall).toBe('rdx');
    expect(o.guidByValueParam.firstParamPointerReg).toBe('rcx');
  }, 60_000);
});

describe('vssapi.dll stand-in under Wine', () => {
  beforeAll(() => {
    if (toolchain.ok) out = build(mkdtempSync(join(tmpdir(), 'standin-build-')));
  }, 120_000);

  itRequires(wine, 'delivers backup and restore events in VSS order on non-subscriber threads, Identify mid-backup and during Unsubscribe', async () => {
    const r = await runClient('order', [
      'set snapshotSetId 11111111-2222-3333-4444-555555555555',
      'component FILEGROUP MBAM RecoveryDB',
      'step identify',
      'step backup identifyAfter=Freeze',
      'step restore',
      'step waitUnsubscribe',
      'onUnsubscribe Identify',
    ].join('\n'), { CLIENT_REQUESTER: '1' });
    expect(r.exitCode).toBe(0);
    expect(delivered(r.log)).toEqual([
      'Identify', 'PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Identify', 'Thaw', 'PostSnapshot', 'BackupComplete', 'BackupShutdown',
      'PreRestore', 'PostRestore', 'Identify', 'Identify',
    ]);
    const sub = r.log.find((l) => l.ev === 'IVssWriterImpl.Subscribe')!;
    expect(sub['flags']).toBe(6);
    for (const d of r.log.filter((l) => l.ev === 'deliver')) {
      expect(d['onSubscriberThread']).toBe(false);
      expect(d.tid).not.toBe(sub.tid);
    }
    expect(states(r.log)).toEqual(expect.arrayContaining(['VSS_WS_WAITING_FOR_FREEZE', 'VSS_WS_WAITING_FOR_THAW', 'VSS_WS_WAITING_FOR_POST_SNAPSHOT', 'VSS_WS_WAITING_FOR_BACKUP_COMPLETE']));
    expect(note(r, 'snapshotSetIdSeenByWriter')?.['detail']).toBe('11111111-2222-3333-4444-555555555555');
    expect(note(r, 'OnBackupShutdown')?.['detail']).toBe('11111111-2222-3333-4444-555555555555');
    expect(note(r, 'componentSeen')?.['detail']).toBe('RecoveryDB');
    // An event arrives while Unsubscribe runs, and Unsubscribe returns only after it.
    const seq = (pred: (l: Line) => boolean): number => r.log.find(pred)!.seq!;
    const begin = seq((l) => l.ev === 'IVssWriterImpl.Unsubscribe' && l['phase'] === 'begin');
    const during = seq((l) => l.ev === 'deliver' && l['why'] === 'duringUnsubscribe');
    const end = seq((l) => l.ev === 'IVssWriterImpl.Unsubscribe' && l['phase'] === 'end');
    const ret = r.log.find((l) => l.ev === 'return' && l.seq! > during)!.seq!;
    expect(begin).toBeLessThan(during);
    expect(ret).toBeLessThan(end);
    // The requester in the same process sees the subscribed writer.
    expect(note(r, 'writerMetadataCount')?.['hr']).toBe('0x00000001');
    expect(r.log.find((l) => l.ev === 'backup.SetBackupState')?.['beforeGatherWriterMetadata']).toBe(true);
    const md = r.log.find((l) => l.ev === 'writerMetadata')!['xml'] as string;
    expect(md).toContain('<FILE_GROUP logicalPath="MBAM" componentName="RecoveryDB"');
    expect(md).toContain('usage="USER_DATA" dataSource="TRANSACTION_DB"');
  }, 200_000);

  itRequires(wine, 'checks SetWriterFailure threads: OnIdentify and foreign threads are violations; a Thaw veto aborts', async () => {
    const r = await runClient('swf', 'step identify\nstep backup\n', { CLIENT_SWF_IN_IDENTIFY: '1', CLIENT_FOREIGN_SWF: '1', CLIENT_VETO: 'Thaw', CLIENT_WAIT_MS: '20000' });
    const swf = r.log.filter((l) => l.ev === 'IVssWriterImpl.SetWriterFailure');
    expect(swf.map((l) => [l['event'], l['onEventThread'], l['violation']])).toEqual([
      ['Identify', true, 'fromOnIdentify'],
      ['Freeze', false, 'notOnEventThread'],
      ['Thaw', true, null],
    ]);
    expect(delivered(r.log)).toEqual(['Identify', 'PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Thaw', 'Abort']);
    const last = r.log.filter((l) => l.ev === 'writerState').at(-1)!;
    expect([last['name'], last['hr']]).toEqual(['VSS_WS_FAILED_AT_THAW', '0x800423F3']);
  }, 200_000);

  itRequires(wine, 'Freeze->Thaw timeout: OnAbort, FAILED_AT_THAW / FAILED_AT_FREEZE with VSS_E_WRITERERROR_TIMEOUT', async () => {
    const held = await runClient('hold', 'step backup freezeHold=600\n', { CLIENT_TIMEOUT_FREEZE: '300', CLIENT_WAIT_MS: '20000' });
    expect(delivered(held.log)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Abort']);
    expect(held.log.find((l) => l.ev === 'freezeTimeout')?.['phase']).toBe('ThawNotSentInTime');
    let last = held.log.filter((l) => l.ev === 'writerState').at(-1)!;
    expect([last['name'], last['hr']]).toEqual(['VSS_WS_FAILED_AT_THAW', '0x800423F2']);
    const slow = await runClient('slowfreeze', 'step backup\n', { CLIENT_TIMEOUT_FREEZE: '300', CLIENT_FREEZE_SLEEP: '900', CLIENT_WAIT_MS: '20000' });
    expect(delivered(slow.log)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Abort']);
    last = slow.log.filter((l) => l.ev === 'writerState').at(-1)!;
    expect([last['name'], last['hr']]).toEqual(['VSS_WS_FAILED_AT_FREEZE', '0x800423F2']);
  }, 300_000);

  itRequires(wine, 'express writer: refuses what Learn forbids, Register/Unregister errors, GatherWriterMetadata returns the registration', async () => {
    const r = await runClient('express', '', { STANDIN_CLIENT_MODE: 'express' });
    const hr = (what: string): unknown => note(r, what)?.['hr'];
    expect(hr('CreateMetadata.usageOther')).toBe('0x80070057');
    expect(hr('AddComponent.database')).toBe('0x80070057');
    expect(hr('AddComponent.notify')).toBe('0x80070057');
    expect(hr('AddComponent.duplicate')).toBe('0x8004230D');
    expect(hr('AddFilesToFileGroup.alternate')).toBe('0x80070057');
    expect(hr('AddFilesToFileGroup.missing')).toBe('0x80042308');
    expect(hr('SetRestoreMethod.custom')).toBe('0x80070057');
    expect(hr('SetRestoreMethod.always')).toBe('0x80070057');
    expect(hr('SetBackupSchema.differential')).toBe('0x80070057');
    expect(hr('Unregister.absent')).toBe('0x80042308');
    expect(hr('Register')).toBe('0x00000000');
    expect(hr('Register.again')).toBe('0x8004230D');
    expect(hr('GatherWriterMetadata.uninitialized')).toBe('0x80042301');
    expect(hr('QueryStatus')).toBe('0x0004230A');
    expect(hr('Cancel.afterFinish')).toBe('0x0004230A');
    expect(hr('writerMetadataCount')).toBe('0x00000001');
    expect(note(r, 'examine.identity')?.['detail']).toBe('MbamExpress');
    expect(note(r, 'examine.xml')?.['detail']).toContain('<RESTORE_METHOD method="RESTORE_IF_CAN_BE_REPLACED" writerRestore="never"');
    expect(hr('Unregister')).toBe('0x00000000');
    expect(hr('Unregister.again')).toBe('0x80042308');
    expect(hr('LoadMetadata.database')).toBe('0x80070057');
    expect(hr('Register.nothingLoaded')).toBe('0x80042301');
  }, 200_000);

  itRequires(wine, 'an async that never finishes: Wait times out, Cancel is recorded, VSS_S_ASYNC_CANCELLED after', async () => {
    const r = await runClient('cancel', 'gather never\n', { STANDIN_CLIENT_MODE: 'cancel', CLIENT_WAIT_MS: '300' });
    const hr = (what: string): unknown => note(r, what)?.['hr'];
    expect(hr('QueryStatus.beforeCancel')).toBe('0x00042309');
    expect(hr('Cancel')).toBe('0x00000000');
    expect(hr('QueryStatus.afterCancel')).toBe('0x0004230B');
    expect(hr('Cancel.again')).toBe('0x0004230B');
    expect(r.log.find((l) => l.ev === 'async.Wait')?.['timedOut']).toBe(true);
    expect(r.log.find((l) => l.ev === 'async.Release')?.['cancelCalled']).toBe(true);
  }, 200_000);
});
