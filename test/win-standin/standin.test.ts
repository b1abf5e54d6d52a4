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
import { WINE, winePath } from '../support/windows-node.js';
// @ts-expect-error -- plain .mjs helpers without type declarations
import { oracle } from './vtable-oracle.mjs';
// @ts-expect-error -- plain .mjs helpers without type declarations
import { build } from './build.mjs';
import { until } from '../support/until.js';

const clang = prereq(hasCommand('clang++-16'), 'clang-16 (apt-get install clang-16)');
const toolchain = prereq(
  hasCommand('clang++-16') && hasCommand('lld-link-16') && existsSync('/usr/x86_64-w64-mingw32/lib/libkernel32.a'),
  'clang-16, lld-16 and MinGW-w64 import libraries (apt-get install clang-16 lld-16 g++-mingw-w64-x86-64)',
);
const wine = prereq(toolchain.ok && existsSync(WINE), `${toolchain.reason}; Wine (apt-get install wine64)`);

type Line = Record<string, unknown> & { ev?: string; seq?: number; tid?: number };
const readLines = (f: string): Line[] =>
  existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Line) : [];

let out: { dll: string; client: string; outDir: string };
const prefix = join(tmpdir(), 'mbam-vss-standin-wineprefix');

interface Run { log: Line[]; client: Line[]; exitCode: number | null }
async function runClient(name: string, scenario: string, env: Record<string, string>, deadlineMs = 150_000): Promise<Run> {
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
      MBAM_STANDIN_LOG: winePath(logFile),
      MBAM_STANDIN_SCENARIO: winePath(join(dir, 'scenario.txt')),
      MBAM_STANDIN_STORE: winePath(store),
      STANDIN_CLIENT_LOG: winePath(clientFile),
      ...env,
    },
  });
  let exitCode: number | null | undefined;
  child.on('exit', (c) => (exitCode = c));
  // The client writes {"client":"exit"} as its last act; poll for it (first Wine start may be slow).
  // A hung client (e.g. a deadlocked Unsubscribe) is killed so it does not outlive the test.
  try {
    await until(`${name}: client exit line`, () => (readLines(clientFile).some((l) => l['client'] === 'exit') ? true : undefined), deadlineMs);
    await until(`${name}: process exit`, () => (exitCode === undefined ? undefined : true), 30_000);
  } catch (e) {
    if (exitCode === undefined) child.kill('SIGKILL');
    throw e;
  }
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
    // The requester releases its object after the abort: BackupShutdown (handling-backupshutdown-events.md).
    expect(delivered(r.log)).toEqual(['Identify', 'PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Thaw', 'Abort', 'BackupShutdown']);
    const last = r.log.filter((l) => l.ev === 'writerState').at(-1)!;
    expect([last['name'], last['hr']]).toEqual(['VSS_WS_FAILED_AT_THAW', '0x800423F3']);
  }, 200_000);

  itRequires(wine, 'Freeze->Thaw timeout: timer from Freeze receipt, FAILED_AT_FREEZE/TIMEOUT, Abort only after OnFreeze returned, OnThaw time not counted', async () => {
    const ms = (log: Line[], pred: (l: Line) => boolean): number => log.find(pred)!['ms'] as number;
    const freezeDelivered = (l: Line): boolean => l.ev === 'deliver' && l['event'] === 'Freeze';
    // Thaw held far past the window: the timer fires at expiry (~300 ms after Freeze), not after the hold.
    const held = await runClient('hold', 'step backup freezeHold=3000\n', { CLIENT_TIMEOUT_FREEZE: '300', CLIENT_WAIT_MS: '20000' });
    expect(delivered(held.log)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Abort', 'BackupShutdown']);
    const heldTimeout = held.log.find((l) => l.ev === 'freezeTimeout')!;
    expect(heldTimeout['phase']).toBe('ThawNotSentInTime');
    const heldAfter = (heldTimeout['ms'] as number) - ms(held.log, freezeDelivered);
    expect(heldAfter).toBeGreaterThanOrEqual(250);
    expect(heldAfter).toBeLessThan(1500);
    let last = held.log.filter((l) => l.ev === 'writerState').at(-1)!;
    expect([last['name'], last['hr']]).toEqual(['VSS_WS_FAILED_AT_FREEZE', '0x800423F2']);
    // OnFreeze overruns: timeout at expiry, but Abort only once OnFreeze has returned.
    const slow = await runClient('slowfreeze', 'step backup\n', { CLIENT_TIMEOUT_FREEZE: '300', CLIENT_FREEZE_SLEEP: '900', CLIENT_WAIT_MS: '20000' });
    expect(delivered(slow.log)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Abort', 'BackupShutdown']);
    const slowTimeout = slow.log.find((l) => l.ev === 'freezeTimeout')!;
    expect(slowTimeout['phase']).toBe('OnFreezeStillRunning');
    expect((slowTimeout['ms'] as number) - ms(slow.log, freezeDelivered)).toBeLessThan(800);
    const freezeReturn = slow.log.find((l) => l.ev === 'return' && l['event'] === 'Freeze')!.seq!;
    const abortDeliver = slow.log.find((l) => l.ev === 'deliver' && l['event'] === 'Abort')!.seq!;
    expect(freezeReturn).toBeLessThan(abortDeliver);
    last = slow.log.filter((l) => l.ev === 'writerState').at(-1)!;
    expect([last['name'], last['hr']]).toEqual(['VSS_WS_FAILED_AT_FREEZE', '0x800423F2']);
    // A slow OnThaw is not a timeout: the window ends when Thaw is received.
    const slowThaw = await runClient('slowthaw', 'step backup\n', { CLIENT_TIMEOUT_FREEZE: '300', CLIENT_THAW_SLEEP: '900', CLIENT_WAIT_MS: '20000' });
    expect(delivered(slowThaw.log)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Thaw', 'PostSnapshot', 'BackupComplete', 'BackupShutdown']);
    expect(slowThaw.log.some((l) => l.ev === 'freezeTimeout')).toBe(false);
    expect(states(slowThaw.log).at(-1)).toBe('VSS_WS_STABLE');
  }, 300_000);

  itRequires(wine, 'aborts and BackupShutdown: no Abort for a PrepareForSnapshot veto, BackupShutdown after vetoes and aborts, doubleAbort', async () => {
    const nullId = '00000000-0000-0000-0000-000000000000';
    const pfs = await runClient('vetopfs', 'step backup\n', { CLIENT_VETO: 'PrepareForSnapshot', CLIENT_WAIT_MS: '20000' });
    expect(delivered(pfs.log)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'BackupShutdown']);
    expect(pfs.log.some((l) => l.ev === 'abort')).toBe(false);
    expect(pfs.log.find((l) => l.ev === 'deliver' && l['event'] === 'BackupShutdown')?.['why']).toBe('requesterReleased');
    expect(note(pfs, 'OnBackupShutdown')?.['detail']).toBe(nullId);  // no shadow copy was made
    const pfsAbort = await runClient('vetopfsabort', 'step backup abortAfter=PrepareForSnapshot\n', { CLIENT_VETO: 'PrepareForSnapshot', CLIENT_WAIT_MS: '20000' });
    expect(delivered(pfsAbort.log)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Abort', 'BackupShutdown']);
    expect(pfsAbort.log.find((l) => l.ev === 'abort')?.['reason']).toBe('requesterAbortBackup');
    const pfb = await runClient('vetopfb', 'step backup\n', { CLIENT_VETO: 'PrepareForBackup', CLIENT_WAIT_MS: '20000' });
    expect(delivered(pfb.log)).toEqual(['PrepareForBackup', 'BackupShutdown']);
    const twice = await runClient('doubleabort', 'set doubleAbort 1\nstep backup\n', { CLIENT_VETO: 'Freeze', CLIENT_WAIT_MS: '20000' });
    expect(delivered(twice.log)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Abort', 'Abort', 'BackupShutdown']);
    expect(twice.log.filter((l) => l.ev === 'deliver' && l['event'] === 'Abort').map((l) => l['why'])).toEqual(['writerVeto', 'doubleAbort']);
    expect(twice.client.filter((l) => l['client'] === 'OnAbort')).toHaveLength(2);
  }, 300_000);

  itRequires(wine, 'writer failures: Identify veto is no violation and drops the metadata; SetWriterFailure(Ex)(S_OK) is success', async () => {
    const id = await runClient('identifyveto', 'step identify\n', { CLIENT_REQUESTER: '1', CLIENT_IDENTIFY_VETO_FROM: '2', CLIENT_WAIT_MS: '20000' });
    const idReturns = id.log.filter((l) => l.ev === 'return' && l['event'] === 'Identify');
    expect(idReturns.map((l) => [l['result'], l['violation']])).toEqual([[true, null], [false, null]]);
    expect(note(id, 'writerMetadataCount')?.['hr']).toBe('0x00000000');  // earlier metadata dropped
    expect(note(id, 'writerStatus')?.['hr']).toBe('0x00000006');  // VSS_WS_FAILED_AT_IDENTIFY
    const ok = await runClient('swfok', 'step backup\n', { CLIENT_SWF_OK: '1', CLIENT_WAIT_MS: '20000' });
    const ex = ok.log.find((l) => l.ev === 'IVssWriterImpl.SetWriterFailureEx')!;
    expect([ex['hr'], ex['meansSuccess'], ex['hrApplication'], ex['applicationMessage'], ex['event'], ex['violation']])
      .toEqual(['0x00000000', true, '0x80070005', 'app says fine', 'PrepareForBackup', null]);
    const plain = ok.log.find((l) => l.ev === 'IVssWriterImpl.SetWriterFailure')!;
    expect([plain['hr'], plain['meansSuccess'], plain['event']]).toEqual(['0x00000000', true, 'PrepareForSnapshot']);
    expect(ok.log.filter((l) => l.ev === 'return').every((l) => l['failureSet'] === false)).toBe(true);
    expect(states(ok.log).filter((n) => n.includes('FAILED'))).toEqual([]);
    expect(states(ok.log)).toContain('VSS_WS_WAITING_FOR_FREEZE');
  }, 300_000);

  itRequires(wine, 'backup metadata lives on the component for the whole backup; GetCurrentSnapshotSetId misuse is logged', async () => {
    const r = await runClient('compmeta', 'component FILEGROUP MBAM RecoveryDB\nstep backup\n', { CLIENT_METADATA_PROBE: '1', CLIENT_SSID_PROBE: '1', CLIENT_WAIT_MS: '20000' });
    expect(note(r, 'SetBackupMetadata.again')?.['hr']).toBe('0x8004230D');
    expect(note(r, 'GetBackupMetadata.PostSnapshot')?.['detail']).toBe('stamp-1');
    expect(note(r, 'GetBackupMetadata.BackupComplete')?.['detail']).toBe('stamp-1');
    expect(note(r, 'GetBackupStamp')?.['detail']).toBe('lsn-1');
    const ssid = r.log.filter((l) => l.ev === 'IVssWriterImpl.GetCurrentSnapshotSetId');
    expect(ssid.map((l) => [l['event'], l['violation']])).toEqual([
      ['PrepareForBackup', null], ['BackupComplete', 'afterPostSnapshot'], ['BackupShutdown', 'inBackupShutdown'], [null, 'noEventInProgress'],
    ]);
    expect(ssid.every((l) => l['answer'] === '5A3B4C1D-0000-4000-8000-00000000C0DE')).toBe(true);
  }, 200_000);

  itRequires(wine, 'restore events: VSS_WRE_NEVER skips unless restoreEventsDespiteNever; IF_REPLACE_FAILS sends PostRestore only after a failed restore', async () => {
    const run = async (name: string, extra: string, wre: string): Promise<string[]> =>
      delivered((await runClient(name, `${extra}step identify\nstep restore\n`, { CLIENT_WRE: wre, CLIENT_WAIT_MS: '20000' })).log);
    expect(await run('wrenever', '', '1')).toEqual(['Identify']);
    expect(await run('wreneveranyway', 'set restoreEventsDespiteNever 1\n', '1')).toEqual(['Identify', 'PreRestore', 'PostRestore']);
    expect(await run('wreifok', '', '2')).toEqual(['Identify', 'PreRestore']);
    expect(await run('wreiffailed', 'set restoreFailed 1\n', '2')).toEqual(['Identify', 'PreRestore', 'PostRestore']);
  }, 300_000);

  itRequires(wine, 'Unsubscribe from inside a handler is logged and does not wait for the event in flight', async () => {
    // A VSS that waits for the in-flight handler here deadlocks: the client would never exit.
    const r = await runClient('unsubinhandler', 'step backup\n', { CLIENT_UNSUBSCRIBE_IN: 'PostSnapshot', CLIENT_WAIT_MS: '20000' }, 60_000);
    expect(r.exitCode).toBe(0);
    const begin = r.log.find((l) => l.ev === 'IVssWriterImpl.Unsubscribe' && l['phase'] === 'begin')!;
    expect([begin['violation'], begin['event']]).toEqual(['unsubscribeFromHandler', 'PostSnapshot']);
    const end = r.log.find((l) => l.ev === 'IVssWriterImpl.Unsubscribe' && l['phase'] === 'end')!;
    expect(end['waitedForInFlight']).toBe(false);
    const postSnapshotReturn = r.log.find((l) => l.ev === 'return' && l['event'] === 'PostSnapshot')!;
    expect(end.seq!).toBeLessThan(postSnapshotReturn.seq!);
    expect(note(r, 'UnsubscribeFromHandler')?.['hr']).toBe('0x00000000');
    expect(delivered(r.log)).toEqual(['PrepareForBackup', 'PrepareForSnapshot', 'Freeze', 'Thaw', 'PostSnapshot']);
  }, 200_000);

  itRequires(wine, 'legacy libvssapi.a exports load and log legacyExportUsed with E_NOTIMPL', async () => {
    const r = await runClient('legacy', '', { STANDIN_CLIENT_MODE: 'legacy' });
    expect(r.exitCode).toBe(0);
    expect(r.log.filter((l) => l.ev === 'legacyExportUsed').map((l) => [l['export'], l['hr']])).toEqual([
      ['??0CVssWriter@@QEAA@XZ', '0x80004001'], ['?Subscribe@CVssWriter@@QEAAJK@Z', '0x80004001'],
      ['?GetCurrentSnapshotSetId@CVssWriter@@IEBA?AU_GUID@@XZ', '0x80004001'], ['CreateWriterEx', '0x80004001'],
      ['CreateVssExamineWriterMetadataInternal', '0x80004001'],
    ]);
    const hr = (what: string): unknown => note(r, what)?.['hr'];
    expect(hr('legacy.ctorReturnsThis')).toBe('0x00000000');
    expect(hr('legacy.Subscribe')).toBe('0x80004001');
    expect(hr('legacy.GetCurrentSnapshotSetId')).toBe('0x00000000');
    expect(hr('legacy.CreateWriterEx')).toBe('0x80004001');
    expect(hr('legacy.CreateWriterEx.outNull')).toBe('0x00000000');
    expect(hr('legacy.CreateVssExamineWriterMetadataInternal')).toBe('0x80004001');
  }, 200_000);

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
    expect(hr('GatherWriterMetadata.again')).toBe('0x80042301');  // only once per IVssBackupComponents
    expect(r.log.find((l) => l.ev === 'backup.GatherWriterMetadata' && l['refused'] === 'calledTwice')?.['hr']).toBe('0x80042301');
    expect(hr('writerMetadataCount')).toBe('0x00000001');  // no second listing
    expect(note(r, 'examine.identity')?.['detail']).toBe('MbamExpress');
    expect(note(r, 'examine.xml')?.['detail']).toContain('<RESTORE_METHOD method="RESTORE_IF_CAN_BE_REPLACED" writerRestore="never"');
    expect(hr('Unregister')).toBe('0x00000000');
    expect(hr('Unregister.again')).toBe('0x80042308');
    expect(hr('LoadMetadata.database')).toBe('0x80042311');  // VSS_E_INVALID_XML_DOCUMENT, the only documented error
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
    expect(hr('Wait.timeout')).toBe('0x00000000');  // default for a timed-out Wait
  }, 200_000);

  itRequires(wine, 'a gather finishing after Cancel delivers nothing; the timed-out Wait result is a scenario option', async () => {
    const r = await runClient('latecancel', 'gather delay 1500\nset waitTimeoutHr 0x00042309\n', {
      STANDIN_CLIENT_MODE: 'cancel', CLIENT_WAIT_MS: '300', CLIENT_AFTER_CANCEL_SLEEP: '3000',
    });
    const hr = (what: string): unknown => note(r, what)?.['hr'];
    expect(hr('Wait.timeout')).toBe('0x00042309');
    expect(hr('Cancel')).toBe('0x00000000');
    expect(r.log.find((l) => l.ev === 'backup.gatherDiscarded')?.['why']).toBe('cancelled');
    expect(r.log.some((l) => l.ev === 'backup.gathered')).toBe(false);
    expect(hr('GetWriterMetadataCount.afterCancel')).toBe('0x80042301');
  }, 200_000);
});
