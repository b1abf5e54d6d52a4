#!/usr/bin/env node
// Cross-compiles the Linux addon for arm64 (Debian's g++-aarch64-linux-gnu) into
// prebuilds/linux-arm64/, where node-gyp-build looks for it, so that arm64 servers need no
// compiler. The build runs in a temporary copy of the package: prebuildify builds in build/, and
// the host's own build/Release (x64) must not be replaced by an arm64 binary under other users.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandExists } from './command-exists.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TRIPLE = process.env.ARM64_TRIPLE ?? 'aarch64-linux-gnu';
const tool = (t) => `${TRIPLE}-${t}`;

if (!commandExists(tool('g++')) || !commandExists(tool('strip'))) {
  console.error(`prebuild:linux-arm64 needs ${tool('g++')} and ${tool('strip')}. On Debian: apt-get install g++-aarch64-linux-gnu`);
  process.exit(3);
}

const work = mkdtempSync(join(tmpdir(), 'mbam-vss-arm64-'));
try {
  for (const f of ['package.json', 'binding.gyp']) cpSync(join(root, f), join(work, f));
  cpSync(join(root, 'native'), join(work, 'native'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'));
  execFileSync('npx', ['prebuildify', '--napi', '--strip', '--tag-libc', '--arch', 'arm64'], {
    cwd: work,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, CC: tool('gcc'), CXX: tool('g++'), LINK: tool('g++'), AR: tool('ar'), PREBUILD_STRIP_BIN: tool('strip') },
  });
  const from = join(work, 'prebuilds', 'linux-arm64');
  const to = join(root, 'prebuilds', 'linux-arm64');
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) cpSync(join(from, f), join(to, f));
  console.log(`prebuilds/linux-arm64: ${readdirSync(from).join(', ')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
