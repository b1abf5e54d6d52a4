import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostedWriter } from '../../src/hosted/hosted-writer.js';
import { mbamWriterHandlers } from '../../src/mbam/hosted-handlers.js';
import { readHistory } from '../../src/mbam/history.js';
import { backup } from '../../src/requester/backup.js';
import type { WriterEventContext } from '../../src/vss/writer-events.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { fileList } from '../../src/vss/writer-metadata.js';
import { runCliAsync } from '../support/cli.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { mbamDatabases, serverFor } from '../support/sql.js';
import { tempDir } from '../support/state.js';
import { startTdsServer, type TdsServerHandle, type TdsServerOptions } from '../support/tds-server.js';

let tds: TdsServerHandle | undefined;
afterEach(async () => {
  await tds?.close();
  tds = undefined;
});
const ctx: WriterEventContext = { snapshotSetId: 's', backupType: 'FULL', components: [], log: () => {} };

async function handlers(opts: TdsServerOptions = {}, extra: Partial<Parameters<typeof mbamWriterHandlers>[0]> = {}) {
  tds = await startTdsServer({ databases: mbamDatabases(), certificates: ['MBAM Recovery Encryption Certificate'], ...opts });
  const stateDir = tempDir();
  return { stateDir, h: mbamWriterHandlers({ server: serverFor(tds), stateDir, ...extra }) };
}

describe('the MBAM writer as a hosted writer', () => {
  it('PrepareSnapshot passes when the databases are ONLINE and the certificate is there', async () => {
    const { h } = await handlers();
    await expect(h.onPrepareSnapshot!(ctx)).resolves.toBeUndefined();
  });

  it.each([
    ['a database is OFFLINE', { databases: [{ name: 'MBAM Recovery and Hardware', state: 'OFFLINE' }] }, HR.VSS_E_WRITERERROR_RETRYABLE, /is OFFLINE, not ONLINE/],
    ['the certificate is missing', { certificates: [] }, HR.VSS_E_WRITERERROR_NONRETRYABLE, /Encryption Certificate' is missing from master/],
    ['a database is missing', { databases: [] }, HR.VSS_E_WRITERERROR_NONRETRYABLE, /does not exist/],
    ['SQL Server refuses the login', { faults: { loginFails: true } }, HR.VSS_E_WRITERERROR_RETRYABLE, /Login failed/],
  ] as const)('PrepareSnapshot fails when %s', async (_n, opts, hr, msg) => {
    const { h } = await handlers(opts as TdsServerOptions);
    const err = await Promise.resolve(h.onPrepareSnapshot!(ctx)).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.hresult).toBe(hr);
    expect(err.message).toMatch(msg);
  });

  it('BackupComplete records the backup for health; restore commands run, and a failing one fails the event', async () => {
    const dir = tempDir();
    const { h, stateDir } = await handlers({}, { preRestoreCommand: `echo pre > ${dir}/pre`, postRestoreCommand: 'exit 3', commandTimeoutMs: 5000 });
    await h.onBackupComplete!({ ...ctx, components: [{ componentName: 'MBAM Recovery and Hardware' } as never] });
    expect(readHistory(stateDir)).toEqual([expect.objectContaining({ ok: true, by: 'hosted-writer', server: 'MBAM-DB1', components: ['MBAM Recovery and Hardware'] })]);
    await h.onPreRestore!(ctx);
    await expect(h.onPostRestore!(ctx)).rejects.toMatchObject({ hresult: HR.VSS_E_WRITERERROR_NONRETRYABLE, message: expect.stringMatching(/post-restore command failed \(exit 3\)/) });
  });

  it('a restore command that hangs is cut off at its timeout', async () => {
    const { h } = await handlers({}, { preRestoreCommand: 'sleep 30', commandTimeoutMs: 300 });
    const t0 = Date.now();
    await expect(h.onPreRestore!(ctx)).rejects.toMatchObject({ message: expect.stringMatching(/did not finish within 300 ms/) });
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});

describe('HostedWriter on POSIX', () => {
  it('the requester drives its handlers in-process; subscribe says VSS is Windows-only', async () => {
    const root = tempDir();
    const data = join(root, 'data');
    mkdirSync(data);
    writeFileSync(join(data, 'x'), 'x');
    const seen: string[] = [];
    const w = new HostedWriter({
      metadata: { version: '1.2', identity: { writerId: '3c3c3c3c-3c3c-4c3c-8c3c-3c3c3c3c3c3c', instanceId: '4d4d4d4d-4d4d-4d4d-8d4d-4d4d4d4d4d4d', friendlyName: 'Hosted', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 }, components: [{ type: 'FILEGROUP', componentName: 'c', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(data, '*')], dependencies: [] }], excludeFiles: [], excludeFilesFromSnapshot: [] },
      onFreeze: () => void seen.push('freeze'),
      onThaw: () => void seen.push('thaw'),
    });
    await backup({ to: join(root, 'set'), writers: [w], provider: 'copy' });
    expect(seen).toEqual(['freeze', 'thaw']);
    await expect(w.subscribe()).rejects.toMatchObject({ hresultName: 'E_NOTIMPL', category: 'precondition' });
  });

  it('mbam-vss serve exits 3 here, saying why', async () => {
    const r = await runCliAsync(['serve', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-REC01']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/VSS subscription exists on Windows only/);
  });
});
