import { describe, expect, it } from 'vitest';
import { HR } from '../../src/vss/hresult.js';
import { parseDiskshadowWriters } from '../../src/vss/diskshadow.js';

/**
 * The example of `list writers status` in Microsoft's DiskShadow reference
 * (MicrosoftDocs/windowsserverdocs, WindowsServerDocs/administration/windows-commands/list-writers.md),
 * whose "8 writers listed." counts writers the page leaves out.
 */
const DOC_EXAMPLE = `Listing writer status ...
* WRITER System Writer
        - Status: 5 (VSS_WS_WAITING_FOR_BACKUP_COMPLETE)
        - Writer Failure code: 0x00000000 (S_OK)
        - Writer ID: {e8132975-6f93-4464-a53e-1050253ae220}
        - Instance ID: {7e631031-c695-4229-9da1-a7de057e64cb}
* WRITER Shadow Copy Optimization Writer
        - Status: 1 (VSS_WS_STABLE)
        - Writer Failure code: 0x00000000 (S_OK)
        - Writer ID: {4dc3bdd4-ab48-4d07-adb0-3bee2926fd7f}
        - Instance ID: {9e362607-9794-4dd4-a7cd-b3d5de0aad20}
* WRITER Registry Writer
        - Status: 1 (VSS_WS_STABLE)
        - Writer Failure code: 0x00000000 (S_OK)
        - Writer ID: {afbab4a2-367d-4d15-a586-71dbb18f8485}
        - Instance ID: {e87ba7e3-f8d8-42d8-b2ee-c76ae26b98e8}
8 writers listed.
`;
const COMPLETE = DOC_EXAMPLE.replace('8 writers listed.', '3 writers listed.');

describe('diskshadow list writers', () => {
  it('reads the documented status layout', () => {
    const w = parseDiskshadowWriters(COMPLETE.replace(/\n/g, '\r\n'));
    expect(w).toHaveLength(3);
    expect(w[0]).toEqual({
      name: 'System Writer',
      writerId: 'e8132975-6f93-4464-a53e-1050253ae220',
      instanceId: '7e631031-c695-4229-9da1-a7de057e64cb',
      state: 'WAITING_FOR_BACKUP_COMPLETE',
      lastError: 0,
      details: [],
    });
    expect(w.map((x) => x.state)).toEqual(['WAITING_FOR_BACKUP_COMPLETE', 'STABLE', 'STABLE']);
  });

  it('reads quoted names (older DiskShadow) and failure codes', () => {
    const failed = COMPLETE.replace('* WRITER Registry Writer', '* WRITER "Registry Writer"').replace(
      '- Status: 1 (VSS_WS_STABLE)\n        - Writer Failure code: 0x00000000 (S_OK)\n        - Writer ID: {afbab4a2',
      '- Status: 8 (VSS_WS_FAILED_AT_PREPARE_SNAPSHOT)\n        - Writer Failure code: 0x800423f3 (VSS_E_WRITERERROR_RETRYABLE)\n        - Writer ID: {afbab4a2',
    );
    expect(parseDiskshadowWriters(failed)[2]).toMatchObject({ name: 'Registry Writer', state: 'FAILED_AT_PREPARE_SNAPSHOT', lastError: HR.VSS_E_WRITERERROR_RETRYABLE });
  });

  it('keeps what metadata/detailed print after the status lines as details', () => {
    const md = COMPLETE.replace('        - Instance ID: {7e631031-c695-4229-9da1-a7de057e64cb}\n', '        - Instance ID: {7e631031-c695-4229-9da1-a7de057e64cb}\n        - Number of components: 2\n');
    expect(parseDiskshadowWriters(md)[0]!.details).toEqual(['- Number of components: 2']);
  });

  it('refuses a count that disagrees with the blocks (the documentation elides five)', () => {
    expect(() => parseDiskshadowWriters(DOC_EXAMPLE)).toThrow(/diskshadow output line 17: expected 8 writer blocks, as the line says \(got "3 read"\)/);
  });

  it('refuses writer-looking lines it cannot place, with the line number', () => {
    expect(() => parseDiskshadowWriters(COMPLETE.replace('* WRITER System Writer\n', ''))).toThrow(/diskshadow output line 2: expected a "\* WRITER" line/);
    expect(() => parseDiskshadowWriters(COMPLETE.replace('        - Writer ID: {e8132975-6f93-4464-a53e-1050253ae220}\n', ''))).toThrow(/diskshadow output line 2: expected a writer block with writer id/);
    expect(() => parseDiskshadowWriters(COMPLETE.replace('- Status: 5', '- Status: 42'))).toThrow(/line 3: expected a writer state number/);
    expect(() => parseDiskshadowWriters(COMPLETE.replace('- Writer Failure code: 0x00000000 (S_OK)', '- Writer Failure code: none'))).toThrow(/line 4: expected a failure code/);
    expect(() => parseDiskshadowWriters('Listing writer status ...\n{e8132975-6f93-4464-a53e-1050253ae220}\n')).toThrow(/line 2/);
    expect(() => parseDiskshadowWriters(COMPLETE.replace('        - Status: 5 (VSS_WS_WAITING_FOR_BACKUP_COMPLETE)\n', '        - Status: 5 (VSS_WS_WAITING_FOR_BACKUP_COMPLETE)\n        - Status: 1 (VSS_WS_STABLE)\n'))).toThrow(/line 4: expected each of Status/);
  });

  it('prose only is no writers', () => {
    expect(parseDiskshadowWriters('Listing writer status ...\n0 writers listed.\n')).toEqual([]);
  });
});
