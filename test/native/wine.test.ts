/**
 * The cross-built Windows addon, loaded by the Windows build of Node under Wine through the
 * package's own loader (dist/ + node-gyp-build + prebuilds/win32-x64), answers every Windows
 * platform call with a result or a named VssError, and never crashes. Wine's VSS is stubs:
 * CreateVssBackupComponentsInternal returns E_NOTIMPL, and its express-writer factory aborts the
 * process, which the addon detects (ntdll's wine_get_version) and reports instead of calling.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { hasCommand, itRequires, prereq } from '../support/prereq.js';
import { EXAMPLE_TOPOLOGY, REPO } from '../support/paths.js';
import { ensureWindowsPrebuild, runWithDeadline, WINE, windowsNode, winePath } from '../support/windows-node.js';
import { HR } from '../../src/vss/hresult.js';

const wine = prereq(existsSync(WINE) && hasCommand('x86_64-w64-mingw32-g++-posix'), 'Wine and MinGW-w64 (apt-get install wine64 g++-mingw-w64-x86-64)');

const SMOKE = `
import { writeFileSync } from 'node:fs';
const [distUrl, topology, stateDir, outFile] = process.argv.slice(2);
const out = {};
try {
  const m = await import(distUrl);
  out.caps = m.nativeCapabilities();
  const p = m.openPlatform({ stateDir });
  out.platform = p.name;
  const t = async (name, fn) => {
    try { out[name] = { ok: true, value: await fn() }; }
    catch (e) { out[name] = { ok: false, vssError: e instanceof m.VssError, error: e instanceof m.VssError ? e.toJSON() : String(e && e.stack || e) }; }
  };
  await t('listWriters', () => p.listWriters());
  await t('register', () => p.registerWriter(m.buildMbamWriterMetadata(m.loadTopology(topology), 'MBAM-REC01')));
  await t('unregister', () => p.unregisterWriter(m.MBAM_WRITER_ID));
  await t('sqlWriter', () => p.checkSqlWriter());
  await t('privileges', () => p.checkPrivileges());
  const hosted = new m.HostedWriter({ metadata: m.buildMbamWriterMetadata(m.loadTopology(topology), 'MBAM-REC01'), onFreeze() {} });
  await t('hostedSubscribe', () => hosted.subscribe());
  const svc = await import(distUrl.replace('index.js', 'platform/windows-service.js'));
  await t('service', () => {
    svc.uninstallHostedWriterService();
    svc.installHostedWriterService(svc.hostedWriterServiceArgs({ topologyFile: topology, server: 'MBAM-REC01', stateDir }));
    const removed = svc.uninstallHostedWriterService();
    return [removed, svc.uninstallHostedWriterService()];
  });
  // Internals, from their own modules: the bridge, and the addon's test-only loopback driver.
  const { createEventBridge } = await import(distUrl.replace('index.js', 'hosted/bridge.js'));
  const { loadNative } = await import(distUrl.replace('index.js', 'platform/native.js'));
  const addon = loadNative();
  await t('bridge', async () => {
    const b = createEventBridge(async (event) => { if (event === 'Freeze') throw new m.VssError(0x800423F3, { message: 'busy' }); });
    const r = await addon.loopbackRun(b, { events: ['PrepareForSnapshot', 'Freeze', 'Thaw'], payload: '{}', timeoutMs: 5000 });
    b.close();
    return r.map((x) => [x.event, x.hr]);
  });
  // Host objects whose subscribe failed (Wine) are freed when collected; closed bridges too.
  await t('live', async () => {
    const md = m.buildMbamWriterMetadata(m.loadTopology(topology), 'MBAM-REC01');
    for (let i = 0; i < 20; i++) await new m.HostedWriter({ metadata: md }).subscribe().catch(() => {});
    const during = addon.liveObjects();
    for (let i = 0; i < 10 && (addon.liveObjects().hostedWriters > 0 || addon.liveObjects().bridges > 0); i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
    return { during, after: addon.liveObjects() };
  });
} catch (e) { out.fatal = String(e && e.stack || e); }
writeFileSync(outFile, JSON.stringify(out));
`;

describe('Windows backend under Wine', () => {
  itRequires(wine, 'Windows Node loads the cross-built addon through the package loader and every call answers', async () => {
    await ensureWindowsPrebuild(REPO);
    const node = await windowsNode();
    const dir = mkdtempSync(join(tmpdir(), 'mbam-wine-'));
    writeFileSync(join(dir, 'smoke.mjs'), SMOKE);
    const outFile = join(dir, 'out.json');
    // PREBUILDS_ONLY: load from prebuilds/ as an installed package does; build/Release holds this
    // machine's Linux build, which node-gyp-build would otherwise try first.
    const env = { ...process.env, WINEPREFIX: join(tmpdir(), 'mbam-vss-wineprefix'), WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=', NODE_SKIP_PLATFORM_CHECK: '1', PREBUILDS_ONLY: '1' };
    const distUrl = 'file:///' + winePath(join(REPO, 'dist', 'index.js')).replace(/\\/g, '/');
    const code = await runWithDeadline(WINE, [node, '--expose-gc', winePath(join(dir, 'smoke.mjs')), distUrl, winePath(EXAMPLE_TOPOLOGY), winePath(join(dir, 'state')), winePath(outFile)], env, 240_000);
    expect(existsSync(outFile), `Windows Node exited ${code} without writing its result`).toBe(true);
    const out = JSON.parse(readFileSync(outFile, 'utf8'));
    expect(out.fatal).toBeUndefined();
    expect(out.platform).toBe('windows');
    expect(out.caps).toMatchObject({ wine: true, expressWriter: false });
    expect(out.caps.expressWriterUnavailableReason).toMatch(/unavailable under Wine/);
    // Express writers: reported unavailable, not called (Wine's stub would abort the process).
    for (const k of ['register', 'unregister']) {
      expect(out[k], k).toMatchObject({ ok: false, vssError: true, error: { name: 'E_NOTIMPL' } });
      expect(out[k].error.message).toMatch(/unavailable under Wine/);
    }
    // Requester queries: a well-formed answer or a named VssError.
    for (const k of ['listWriters', 'sqlWriter', 'privileges']) {
      const r = out[k];
      if (r.ok) expect(r.value, k).toBeDefined();
      else expect(r, k).toMatchObject({ vssError: true, error: { name: expect.stringMatching(/^(E_|VSS_|RPC_|0x)/) } });
    }
    if (!out.listWriters.ok) expect(out.listWriters.error.name).toBe('E_NOTIMPL'); // Wine's CreateVssBackupComponentsInternal
    // The hosted writer: reported unavailable under Wine rather than calling Wine's aborting CreateWriter.
    expect(out.hostedSubscribe).toMatchObject({ ok: false, vssError: true, error: { name: 'E_NOTIMPL' } });
    expect(out.hostedSubscribe.error.message).toMatch(/hosted writers are unavailable under Wine/);
    // Wine's Service Control Manager: the service is created, then deleted; absent is reported as such.
    if (out.service.ok) expect(out.service.value).toEqual([true, false]);
    else expect(out.service).toMatchObject({ vssError: true });
    // The event bridge and loopback driver run in Windows Node too (MinGW build).
    expect(out.bridge).toEqual({ ok: true, value: [['PrepareForSnapshot', 0], ['Freeze', HR.VSS_E_WRITERERROR_RETRYABLE], ['Abort', 0]] });
    // Twenty host objects existed (subscribe fails under Wine); collected, none is left.
    expect(out.live.ok).toBe(true);
    expect(out.live.value.during.hostedWriters).toBeGreaterThan(0);
    expect(out.live.value.after).toEqual({ bridges: 0, bridgeCalls: 0, hostedWriters: 0 });
    expect(code).toBe(0);
  }, 300_000);
});
