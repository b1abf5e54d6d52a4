#!/usr/bin/env node
// Test-only: builds the vssapi.dll stand-in and its test client with clang-16 / lld-link-16 for
// the MSVC ABI (x86_64-pc-windows-msvc), against MinGW-w64's import libraries.
// Usage: node test/win-standin/build.mjs [outDir]   -> prints {"dll":..,"client":..,"outDir":..}
import { execFileSync } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const CLANG = process.env.STANDIN_CLANG || 'clang++-16';
export const LLD = process.env.STANDIN_LLD || 'lld-link-16';
export const MINGW_LIB = process.env.STANDIN_MINGW_LIB || '/usr/x86_64-w64-mingw32/lib';

const CFLAGS = ['--target=x86_64-pc-windows-msvc', '-std=c++17', '-fno-exceptions', '-fno-rtti', '-O1', '-Wall', '-Wno-unused-private-field',
  '-fno-stack-protector', `-I${here}`];
const LIBS = ['libkernel32.a', 'liboleaut32.a', 'libmsvcrt.a'].map((l) => join(MINGW_LIB, l));

function run(cmd, args) {
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
}

export function build(outDir = join(here, 'build')) {
  mkdirSync(outDir, { recursive: true });
  for (const l of LIBS) if (!existsSync(l)) throw new Error(`missing ${l} (apt-get install g++-mingw-w64-x86-64)`);
  const dllObj = join(outDir, 'vssapi_standin.obj');
  run(CLANG, [...CFLAGS, '-c', join(here, 'vssapi_standin.cpp'), '-o', dllObj]);
  const dll = join(outDir, 'vssapi.dll');
  const implib = join(outDir, 'vssapi.lib');
  run(LLD, ['/dll', '/entry:DllMain', '/nodefaultlib', '/machine:x64', `/def:${join(here, 'vssapi.def')}`, `/implib:${implib}`,
    `/out:${dll}`, dllObj, ...LIBS]);
  const cliObj = join(outDir, 'standin_client.obj');
  run(CLANG, [...CFLAGS, '-c', join(here, 'standin_client.cpp'), '-o', cliObj]);
  const legacyObj = join(outDir, 'standin_legacy_client.obj');
  run(CLANG, [...CFLAGS, '-c', join(here, 'standin_legacy_client.cpp'), '-o', legacyObj]);
  const client = join(outDir, 'standin_client.exe');
  run(LLD, ['/entry:clientMain', '/subsystem:console', '/nodefaultlib', '/machine:x64', `/out:${client}`, cliObj, legacyObj, implib, ...LIBS]);
  return { dll, client, implib, outDir };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = build(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(JSON.stringify(out) + '\n');
}
