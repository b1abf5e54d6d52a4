/**
 * The install transaction under failure: for every step and every fault mode, the process (the
 * real CLI) fails or is SIGKILLed there; afterwards the registry holds the complete registration or
 * what it held before, never a half, and the next run finds no journal left behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSTALL, recover, REGISTER_WRITER, status, UNINSTALL } from '../../src/install/operations.js';
import { loadTopology } from '../../src/mbam/topology.js';
import { buildMbamWriterMetadata, MBAM_WRITER_ID } from '../../src/mbam/writer-definition.js';
import { PosixPlatform } from '../../src/platform/posix.js';
import { metadataFingerprint } from '../../src/vss/writer-metadata.js';
import { runCliAsync } from '../support/cli.js';
import { CLI, EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { changedTopology, tempDir } from '../support/state.js';

const STEPS = INSTALL.stepNames;
const MODES = ['fail', 'crash', 'crash-after'] as const;
const fault = (spec: string) => ({ MBAM_VSS_ENABLE_FAULT_INJECTION: '1', MBAM_VSS_FAULT: spec });
const installArgs = (stateDir: string, topology = EXAMPLE_TOPOLOGY) => ['install', '--topology', topology, '--server', 'MBAM-REC01', '--skip-sql-checks', '--state-dir', stateDir, '--json'];

const newMd = buildMbamWriterMetadata(loadTopology(EXAMPLE_TOPOLOGY), 'MBAM-REC01');

async function registered(stateDir: string): Promise<string | undefined> {
  const p = new PosixPlatform(stateDir);
  expect(await p.registryProblems()).toEqual([]);
  const w = (await p.listWriters()).find((x) => x.writerId === MBAM_WRITER_ID);
  return w ? metadataFingerprint(await p.getWriterMetadata(MBAM_WRITER_ID)) : undefined;
}

describe.each([
  ['a fresh install', false],
  ['replacing a registration (changed topology)', true],
])('faults during %s', (_name, withPrevious) => {
  for (const step of STEPS) {
    for (const mode of MODES) {
      it(`${step}:${mode}`, async () => {
        const stateDir = tempDir();
        let before: string | undefined;
        if (withPrevious) {
          expect((await runCliAsync(installArgs(stateDir, changedTopology(stateDir)))).code).toBe(0);
          before = await registered(stateDir);
          expect(before).toBeDefined();
        }
        const r = await runCliAsync(installArgs(stateDir), fault(`${step}:${mode}`));
        if (mode === 'fail') {
          expect(r.code, r.stderr + r.stdout).toBe(1);
          expect(r.json().error.message).toMatch(new RegExp(`injected failure at step '${step}'`));
          expect(existsSync(join(stateDir, 'transaction'))).toBe(false); // rolled back in-process
        } else {
          expect(r.code).toBe(-1); // killed by SIGKILL
          const s = await status({ platform: new PosixPlatform(stateDir), stateDir });
          expect(s.unfinished?.op).toBe('install');
          expect((await runCliAsync(['status', '--state-dir', stateDir])).code).toBe(1);
        }
        // Roll back (or finish) what the killed run left, as the next run does first.
        const report = await recover({ platform: new PosixPlatform(stateDir), stateDir });
        expect(report?.complete ?? true).toBe(true);
        expect(existsSync(join(stateDir, 'transaction'))).toBe(false);
        const after = await registered(stateDir);
        const committed = step === 'commit' && mode === 'crash-after';
        expect(after).toBe(committed ? metadataFingerprint(newMd) : before);
        const writersDir = join(stateDir, 'writers');
        expect(existsSync(writersDir) ? readdirSync(writersDir).filter((n) => n.startsWith('.')) : []).toEqual([]);
        // And a clean rerun installs the new registration.
        const again = await runCliAsync(installArgs(stateDir));
        expect(again.code, again.stderr).toBe(0);
        expect(await registered(stateDir)).toBe(metadataFingerprint(newMd));
      });
    }
  }
});

describe('install', () => {
  it('the next install rolls back an unfinished transaction before anything else, and says so', async () => {
    const stateDir = tempDir();
    expect((await runCliAsync(installArgs(stateDir), fault('verify:crash'))).code).toBe(-1);
    const r = await runCliAsync(installArgs(stateDir));
    expect(r.code).toBe(0);
    expect(r.json().recovered).toMatchObject({ op: 'install', complete: true });
    expect(r.json().recovered.steps.map((s: { step: string }) => s.step)).toContain('register');
  });

  it('a fault naming no declared step is refused, and changes nothing', async () => {
    const stateDir = tempDir();
    const r = await runCliAsync(installArgs(stateDir), fault('regster:fail'));
    expect(r.code, r.stderr).toBe(2);
    expect(r.json().error.message).toMatch(/MBAM_VSS_FAULT=regster:fail: .*among preflight, save-previous/);
    expect(await registered(stateDir)).toBeUndefined();
    expect(existsSync(join(stateDir, 'transaction'))).toBe(false);
  });

  it('--help lists the steps as the operation table names them', async () => {
    for (const [cmd, table] of [['install', INSTALL], ['uninstall', UNINSTALL], ['register-writer', REGISTER_WRITER]] as const) {
      const r = await runCliAsync([cmd, '--help']);
      expect(r.stdout.replace(/\s+/g, ' ')).toContain(`Steps (the names MBAM_VSS_FAULT uses): ${table.stepNames.join(', ')}.`);
    }
  });

  it('fault variables are ignored without the enabling variable', async () => {
    const stateDir = tempDir();
    expect((await runCliAsync(installArgs(stateDir), { MBAM_VSS_FAULT: 'register:crash' })).code).toBe(0);
  });

  it('a bad topology exits 2 naming the field and touches nothing', async () => {
    const dir = tempDir();
    const stateDir = join(dir, 'state');
    const file = changedTopology(dir, '');
    const r = await runCliAsync(['install', '--topology', file, '--server', 'MBAM-REC01', '--skip-sql-checks', '--state-dir', stateDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\$\.servers\[0\]\.databases\.recovery\.name: expected a non-empty string/);
    expect(existsSync(stateDir)).toBe(false);
  });

  it('a host that is not in the topology exits 3; an unknown --server exits 2', async () => {
    const stateDir = tempDir();
    const here = await runCliAsync(['install', '--topology', EXAMPLE_TOPOLOGY, '--skip-sql-checks', '--state-dir', stateDir]);
    expect(here.code).toBe(3);
    expect(here.stderr).toMatch(/is not a server of the topology .*--server NAME/s);
    expect((await runCliAsync(['install', '--topology', EXAMPLE_TOPOLOGY, '--server', 'NOPE', '--state-dir', stateDir])).code).toBe(2);
  });

  it('without --skip-sql-checks the SQL preflight runs, and its failure exits 3 naming it', async () => {
    const r = await runCliAsync(['install', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-REC01', '--state-dir', tempDir()]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/SQL Server|sql/);
  });

  it('--dry-run prints the steps by their fault names and changes nothing', async () => {
    const dir = tempDir();
    const stateDir = join(dir, 'state');
    const r = await runCliAsync(['install', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-CMP01', '--dry-run', '--json', '--state-dir', stateDir]);
    expect(r.code).toBe(0);
    expect(r.json().steps).toEqual(STEPS);
    expect(r.json().roles).toEqual(['complianceAudit']);
    expect(existsSync(stateDir)).toBe(false);
  });

  it('re-running with the same topology is a no-op success', async () => {
    const stateDir = tempDir();
    expect((await runCliAsync(installArgs(stateDir))).json().outcome).toBe('committed');
    const again = (await runCliAsync(installArgs(stateDir))).json();
    expect(again.outcome).toBe('no-change');
    expect(again.steps.find((s: { step: string }) => s.step === 'register').status).toBe('not-needed');
  });

  it('two servers of the example give two writer instances whose components follow the topology', async () => {
    const a = tempDir();
    const b = tempDir();
    expect((await runCliAsync(installArgs(a))).code).toBe(0);
    expect((await runCliAsync(['install', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-CMP01', '--skip-sql-checks', '--state-dir', b])).code).toBe(0);
    const ma = await new PosixPlatform(a).getWriterMetadata(MBAM_WRITER_ID);
    const mb = await new PosixPlatform(b).getWriterMetadata(MBAM_WRITER_ID);
    expect(ma.identity.instanceId).not.toBe(mb.identity.instanceId);
    expect(ma.components.map((c) => c.componentName)).toEqual(['MBAM Recovery and Hardware']);
    expect(mb.components.map((c) => c.componentName)).toEqual(['MBAM Compliance Status']);
    expect(mb.components[0]!.dependencies[0]!.logicalPath).toBe('MBAM-CMP01\\MBAM');
  });

  it('two installers started at once serialise: one registration, no torn file', async () => {
    const stateDir = tempDir();
    const run = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, [CLI, ...installArgs(stateDir)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', (d) => (out += d));
        p.on('close', (code) => resolve({ code, out }));
      });
    const results = await Promise.all([run(), run(), run()]);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(results.map((r) => JSON.parse(r.out).result.outcome).sort()).toEqual(['committed', 'no-change', 'no-change']);
    expect(await registered(stateDir)).toBe(metadataFingerprint(newMd));
  });

  it('two register-writer at once: one succeeds, the other fails cleanly with ALREADY_EXISTS', async () => {
    const stateDir = tempDir();
    const wmd = join(stateDir, '..', `wmd-${process.pid}.xml`);
    const { writeWriterMetadata } = await import('../../src/vss/writer-metadata.js');
    (await import('node:fs')).writeFileSync(wmd, writeWriterMetadata(newMd));
    const run = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, [CLI, 'register-writer', '--metadata', wmd, '--state-dir', stateDir, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', (d) => (out += d));
        p.on('close', (code) => resolve({ code, out }));
      });
    const results = await Promise.all([run(), run()]);
    expect(results.map((r) => r.code).sort()).toEqual([0, 1]);
    const failed = JSON.parse(results.find((r) => r.code === 1)!.out);
    expect(failed.error.name).toBe('VSS_E_OBJECT_ALREADY_EXISTS');
    expect((await new PosixPlatform(stateDir).listWriters()).length).toBe(1);
  });
});

describe('uninstall', () => {
  it('removes the registration; absent is success; a crash mid-way rolls back to registered', async () => {
    const stateDir = tempDir();
    expect((await runCliAsync(installArgs(stateDir))).code).toBe(0);
    expect((await runCliAsync(['uninstall', '--state-dir', stateDir], fault('verify:crash'))).code).toBe(-1);
    await recover({ platform: new PosixPlatform(stateDir), stateDir });
    expect(await registered(stateDir)).toBe(metadataFingerprint(newMd));
    const r = await runCliAsync(['uninstall', '--state-dir', stateDir, '--json']);
    expect(r.code).toBe(0);
    expect(r.json().outcome).toBe('committed');
    expect(await registered(stateDir)).toBeUndefined();
    expect((await runCliAsync(['uninstall', '--state-dir', stateDir, '--json'])).json().outcome).toBe('no-change');
  });

  for (const step of UNINSTALL.stepNames) {
    it(`a failure at ${step} rolls back to registered`, async () => {
      const stateDir = tempDir();
      expect((await runCliAsync(installArgs(stateDir))).code).toBe(0);
      const r = await runCliAsync(['uninstall', '--state-dir', stateDir, '--json'], fault(`${step}:fail`));
      expect(r.code, r.stderr).toBe(1);
      expect(r.json().error.message).toMatch(new RegExp(`injected failure at step '${step}'`));
      expect(existsSync(join(stateDir, 'transaction'))).toBe(false);
      expect(await registered(stateDir)).toBe(metadataFingerprint(newMd));
    });
  }

  it('unregister-writer of an absent writer reports VSS_E_OBJECT_NOT_FOUND', async () => {
    const r = await runCliAsync(['unregister-writer', '{' + MBAM_WRITER_ID.toUpperCase() + '}', '--state-dir', tempDir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/VSS_E_OBJECT_NOT_FOUND \(0x80042308\)/);
  });
});
