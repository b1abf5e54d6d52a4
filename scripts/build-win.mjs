#!/usr/bin/env node
// The -posix MinGW variant is used because the win32 thread model has no std::mutex, which
// node-addon-api needs.
// Cross-compiles the Windows half of the native addon with MinGW-w64 into a PE32+ .node, from the
// same source list node-gyp uses (binding.gyp), with warnings as errors. `--prebuild` also places
// it where node-gyp-build looks for the win32-x64 prebuild, so Windows users need no compiler.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandExists } from './command-exists.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const CXX = process.env.MINGW_CXX ?? 'x86_64-w64-mingw32-g++-posix';
const DLLTOOL = process.env.MINGW_DLLTOOL ?? 'x86_64-w64-mingw32-dlltool';
const out = join(root, 'build-win');

if (!commandExists(CXX) || !commandExists(DLLTOOL)) {
  console.error(`build:win needs MinGW-w64 (${CXX}, ${DLLTOOL}). On Debian: apt-get install g++-mingw-w64-x86-64`);
  process.exit(3);
}

const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8'));
const target = gyp.targets[0];
const winCondition = target.conditions.find(([cond]) => cond === "OS=='win'")[1];
const sources = [...target.sources, ...winCondition.sources].map((s) => join(root, s));
const defines = [...target.defines, ...winCondition.defines, 'BUILDING_NODE_EXTENSION'];
const libs = winCondition.libraries.map((l) => '-l' + l.replace(/\.lib$/, ''));

mkdirSync(out, { recursive: true });
// Temp names renamed into place: two builds at once (parallel tests) never see each other's halves.
const tag = `${process.pid}`;
const importLib = join(out, `libnode_api.${tag}.a`);
// Node's N-API symbols live in node.exe; MinGW links against an import library made from the
// list of them that node-api-headers ships.
execFileSync(DLLTOOL, ['-d', require.resolve('node-api-headers/def/node_api.def'), '-l', importLib, '-D', 'node.exe'], { stdio: 'inherit' });

const headers = dirname(require.resolve('node-api-headers/include/node_api.h'));
const addonApi = require('node-addon-api').include_dir;
const binary = join(out, 'mbam_vss.node');
const tmpBinary = join(out, `mbam_vss.${tag}.node.tmp`);
const args = [
  '-std=c++17', '-O2', '-shared', '-Wall', '-Wextra', '-Werror', '-fno-exceptions',
  ...defines.map((d) => '-D' + d),
  '-I', headers, '-I', addonApi, '-I', join(root, 'native/src'),
  ...sources, '-o', tmpBinary, importLib, ...libs,
  // Fully static runtime: a Windows machine has no libstdc++ or libwinpthread DLLs.
  '-static',
];
execFileSync(CXX, args, { stdio: 'inherit' });
renameSync(tmpBinary, binary);
renameSync(importLib, join(out, 'libnode_api.a'));
console.log(`built ${binary}`);

if (process.argv.includes('--prebuild')) {
  const dir = join(root, 'prebuilds', 'win32-x64');
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `node.napi.node.${tag}.tmp`);
  copyFileSync(binary, tmp);
  renameSync(tmp, join(dir, 'node.napi.node'));
  console.log(`prebuild ${join(dir, 'node.napi.node')}`);
}
