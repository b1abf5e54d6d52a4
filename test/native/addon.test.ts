import { mkdtempSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative, posixAddon, windowsAddon } from '../../src/platform/native.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { REPO } from '../support/paths.js';
import { execAsync } from '../support/exec.js';
import { tempDir } from '../support/state.js';

describe('native addon', () => {
  it('loads and reports this platform', () => {
    const addon = loadNative();
    expect(addon.platform).toBe(process.platform);
    expect(addon.napiVersion).toBe(8);
    const caps = addon.capabilities();
    expect(caps.wine).toBe(false);
    expect(caps.expressWriter).toBe(false);
    expect(caps.privileged).toBe(process.geteuid?.() === 0);
  });

  it('says what it looked for and how to build it when no binary fits', () => {
    const root = mkdtempSync(join(tmpdir(), 'nobinary-'));
    writeFileSync(join(root, 'package.json'), '{"name":"x","version":"0.0.0"}');
    mkdirSync(join(root, 'node_modules'));
    symlinkSync(join(REPO, 'node_modules', 'node-gyp-build'), join(root, 'node_modules', 'node-gyp-build'));
    try {
      loadNative(root);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VssError);
      const err = e as VssError;
      expect(err.message).toContain(`no mbam-vss native binary fits ${process.platform}-${process.arch}`);
      expect(err.message).toContain(join(root, 'prebuilds', `${process.platform}-${process.arch}`) + ' (missing)');
      expect(err.message).toContain(join(root, 'build', 'Release'));
      expect(err.hint).toMatch(/npm run build:native/);
      expect(err.category).toBe('precondition');
    }
  });

  it('is reached through posixAddon() here; windowsAddon() names the platform it needs', () => {
    const addon = posixAddon();
    expect(typeof addon.tryLock).toBe('function');
    expect(typeof addon.freezeBegin).toBe('function');
    expect(() => windowsAddon()).toThrow(VssError);
    try {
      windowsAddon();
    } catch (e) {
      expect(e).toMatchObject({ hresult: HR.E_NOTIMPL, category: 'precondition', message: expect.stringMatching(/Windows only; this is linux/) });
    }
  });

  it('hands every native failure to callers as a VssError, converted once', async () => {
    const addon = posixAddon();
    // errno from a synchronous call: the export, the system call and the path are named.
    const dir = tempDir();
    let sync: unknown;
    try {
      addon.fsType(join(dir, 'missing'));
    } catch (e) {
      sync = e;
    }
    expect(sync).toBeInstanceOf(VssError);
    expect((sync as VssError).message).toMatch(/^fsType: ENOENT: statfs '.*missing'/);
    expect(((sync as VssError).cause as { code?: string }).code).toBe('ENOENT');
    // The addon's own argument check: E_INVALIDARG, category input.
    expect(() => addon.tryLock(42 as unknown as string)).toThrow(expect.objectContaining({ hresult: HR.E_INVALIDARG, category: 'input' }));
    // A rejection from an asynchronous export.
    await expect(addon.freezeBegin([join(dir, 'missing')], 1000)).rejects.toBeInstanceOf(VssError);
    // A class: argument errors from its constructor too, and its instances' methods are wrapped.
    expect(() => new addon.EventBridge(42 as never)).toThrow(expect.objectContaining({ hresult: HR.E_INVALIDARG }));
    const bridge = new addon.EventBridge(() => {});
    expect(bridge.pending()).toBe(0);
    bridge.close();
  });

  it('frees event bridges when they are closed or collected: the live-object count returns to zero', async () => {
    // In a child with --expose-gc, so that the collector can be made to run before counting.
    const script = join(tempDir(), 'live.mjs');
    writeFileSync(
      script,
      `const { createEventBridge } = await import(${JSON.stringify(join(REPO, 'dist', 'hosted', 'bridge.js'))});
       const { loadNative } = await import(${JSON.stringify(join(REPO, 'dist', 'platform', 'native.js'))});
       const addon = loadNative();
       const before = addon.liveObjects();
       const runs = [];
       // An open bridge's thread-safe function holds its handler, so a handler that reaches the
       // bridge keeps it alive until close(); this one does not, so collection alone ends it.
       const never = () => new Promise(() => {});
       for (let i = 0; i < 200; i++) {
         const b = createEventBridge(never);
         if (i % 2 === 0) {
           // A call waiting in it, failed by close().
           runs.push(addon.loopbackRun(b, { events: ['Freeze'], payload: '{}', timeoutMs: 60000 }).then(() => b.close()));
           while (b.pending() === 0) await new Promise((r) => setTimeout(r, 1));
           b.close();
         } else if (i % 4 === 1) {
           b.close();
         } else {
           b.unref();   // never closed: only collection ends it
         }
       }
       const during = addon.liveObjects();
       await Promise.all(runs);
       for (let i = 0; i < 10 && addon.liveObjects().bridges > 0; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
       console.log(JSON.stringify({ before, during, after: addon.liveObjects() }));`,
    );
    const out = JSON.parse((await execAsync(process.execPath, ['--expose-gc', script], { timeout: 60_000 })).trim());
    expect(out.before).toEqual({ bridges: 0, bridgeCalls: 0, hostedWriters: 0 });
    expect(out.during.bridges).toBeGreaterThan(100); // some may already have been collected
    expect(out.after).toEqual({ bridges: 0, bridgeCalls: 0, hostedWriters: 0 });
  });
});
