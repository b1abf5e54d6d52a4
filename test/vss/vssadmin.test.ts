import { describe, expect, it } from 'vitest';
import { HR } from '../../src/vss/hresult.js';
import { formatVssadminWriters, parseVssadminWriters, VSSADMIN_BANNER, type WriterStatus } from '../../src/vss/vssadmin.js';

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

const block = (nameLine: string, lastError = 'No error') =>
  `${nameLine}\n   Writer Id: {d61d61c8-d73a-4eee-8cdd-f6f9786b7124}\n   Writer Instance Id: {1bddd48e-5052-49db-9b07-b96f96727e6b}\n   State: [1] Stable\n   Last error: ${lastError}\n`;

describe('vssadmin list writers: nothing writer-shaped is silently dropped', () => {
  it('refuses vssadmin\'s own error instead of returning "no writers"', () => {
    const failed = `${VSSADMIN_BANNER}\nError: A Volume Shadow Copy Service component encountered an unexpected error.\n`;
    expect(() => parseVssadminWriters(failed)).toThrow(/vssadmin output line 4: expected a writer list, not an error from vssadmin/);
  });

  it('refuses writer lines whose name line it cannot read, naming the first one', () => {
    // an unquoted name: the block's lines must not vanish
    expect(() => parseVssadminWriters(block('Writer name: Task Scheduler Writer'))).toThrow(/vssadmin output line 2: expected a line of a writer block/);
    expect(() => parseVssadminWriters('   State: [1] Stable\n')).toThrow(/vssadmin output line 1/);
  });

  it('refuses an extra id or state line inside a block', () => {
    const extra = block("Writer name: 'X'").replace('   State:', '   Writer Id: {d61d61c8-d73a-4eee-8cdd-f6f9786b7125}\n   State:');
    expect(() => parseVssadminWriters(extra)).toThrow(/vssadmin output line 4/);
    expect(() => parseVssadminWriters(block("Writer name: 'X'") + '   State: [8] Failed\n')).toThrow(/vssadmin output line 6/);
  });

  it('still skips the banner and prose, and empty output is no writers', () => {
    expect(parseVssadminWriters(`${VSSADMIN_BANNER}\nWaiting for responses.\nThese may be delayed if a shadow copy is being prepared.\n\n`)).toEqual([]);
    expect(parseVssadminWriters('')).toEqual([]);
  });
});

describe('vssadmin list writers: localised quotes and last errors', () => {
  it.each([
    ['Writer name: ‘Task Scheduler Writer’'],
    ['Writer name: “Task Scheduler Writer”'],
    ['Nom de l’enregistreur : « Task Scheduler Writer »'],
    ['Verfassername: „Task Scheduler Writer“'],
    ['Writer name: "Task Scheduler Writer"'],
  ])('reads the name from %s', (nameLine) => {
    expect(parseVssadminWriters(block(nameLine))[0]).toMatchObject({ name: 'Task Scheduler Writer', state: 'STABLE', lastError: 0 });
  });

  it.each([
    ['No error', 0],
    ['Retryable error', HR.VSS_E_WRITERERROR_RETRYABLE],
    // fr-FR vssadmin.exe.mui (see the citation in src/vss/vssadmin.ts)
    ['Aucune erreur', 0],
    ['Erreur récupérable', HR.VSS_E_WRITERERROR_RETRYABLE],
    ['Erreur non récupérable', HR.VSS_E_WRITERERROR_NONRETRYABLE],
    ['Délai dépassé', HR.VSS_E_WRITERERROR_TIMEOUT],
  ])('maps last error %s', (text, code) => {
    expect(parseVssadminWriters(block("Writer name: 'X'", text))[0]).toMatchObject({ lastError: code, lastErrorText: text });
  });

  it('keeps an unknown localised text as text, never as "no error"', () => {
    expect(parseVssadminWriters(block("Writer name: 'X'", 'Zeitüberschreitung'))[0]).toMatchObject({ lastError: undefined, lastErrorText: 'Zeitüberschreitung' });
  });
});
