/**
 * Loads the native addon through node-gyp-build: `prebuilds/<platform>-<arch>/` (shipped in the
 * package, because npm 11 skips dependencies' install scripts) or a local `build/Release/`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VssError } from '../vss/errors.js';
import { HR, hresultInfo } from '../vss/hresult.js';

export interface NativeCapabilities {
  privileged: boolean;
  fsFreeze: boolean;
  reflink: boolean;
  btrfsSnapshot: boolean;
  expressWriter: boolean;
  wine: boolean;
}

/** The functions the addon exports; later platform work adds to it. */
export interface NativeAddon {
  napiVersion: number;
  platform: string;
  capabilities(): NativeCapabilities;
}

/** The package root: dist/platform/native.js and src/platform/native.ts both sit two levels down. */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: NativeAddon | undefined;

export function loadNative(root = PACKAGE_ROOT): NativeAddon {
  if (cached && root === PACKAGE_ROOT) return cached;
  const require = createRequire(join(root, 'package.json'));
  // Diagnostics: load a specific build of the addon (the AddressSanitizer build, a debug build).
  const override = process.env['MBAM_VSS_NATIVE_ADDON'];
  if (override && root === PACKAGE_ROOT) return (cached = require(override) as NativeAddon);
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
  try {
    const addon = nodeGypBuild(root);
    if (root === PACKAGE_ROOT) cached = addon;
    return addon;
  } catch (e) {
    const tag = `${process.platform}-${process.arch}`;
    const looked = [join(root, 'build', 'Release'), join(root, 'build', 'Debug'), join(root, 'prebuilds', tag)];
    throw new VssError(HR.E_NOTIMPL, {
      message:
        `no mbam-vss native binary fits ${tag} (Node ${process.versions.node}, N-API ${process.versions.napi}); looked in:\n` +
        looked.map((p) => `  ${p}${existsSync(p) ? '' : ' (missing)'}`).join('\n'),
      hint:
        'Build it from source with `npm run build:native` in the mbam-vss package (needs python3, make and a C++17 compiler), ' +
        'or install a release of mbam-vss that ships prebuilds/ for this platform.',
      category: 'precondition',
      cause: e,
    });
  }
}

/** Turns an error thrown by native code (with .hresult or an errno .code) into a VssError. */
export function nativeError(e: unknown, operation: string): VssError {
  const err = e as { hresult?: number; code?: string; message?: string; path?: string };
  if (typeof err?.hresult === 'number') {
    const info = hresultInfo(err.hresult);
    const op = (e as { operation?: string }).operation;
    return new VssError(err.hresult, { message: `${operation}: ${op ? `${op}: ` : ''}${info.meaning}`, cause: e });
  }
  const code = err?.code;
  const hr = code === 'EPERM' || code === 'EACCES' ? HR.E_ACCESSDENIED : code === 'ENOMEM' ? HR.E_OUTOFMEMORY : HR.E_FAIL;
  return new VssError(hr, { message: `${operation}: ${err?.message ?? String(e)}`, cause: e });
}
