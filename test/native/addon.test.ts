import { mkdtempSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../../src/platform/native.js';
import { VssError } from '../../src/vss/errors.js';
import { REPO } from '../support/paths.js';

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
});
