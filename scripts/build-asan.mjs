#!/usr/bin/env node
// Builds the Linux addon with AddressSanitizer into build-asan/ (same sources as binding.gyp),
// for running the event-bridge soak under the sanitizer: node must then be started with
// LD_PRELOAD=$(gcc -print-file-name=libasan.so).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8'));
const t = gyp.targets[0];
const extra = t.conditions.filter(([c]) => c === "OS!='win'" || c === "OS=='linux'").flatMap(([, v]) => v.sources ?? []);
const sources = [...t.sources, ...extra].map((s) => join(root, s));
const out = join(root, 'build-asan');
mkdirSync(out, { recursive: true });
const tmp = join(out, `mbam_vss.${process.pid}.node`);
execFileSync('g++', [
  '-std=c++17', '-O1', '-g', '-shared', '-fPIC', '-fsanitize=address', '-fno-omit-frame-pointer', '-Wall', '-Wextra', '-Werror', '-fno-exceptions',
  ...t.defines.map((d) => '-D' + d),
  '-I', process.env.NODE_HEADERS ?? '/usr/include/node', '-I', require('node-addon-api').include_dir, '-I', join(root, 'native/src'),
  ...sources, '-o', tmp,
], { stdio: 'inherit' });
renameSync(tmp, join(out, 'mbam_vss.node'));
console.log(`built ${join(out, 'mbam_vss.node')}`);
