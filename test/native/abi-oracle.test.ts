/**
 * The hosted writer's CVssWriter layout against an independent MSVC oracle. vssapi.dll is built
 * with MSVC and calls our writer object through CVssWriter's vtable and reads its m_pWriterImpl;
 * we build the object with MinGW g++. The oracle (test/win-standin/vtable-oracle.mjs) compiles the
 * SDK's declaration with clang for x86_64-pc-windows-msvc; here MinGW g++ compiles OUR header
 * (native/src/win/cvsswriter_abi.h) and MinGW's IVssWriterImpl, and every slot, the member offset
 * and the struct-return registers must agree.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { hasCommand, itRequires, prereq } from '../support/prereq.js';
import { REPO } from '../support/paths.js';
// @ts-expect-error -- plain .mjs helper without type declarations
import { oracle } from '../win-standin/vtable-oracle.mjs';

const MINGW = 'x86_64-w64-mingw32-g++-posix';
const tools = prereq(hasCommand('clang++-16') && hasCommand(MINGW), 'clang-16 and MinGW-w64 (apt-get install clang-16 g++-mingw-w64-x86-64)');

interface Oracle {
  CVssWriter: { slotCount: number; slots: Record<string, string>; offsetof_m_pWriterImpl: number; sizeof: number };
  IVssWriterImpl: { slotCount: number; slots: Record<string, string> };
  structReturn: { memberFunction: { retBufferReg: string }; virtualCallSite: { retBufferRegAtCall: string; asm: string[] } };
}

// A pointer to a virtual member is (vtable byte offset + 1) in g++'s ABI: a constant in the object
// file per method, without calling anything. Overloads need their virtual signature spelled out.
const OVERLOAD: Record<string, string> = {
  QueryInterface: 'static_cast<HRESULT (STDMETHODCALLTYPE IUnknown::*)(REFIID, void**)>(&IVssWriterImpl::QueryInterface)',
  // MinGW declares the struct return with an explicit out-pointer (WIDL_EXPLICIT_AGGREGATE_RETURNS).
  GetCurrentSnapshotSetId: 'static_cast<VSS_ID* (STDMETHODCALLTYPE IVssWriterImpl::*)(VSS_ID*)>(&IVssWriterImpl::GetCurrentSnapshotSetId)',
};

function probeSource(writerSlots: string[], implSlots: string[]): string {
  const slot = (cls: string, name: string) => `extern "C" const auto slot_${cls}_${name} = ${cls === 'IVssWriterImpl' && OVERLOAD[name] ? OVERLOAD[name] : `&${cls}::${name}`};`;
  return `#include <new>
#include "win/cvsswriter_abi.h"
using mbam::win::VssWriterAbi;
struct Probe final : VssWriterAbi {
  bool STDMETHODCALLTYPE OnPrepareSnapshot() override { return true; }
  bool STDMETHODCALLTYPE OnFreeze() override { return true; }
  bool STDMETHODCALLTYPE OnThaw() override { return true; }
  bool STDMETHODCALLTYPE OnAbort() override { return true; }
  bool STDMETHODCALLTYPE OnBackupShutdown(VSS_ID id) override { return id.Data1 == 0x22222222; }
  long long implOffset() const { return reinterpret_cast<const char*>(&m_pWriterImpl) - reinterpret_cast<const char*>(this); }
};
Probe* makeProbe(void* mem) { return new (mem) Probe(); }
extern "C" long long probeImplOffset(const Probe* p) { return p->implOffset(); }
extern "C" unsigned long callGet(IVssWriterImpl* p) { return p->GetCurrentSnapshotSetId().Data1; }
${writerSlots.map((n) => slot('VssWriterAbi', n)).join('\n')}
${implSlots.map((n) => slot('IVssWriterImpl', n)).join('\n')}
`;
}

function body(asm: string, fn: string): string {
  const i = asm.indexOf(`\n${fn}:`);
  if (i < 0) throw new Error(`${fn} not in the MinGW assembly`);
  const rest = asm.slice(i + fn.length + 2);
  return rest.slice(0, rest.indexOf('.seh_endproc'));
}

describe('CVssWriter ABI: our MinGW-built host against the MSVC oracle', () => {
  itRequires(tools, 'same vtable slots, m_pWriterImpl at 8, VSS_ID returned and passed as MSVC does', () => {
    const o = oracle() as Oracle;
    const dir = mkdtempSync(join(tmpdir(), 'mbam-abi-'));
    try {
      const writerNames = Object.keys(o.CVssWriter.slots).sort((a, b) => Number(a) - Number(b)).map((k) => o.CVssWriter.slots[k]!);
      const implNames = Object.keys(o.IVssWriterImpl.slots).sort((a, b) => Number(a) - Number(b)).map((k) => o.IVssWriterImpl.slots[k]!);
      // Slot 0 is MSVC's scalar deleting destructor; our header's placeholder takes it.
      expect(writerNames[0]).toMatch(/^~CVssWriter \[scalar deleting/);
      const ours = ['MsvcDestructorSlot', ...writerNames.slice(1)];
      const src = join(dir, 'probe.cc');
      writeFileSync(src, probeSource(ours, implNames));
      const asmFile = join(dir, 'probe.s');
      execFileSync(MINGW, ['-std=c++17', '-O2', '-fno-exceptions', '-I', join(REPO, 'native', 'src'), '-fdump-lang-class', '-S', '-masm=intel', '-o', asmFile, src], { cwd: dir, stdio: 'pipe' });
      const asm = readFileSync(asmFile, 'utf8');
      const slotOf = (cls: string, name: string): number => {
        const m = new RegExp(`\\nslot_${cls}_${name}:\\s*\\n\\s*\\.quad\\s+(\\d+)`).exec(asm);
        if (!m) throw new Error(`no slot constant for ${cls}::${name}`);
        return (Number(m[1]) - 1) / 8;
      };
      // Slot by slot, by name.
      expect(ours.map((n) => [n, slotOf('VssWriterAbi', n)])).toEqual(ours.map((n, i) => [n, i]));
      expect(implNames.map((n) => [n, slotOf('IVssWriterImpl', n)])).toEqual(implNames.map((n, i) => [n, i]));
      // No extra virtuals: g++'s table = offset-to-top + RTTI + the slots.
      const dump = readFileSync(join(dir, execFileSync('sh', ['-c', 'ls *.class'], { cwd: dir, encoding: 'utf8' }).trim()), 'utf8');
      const entries = (cls: string) => Number(new RegExp(`Vtable for ${cls}\\n\\S+: (\\d+) entries`).exec(dump)?.[1]) - 2;
      expect(entries('mbam::win::VssWriterAbi')).toBe(o.CVssWriter.slotCount);
      expect(entries('IVssWriterImpl')).toBe(o.IVssWriterImpl.slotCount);
      expect(/Class mbam::win::VssWriterAbi\n\s+size=(\d+)/.exec(dump)?.[1]).toBe(String(o.CVssWriter.sizeof));
      // m_pWriterImpl's offset.
      expect(o.CVssWriter.offsetof_m_pWriterImpl).toBe(8);
      expect(body(asm, 'probeImplOffset')).toMatch(/mov\s+eax, 8\b/);
      // GetCurrentSnapshotSetId: MSVC passes the return buffer in RDX (this in RCX) and returns it in
      // RAX; our call site must put it in the same register, and call the same slot.
      expect(o.structReturn.virtualCallSite.retBufferRegAtCall).toBe('rdx');
      const call = body(asm, 'callGet');
      expect(call).toMatch(new RegExp(`lea\\s+${o.structReturn.virtualCallSite.retBufferRegAtCall}, (\\d+\\[rsp\\]|\\[rsp)`));
      expect(call).toMatch(new RegExp(`call\\s+\\[?QWORD PTR ${8 * implNames.indexOf('GetCurrentSnapshotSetId')}\\[rax\\]`));
      expect(call).toMatch(/mov\s+eax, DWORD PTR \[rax\]/); // the result is read through the returned pointer
      // OnBackupShutdown(VSS_ID): a by-value GUID arrives as a pointer in the register after `this`.
      expect(body(asm, '_ZN5Probe16OnBackupShutdownE5_GUID')).toMatch(/DWORD PTR \[rdx\], 572662306/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
