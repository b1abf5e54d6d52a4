import { afterEach, describe, expect, it } from 'vitest';
import { install, recover, status } from '../../src/install/operations.js';
import { MBAM_WRITER_ID } from '../../src/mbam/writer-definition.js';
import { PosixPlatform } from '../../src/platform/posix.js';
import { VssError } from '../../src/vss/errors.js';
import { HR } from '../../src/vss/hresult.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { tempDir } from '../support/state.js';
import { runCliAsync } from '../support/cli.js';

/** A platform whose unregister fails, as a VSS service that stopped answering would. */
class StuckPlatform extends PosixPlatform {
  override async unregisterWriter(): Promise<void> {
    throw new VssError(HR.VSS_E_WRITER_INFRASTRUCTURE, { message: 'the writer store is not answering' });
  }
}

afterEach(() => {
  delete process.env['MBAM_VSS_ENABLE_FAULT_INJECTION'];
  delete process.env['MBAM_VSS_FAULT'];
});

describe('a rollback that cannot complete', () => {
  it('is reported as incomplete (exit 4), kept in the journal, listed by status, and retried next time', async () => {
    const stateDir = tempDir();
    process.env['MBAM_VSS_ENABLE_FAULT_INJECTION'] = '1';
    process.env['MBAM_VSS_FAULT'] = 'verify:fail';
    const err = await install({ topologyFile: EXAMPLE_TOPOLOGY, server: 'MBAM-REC01', skipSqlChecks: true, platform: new StuckPlatform(stateDir), stateDir }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.category).toBe('incomplete');
    expect(err.message).toMatch(/rollback did not complete: register: the writer store is not answering/);
    expect(err.details.steps).toContainEqual(expect.objectContaining({ step: 'register', status: 'undo-failed' }));
    delete process.env['MBAM_VSS_FAULT'];

    const s = await status({ platform: new PosixPlatform(stateDir), stateDir });
    expect(s.unfinished).toMatchObject({ op: 'install', rollbackIncomplete: true });
    expect(s.unfinished!.steps.find((x) => x.step === 'register')).toMatchObject({ acted: 'yes', undone: false, undoError: 'the writer store is not answering' });

    const cli = await runCliAsync(['status', '--state-dir', stateDir]);
    expect(cli.code).toBe(4);
    expect(cli.stdout).toMatch(/ROLLBACK INCOMPLETE/);
    // Still stuck: the next run refuses to go on.
    await expect(recover({ platform: new StuckPlatform(stateDir), stateDir })).rejects.toMatchObject({ category: 'incomplete' });
    // Fixed: the rollback completes and the half-installed writer is gone.
    const report = await recover({ platform: new PosixPlatform(stateDir), stateDir });
    expect(report?.complete).toBe(true);
    expect((await new PosixPlatform(stateDir).listWriters()).find((w) => w.writerId === MBAM_WRITER_ID)).toBeUndefined();
    expect((await status({ platform: new PosixPlatform(stateDir), stateDir })).unfinished).toBeUndefined();
  });
});
