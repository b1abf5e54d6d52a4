import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ApplicationLevel, BackupSchema, BackupType, ComponentFlags, ComponentType, RestoreMethod, SourceType,
  UsageType, WriterRestore, WriterState, type VssEnum,
} from '../../src/vss/enums.js';
import { allHResults, HR, hresultInfo, lastErrorText } from '../../src/vss/hresult.js';
import { itRequires, prereq } from '../support/prereq.js';

const MINGW_INCLUDE = '/usr/share/mingw-w64/include';
const mingw = prereq(existsSync(`${MINGW_INCLUDE}/vss.h`), 'MinGW-w64 headers (apt-get install g++-mingw-w64-x86-64)');

function values<N extends string>(e: VssEnum<N>): Record<string, number> {
  return Object.fromEntries(e.members.map((m) => [m.name, m.value]));
}

describe('enum values (VSS-FACTS)', () => {
  it('VSS_WRITER_STATE', () => {
    expect(WriterState.members.map((m) => m.value)).toEqual([...Array(16).keys()]);
    expect(WriterState.value('FAILED_AT_BACKUPSHUTDOWN')).toBe(15);
    expect(WriterState.value('WAITING_FOR_BACKUP_COMPLETE')).toBe(5);
  });
  it('the small enums', () => {
    expect(values(UsageType)).toEqual({ UNDEFINED: 0, BOOTABLESYSTEMSTATE: 1, SYSTEMSERVICE: 2, USERDATA: 3, OTHER: 4 });
    expect(values(SourceType)).toEqual({ UNDEFINED: 0, TRANSACTEDDB: 1, NONTRANSACTEDDB: 2, OTHER: 3 });
    expect(values(ComponentType)).toEqual({ UNDEFINED: 0, DATABASE: 1, FILEGROUP: 2 });
    expect(values(WriterRestore)).toEqual({ UNDEFINED: 0, NEVER: 1, IF_REPLACE_FAILS: 2, ALWAYS: 3 });
    expect(values(BackupType)).toEqual({ UNDEFINED: 0, FULL: 1, INCREMENTAL: 2, DIFFERENTIAL: 3, LOG: 4, COPY: 5, OTHER: 6 });
    expect(values(ApplicationLevel)).toEqual({ UNKNOWN: 0, SYSTEM: 1, BACK_END: 2, FRONT_END: 3, SYSTEM_RM: 4, AUTO: -1 });
    expect(RestoreMethod.value('RESTORE_STOP_START')).toBe(8);
    expect(RestoreMethod.value('CUSTOM')).toBe(7);
  });
  it('flags', () => {
    expect(ComponentFlags.bits).toEqual({ BACKUP_RECOVERY: 1, APP_ROLLBACK_RECOVERY: 2, NOT_SYSTEM_STATE: 4 });
    expect(BackupSchema.names(881)).toEqual(['DIFFERENTIAL', 'COPY', 'TIMESTAMPED', 'LAST_MODIFY', 'WRITER_SUPPORTS_NEW_TARGET', 'WRITER_SUPPORTS_RESTORE_WITH_MOVE']);
    expect(BackupSchema.mask(BackupSchema.names(881))).toBe(881);
    expect(BackupSchema.unknownBits(0x800)).toBe(0x800);
  });
  it('XML tokens seen in real documents', () => {
    expect(UsageType.token('USERDATA')).toBe('USER_DATA');
    expect(SourceType.token('TRANSACTEDDB')).toBe('TRANSACTION_DB');
    expect(RestoreMethod.token('RESTORE_IF_CAN_REPLACE')).toBe('RESTORE_IF_CAN_BE_REPLACED');
    expect(RestoreMethod.parseToken('REPLACE_AT_REBOOT_IF_CANNOT_REPLACE', 'x')).toBe('RESTORE_AT_REBOOT_IF_CANNOT_REPLACE');
    expect(WriterRestore.parseToken('always', 'x')).toBe('ALWAYS');
    expect(UsageType.parseToken('VSS_UT_USERDATA', 'x')).toBe('USERDATA');
    expect(() => UsageType.parseToken('USERS', 'IDENTIFICATION@usage')).toThrow(/IDENTIFICATION@usage: 'USERS' is not a VSS_USAGE_TYPE token/);
  });
});

/** Reads `enum _NAME { A = 0, B, C = 0x10 }` bodies from a C header. */
function cEnums(header: string): Map<string, number> {
  const out = new Map<string, number>();
  const text = header.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const m of text.matchAll(/enum\s+\w*\s*\{([^}]*)\}/g)) {
    let next = 0;
    for (const part of m[1]!.split(',')) {
      const mm = /^\s*(\w+)\s*(?:=\s*([^,]+?))?\s*$/.exec(part);
      if (!mm) continue;
      let v = next;
      if (mm[2] !== undefined) {
        const expr = mm[2].trim();
        v = /^-?(0x[0-9a-f]+|\d+)$/i.test(expr) ? Number(expr) : out.get(expr) ?? NaN;
      }
      out.set(mm[1]!, v);
      next = v + 1;
    }
  }
  return out;
}

describe('against the MinGW-w64 headers', () => {
  itRequires(mingw, 'every enum member has the value vss.h / vswriter.h give it', () => {
    const c = new Map([...cEnums(readFileSync(`${MINGW_INCLUDE}/vss.h`, 'utf8')), ...cEnums(readFileSync(`${MINGW_INCLUDE}/vswriter.h`, 'utf8'))]);
    const enums: VssEnum<string>[] = [WriterState, UsageType, SourceType, ComponentType, RestoreMethod, WriterRestore, BackupType, ApplicationLevel];
    let checked = 0;
    for (const e of enums) {
      for (const m of e.members) {
        expect(c.get(e.cName(m.name)), e.cName(m.name)).toBe(m.value);
        checked++;
      }
    }
    for (const [n, v] of Object.entries(BackupSchema.bits)) expect(c.get('VSS_BS_' + n), n).toBe(v);
    for (const [n, v] of Object.entries(ComponentFlags.bits)) expect(c.get('VSS_CF_' + n), n).toBe(v);
    expect(checked).toBeGreaterThan(50);
  });

  itRequires(mingw, 'the HRESULT table holds exactly the 81 codes of vsserror.h', () => {
    const header = readFileSync(`${MINGW_INCLUDE}/vsserror.h`, 'utf8');
    const defs = [...header.matchAll(/#define\s+(VSS_[ES]_\w+)\s+\(\(HRESULT\)(0x[0-9A-Fa-f]+)L?\)/g)];
    expect(defs).toHaveLength(81);
    for (const [, name, hex] of defs) {
      expect(hresultInfo(Number(hex)).name, name).toBe(name);
    }
    const ours = allHResults().filter((h) => /^VSS_[ES]_/.test(h.name));
    expect(ours.map((h) => h.name).sort()).toEqual(defs.map((d) => d[1]).sort());
  });
});

describe('HRESULT table', () => {
  it('values and retry verdicts from VSS-FACTS', () => {
    expect(HR.VSS_E_WRITERERROR_RETRYABLE).toBe(0x800423f3);
    expect(HR.VSS_E_WRITERERROR_PARTIAL_FAILURE).toBe(0x80042336);
    expect(HR.VSS_E_WRITER_STATUS_NOT_AVAILABLE).toBe(0x80042409);
    for (const n of ['VSS_E_WRITERERROR_RETRYABLE', 'VSS_E_WRITERERROR_OUTOFRESOURCES', 'VSS_E_WRITERERROR_TIMEOUT'] as const) {
      expect(hresultInfo(HR[n]).retryable, n).toBe(true);
    }
    for (const n of ['VSS_E_WRITERERROR_NONRETRYABLE', 'VSS_E_WRITER_NOT_RESPONDING'] as const) {
      expect(hresultInfo(HR[n]).retryable, n).toBe(false);
    }
    expect(hresultInfo(-2147212301).name).toBe('VSS_E_WRITERERROR_RETRYABLE'); // signed form
    expect(hresultInfo(0x80070002).meaning).toMatch(/Win32 error 2/);
    expect(HR.E_ACCESSDENIED).toBe(0x80070005);
  });
  it('vssadmin last-error phrases', () => {
    expect(lastErrorText(0)).toBe('No error');
    expect(lastErrorText(HR.VSS_E_WRITERERROR_RETRYABLE)).toBe('Retryable error');
    expect(lastErrorText(HR.VSS_E_WRITERERROR_TIMEOUT)).toBe('Timed out');
  });
});
