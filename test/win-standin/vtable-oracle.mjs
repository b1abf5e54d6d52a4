#!/usr/bin/env node
// Test-only ABI oracle. Compiles cvsswriter_sdk.h (the SDK's CVssWriter, SDK order) and
// vss_abi.h (IVssWriterImpl, SDK order) for the MSVC C++ ABI with clang-16 and prints JSON:
//   - vftable slot -> method for CVssWriter and IVssWriterImpl (from -fdump-vtable-layouts),
//   - offsetof/sizeof CVssWriter (from -fdump-record-layouts),
//   - how MSVC returns a 16-byte VSS_ID from a member function vs a free function, and how a
//     VSS_ID parameter passed by value arrives (from the assembly of tiny functions, -S).
// Usage: node vtable-oracle.mjs [--clang clang++-16]   (exit 2 when the compiler is missing)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const argi = process.argv.indexOf('--clang');
const CLANG = argi > 0 ? process.argv[argi + 1] : process.env.STANDIN_CLANG || 'clang++-16';
const BASE = ['--target=x86_64-pc-windows-msvc', '-std=c++17', '-fno-exceptions', '-fno-rtti', '-O1', `-I${here}`];

function clang(args, src) {
  const dir = mkdtempSync(join(tmpdir(), 'vss-oracle-'));
  try {
    const f = join(dir, 'x.cpp');
    writeFileSync(f, src);
    return execFileSync(CLANG, [...BASE, ...args, f], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A concrete subclass forces CVssWriter's vftable to be emitted; the inline CVssWriter members and
// `all()` make clang compute IVssWriterImpl's vftable indices.
const LAYOUT_SRC = `#include "cvsswriter_sdk.h"
inline void* operator new(unsigned long long, void* p) noexcept { return p; }
struct W : CVssWriter {
  bool OnPrepareSnapshot() override { return true; }
  bool OnFreeze() override { return true; }
  bool OnThaw() override { return true; }
  bool OnAbort() override { return true; }
  VSS_ID id() const { return GetCurrentSnapshotSetId(); }
};
void* use(void* mem) { W* w = new (mem) W(); w->Subscribe(); w->id(); return w; }
void all(IVssWriterImpl* p) { p->Initialize(GUID_NULL,0,0,0,0,VSS_UT_USERDATA,VSS_ST_OTHER,VSS_APP_FRONT_END,0,VSS_AWS_NO_ALTERNATE_WRITER,false); }
`;

const ABI_SRC = `#include "vss_abi.h"
struct R { virtual VSS_ID Get() const; };
VSS_ID R::Get() const { VSS_ID g = {0x11111111, 0x2222, 0x3333, {4,5,6,7,8,9,10,11}}; return g; }
VSS_ID freeGet() { VSS_ID g = {0x11111111, 0x2222, 0x3333, {4,5,6,7,8,9,10,11}}; return g; }
bool takesGuid(VSS_ID g) { return g.Data1 == 0x22222222; }
unsigned long callGet(IVssWriterImpl* p) { return p->GetCurrentSnapshotSetId().Data1; }
`;

/** Parses "VFTable for '<Cls>'... (N entries)." blocks; returns { slots: {i: name}, count, pure: [..] }. */
function vftable(dump, header) {
  const start = dump.indexOf(header);
  if (start < 0) throw new Error(`no "${header}" in the vtable dump`);
  const block = dump.slice(start).split('\n\n')[0].split('\n');
  const count = Number(/\((\d+) entries\)/.exec(block[0])[1]);
  const slots = {};
  const pure = [];
  for (const line of block.slice(1)) {
    const m = /^\s*(\d+) \| (.*)$/.exec(line);
    if (!m) continue;
    const sig = m[2];
    let name;
    if (/~\w+\(\)/.test(sig)) name = '~' + /~(\w+)/.exec(sig)[1] + (sig.includes('[scalar deleting]') ? ' [scalar deleting destructor]' : '');
    else name = /(\w+)\(/.exec(sig.replace(/\s*\[pure\]$/, ''))[1];
    slots[m[1]] = name;
    if (sig.endsWith('[pure]')) pure.push(Number(m[1]));
  }
  return { count, slots, pure, signatures: block.slice(1).map((l) => l.trim()) };
}

function fnBody(asm, mangledPrefix) {
  const i = asm.indexOf(`"${mangledPrefix}`);
  if (i < 0) throw new Error(`function ${mangledPrefix} not in asm`);
  const body = asm.slice(asm.indexOf('\n', i) + 1);
  return body.slice(0, body.indexOf('-- End function')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('.') && !l.startsWith('#'));
}

export function oracle() {
  const dump = clang(['-S', '-o', process.platform === 'win32' ? 'NUL' : '/dev/null', '-Xclang', '-fdump-vtable-layouts', '-Xclang', '-fdump-record-layouts'], LAYOUT_SRC);
  const cv = vftable(dump, "VFTable for 'CVssWriter' (");
  const impl = vftable(dump, "VFTable for 'IUnknown' in 'IVssWriterImpl' (");
  const rec = dump.slice(dump.indexOf('0 | class CVssWriter\n'));
  const recBlock = rec.slice(0, rec.indexOf('nvalign'));
  const off = /(\d+) \|\s+IVssWriterImpl \* m_pWriterImpl/.exec(recBlock);
  const size = /sizeof=(\d+)/.exec(recBlock);

  const asm = clang(['-S', '-masm=intel', '-o', '-'], ABI_SRC);
  const member = fnBody(asm, '?Get@R@@');
  const free = fnBody(asm, '?freeGet@@');
  const byVal = fnBody(asm, '?takesGuid@@');
  const caller = fnBody(asm, '?callGet@@');
  const storeReg = (body) => (/movups\s+xmmword ptr \[(r\w+)\]/.exec(body.join('\n')) || [])[1] || null;
  const raxFrom = (body) => (/mov\s+rax, (r\w+)/.exec(body.join('\n')) || [])[1] || null;
  const byValReg = (/ptr \[(r\w+)\]/.exec(byVal.join('\n')) || [])[1] || null;
  const callerRet = (/lea\s+(r\w+), \[rsp/.exec(caller.join('\n')) || [])[1] || null;
  const version = execFileSync(CLANG, ['--version'], { encoding: 'utf8' }).split('\n')[0];

  return {
    target: 'x86_64-pc-windows-msvc',
    compiler: version,
    sources: {
      CVssWriter: 'test/win-standin/cvsswriter_sdk.h (Windows SDK um/vswriter.h, class CVssWriter)',
      IVssWriterImpl: 'test/win-standin/vss_abi.h (Windows SDK um/vswriter.h, class IVssWriterImpl : public IUnknown)',
    },
    CVssWriter: {
      slotCount: cv.count,
      slots: cv.slots,
      pureSlots: cv.pure,
      offsetof_m_pWriterImpl: off ? Number(off[1]) : null,
      sizeof: size ? Number(size[1]) : null,
    },
    IVssWriterImpl: { slotCount: impl.count, slots: impl.slots },
    structReturn: {
      note: 'VSS_ID (16-byte GUID) returned by value; MSVC x64 returns it through a hidden pointer, and returns that pointer in RAX',
      memberFunction: { thisReg: 'rcx', retBufferReg: storeReg(member), raxIsRetBufferFrom: raxFrom(member), asm: member },
      freeFunction: { retBufferReg: storeReg(free), raxIsRetBufferFrom: raxFrom(free), asm: free },
      virtualCallSite: { retBufferRegAtCall: callerRet, asm: caller },
    },
    guidByValueParam: {
      note: 'a VSS_ID parameter passed by value (OnBackupShutdown(VSS_ID), OnBackOffIOOnVolume) arrives as a pointer to a caller-made copy',
      firstParamPointerReg: byValReg,
      asm: byVal,
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    execFileSync(CLANG, ['--version'], { stdio: 'ignore' });
  } catch {
    console.error(`${CLANG} not found (apt-get install clang-16)`);
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(oracle(), null, 2) + '\n');
}
