import { describe, expect, it } from 'vitest';
import { HR } from '../../src/vss/hresult.js';
import { formatVssadminWriters, parseVssadminWriters, type WriterStatus } from '../../src/vss/vssadmin.js';

const writers: WriterStatus[] = [
  { name: 'Task Scheduler Writer', writerId: 'd61d61c8-d73a-4eee-8cdd-f6f9786b7124', instanceId: '1bddd48e-5052-49db-9b07-b96f96727e6b', state: 'STABLE', lastError: 0 },
  { name: 'SqlServerWriter', writerId: 'a65faa63-5ea8-4ebc-9dbd-a0c4db26912a', instanceId: 'dd8d6255-b3bb-4ec1-8249-73cd75c0ee21', state: 'FAILED_AT_PREPARE_SNAPSHOT', lastError: HR.VSS_E_WRITERERROR_RETRYABLE },
  { name: 'Microsoft Exchange Writer', writerId: '76fe1ac4-15f7-4bcd-987e-8e1acb462fb7', instanceId: '0f3e1b4c-5d9a-4e1f-9f0a-2b7c8d9e0a1b', state: 'WAITING_FOR_BACKUP_COMPLETE', lastError: 0 },
];

describe('vssadmin list writers', () => {
  it('formats exactly as vssadmin prints', () => {
    expect(formatVssadminWriters(writers.slice(0, 2))).toBe(
      "Writer name: 'Task Scheduler Writer'\n" +
        '   Writer Id: {d61d61c8-d73a-4eee-8cdd-f6f9786b7124}\n' +
        '   Writer Instance Id: {1bddd48e-5052-49db-9b07-b96f96727e6b}\n' +
        '   State: [1] Stable\n' +
        '   Last error: No error\n' +
        '\n' +
        "Writer name: 'SqlServerWriter'\n" +
        '   Writer Id: {a65faa63-5ea8-4ebc-9dbd-a0c4db26912a}\n' +
        '   Writer Instance Id: {dd8d6255-b3bb-4ec1-8249-73cd75c0ee21}\n' +
        '   State: [8] Failed\n' +
        '   Last error: Retryable error\n' +
        '\n',
    );
    expect(formatVssadminWriters(writers.slice(2))).toContain('   State: [5] Waiting for completion\n');
  });

  it('parses its own output back', () => {
    const parsed = parseVssadminWriters(formatVssadminWriters(writers, { banner: true }).replace(/\n/g, '\r\n'));
    expect(parsed.map(({ lastErrorText: _t, ...w }) => w)).toEqual(writers);
  });

  it('parses localised output by structure and state number', () => {
    const german =
      "Verfassername: 'System Writer'\n" +
      '   Verfasserkennung: {e8132975-6f93-4464-a53e-1050253ae220}\n' +
      '   Verfasserinstanzkennung: {C389482C-2DF8-45A3-8EDF-5AF854FDFF0E}\n' +
      '   Status: [9] Fehlgeschlagen\n' +
      '   Letzter Fehler: Zeitüberschreitung\n';
    const [w] = parseVssadminWriters(german);
    expect(w).toEqual({
      name: 'System Writer',
      writerId: 'e8132975-6f93-4464-a53e-1050253ae220',
      instanceId: 'c389482c-2df8-45a3-8edf-5af854fdff0e',
      state: 'FAILED_AT_FREEZE',
      lastError: undefined,
      lastErrorText: 'Zeitüberschreitung',
    });
  });

  it('names the line of a broken block', () => {
    expect(() => parseVssadminWriters("Writer name: 'X'\n   State: [1] Stable\n")).toThrow(/vssadmin output line 1/);
    expect(() => parseVssadminWriters("Writer name: 'X'\n   Writer Id: {d61d61c8-d73a-4eee-8cdd-f6f9786b7124}\n   Writer Instance Id: {d61d61c8-d73a-4eee-8cdd-f6f9786b7124}\n   State: [42] ?\n")).toThrow(/state number/);
  });
});
