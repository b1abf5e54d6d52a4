/**
 * One MBAM writer per server: the express registration and the hosted writer expose the same writer
 * class and component names (AddComponentDependency's uniqueness rule), so install chooses one —
 * express by default, hosted when the topology asks (Windows) — and switches atomically.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { install } from '../../src/install/operations.js';
import { PosixPlatform } from '../../src/platform/posix.js';
import { MBAM_WRITER_ID } from '../../src/mbam/writer-definition.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { tempDir } from '../support/state.js';

const svc = vi.hoisted(() => ({ installed: false, calls: [] as string[], failStart: false, failAfterUninstall: false }));
vi.mock('../../src/platform/windows-service.js', async (orig) => ({
  ...(await orig<typeof import('../../src/platform/windows-service.js')>()),
  installHostedWriterService: () => {
    svc.calls.push('install');
    svc.installed = true;
  },
  startHostedWriterService: () => {
    svc.calls.push('start');
    if (svc.failStart) throw new Error('the service stopped while starting');
  },
  hostedWriterServiceExists: () => svc.installed,
  uninstallHostedWriterService: () => {
    svc.calls.push('uninstall');
    const was = svc.installed;
    svc.installed = false;
    if (svc.failAfterUninstall) throw new Error('the SCM connection dropped after the delete');
    return was;
  },
}));

/** The POSIX registry standing in for VSS, on a platform that can host a writer service (as Windows). */
function windowsLike(stateDir: string): PosixPlatform {
  const p = new PosixPlatform(stateDir);
  Object.defineProperty(p, 'capabilities', { value: { ...p.capabilities, hostedWriterService: true } });
  return p;
}
const topology = (dir: string, hostedWriter: boolean) => {
  const f = join(dir, `topology-${hostedWriter}.json`);
  writeFileSync(f, JSON.stringify({ ...JSON.parse(readFileSync(EXAMPLE_TOPOLOGY, 'utf8')), hostedWriter }));
  return f;
};
const expressRegistered = async (p: PosixPlatform) => (await p.listWriters()).some((w) => w.writerId === MBAM_WRITER_ID);

describe('express or hosted, never both', () => {
  beforeEach(() => {
    svc.installed = false;
    svc.calls = [];
    svc.failStart = false;
    svc.failAfterUninstall = false;
    vi.unstubAllEnvs();
  });

  it('switches express -> hosted -> express in one transaction each; a failed switch leaves the previous writer', async () => {
    const stateDir = tempDir();
    const p = windowsLike(stateDir);
    const run = (hosted: boolean) => install({ topologyFile: topology(stateDir, hosted), server: 'MBAM-REC01', skipSqlChecks: true, platform: p, stateDir });
    await run(false);
    expect(await expressRegistered(p)).toBe(true);
    expect(svc.installed).toBe(false);
    // To hosted: the express registration goes, the service is installed and started.
    await run(true);
    expect(await expressRegistered(p)).toBe(false);
    expect(svc.installed).toBe(true);
    expect(svc.calls.slice(-2)).toEqual(['install', 'start']);
    // Back to express: the service goes.
    await run(false);
    expect(await expressRegistered(p)).toBe(true);
    expect(svc.installed).toBe(false);
    // A switch to hosted whose service does not start rolls back to the express registration.
    svc.failStart = true;
    await expect(run(true)).rejects.toThrow(/stopped while starting/);
    expect(await expressRegistered(p)).toBe(true);
    expect(svc.installed).toBe(false);
  });

  it('a failed switch back to express puts the removed service back, from the journal alone', async () => {
    const stateDir = tempDir();
    const p = windowsLike(stateDir);
    const run = (hosted: boolean) => install({ topologyFile: topology(stateDir, hosted), server: 'MBAM-REC01', skipSqlChecks: true, platform: p, stateDir });
    await run(true);
    expect(svc.installed).toBe(true);
    // Fails after the service step: the removed service is reinstalled and started.
    vi.stubEnv('MBAM_VSS_ENABLE_FAULT_INJECTION', '1');
    vi.stubEnv('MBAM_VSS_FAULT', 'commit:fail');
    await expect(run(false)).rejects.toThrow(/injected failure at step 'commit'/);
    expect(svc.installed).toBe(true);
    expect(svc.calls.slice(-3)).toEqual(['uninstall', 'install', 'start']);
    expect(await expressRegistered(p)).toBe(false);
    vi.unstubAllEnvs();
    // The removal happened but was never journaled as done: the undo still puts the service back.
    svc.failAfterUninstall = true;
    await expect(run(false)).rejects.toThrow(/connection dropped/);
    expect(svc.installed).toBe(true);
    expect(await expressRegistered(p)).toBe(false);
  });
});
