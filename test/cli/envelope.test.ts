/**
 * The --json contract (docs/cli-json.md): every command, for every outcome, prints exactly one
 * document `{ ok, exitCode, command, result | error }` on stdout, and its exitCode is the process's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileList, writeWriterMetadata } from '../../src/vss/writer-metadata.js';
import { runCliAsync, type CliResult } from '../support/cli.js';
import { EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { tempDir } from '../support/state.js';

const COMMANDS = ['writers', 'metadata', 'install', 'uninstall', 'register-writer', 'unregister-writer', 'status', 'health', 'backup', 'verify', 'restore', 'serve', 'demo', 'providers', 'sets'];

/** One envelope and nothing else on stdout, agreeing with the exit code. */
function envelope(r: CliResult, command: string | null): any {
  const e = r.envelope();
  expect(Object.keys(e).sort()).toEqual(['command', 'exitCode', 'ok', 'error' in e ? 'error' : 'result'].sort());
  expect(e.exitCode).toBe(r.code);
  expect(e.ok).toBe(r.code === 0);
  expect(e.command).toBe(command);
  return e;
}

function writerXml(root: string): string {
  const data = join(root, 'data');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'a.bin'), 'abc');
  const wmd = join(root, 'writer.xml');
  writeFileSync(
    wmd,
    writeWriterMetadata({
      version: '1.2',
      identity: { writerId: '5b0f1a3e-1c2d-4e5f-8a9b-0c1d2e3f4a51', instanceId: '5b0f1a3e-1c2d-4e5f-8a9b-0c1d2e3f4a52', friendlyName: 'Envelope Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
      restoreMethod: { method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'NEVER', rebootRequired: false },
      components: [{ type: 'FILEGROUP', componentName: 'data', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(data, '*.bin')], dependencies: [] }],
      excludeFiles: [],
      excludeFilesFromSnapshot: [],
    }),
  );
  return wmd;
}

describe('--json envelope', () => {
  /** Required options, so that the unknown option is what commander refuses. */
  const REQUIRED: Record<string, string[]> = { install: ['--topology', 't'], health: ['--topology', 't'], serve: ['--topology', 't'], backup: ['--to', 'x'], restore: ['--from', 'x'], 'register-writer': ['--metadata', 'm'] };

  it.each(COMMANDS)('%s: an unknown option is a usage-error envelope, exit 2', async (c) => {
    const r = await runCliAsync([c, ...(REQUIRED[c] ?? []), '--no-such-option', '--json'], { MBAM_VSS_STATE_DIR: tempDir() });
    expect(r.code).toBe(2);
    const e = envelope(r, c);
    expect(e.error).toMatchObject({ name: 'USAGE', code: 'commander.unknownOption', category: 'input' });
    expect(e.error.message).toMatch(/unknown option '--no-such-option'/);
    expect(r.stderr).toMatch(/unknown option/); // the human text is still there
  });

  it('an unknown command and a missing required option are envelopes too', async () => {
    const u = await runCliAsync(['no-such-command', '--json']);
    expect(envelope(u, null).error.code).toBe('commander.unknownCommand');
    const none = await runCliAsync(['--json']);
    expect(none.code).toBe(2);
    expect(envelope(none, null).error.message).toBe('a command is required (mbam-vss --help lists them)');
    for (const c of ['install', 'health', 'serve']) {
      const r = await runCliAsync([c, '--json']);
      expect(r.code).toBe(2);
      expect(envelope(r, c).error).toMatchObject({ code: 'commander.missingMandatoryOptionValue', message: "required option '--topology <file>' not specified" });
    }
    const p = await runCliAsync(['backup', '--to', join(tempDir(), 'x'), '--provider', 'zfs', '--json']);
    expect(envelope(p, 'backup').error.message).toMatch(/Allowed choices are auto, btrfs, external, copy/);
  });

  it('an error thrown by a command is an envelope with the VssError, exit by category', async () => {
    const r = await runCliAsync(['metadata', '--file', '/nonexistent/missing.xml', '--json']);
    expect(r.code).toBe(2);
    expect(envelope(r, 'metadata').error).toMatchObject({ name: 'E_INVALIDARG', category: 'input', message: '--file: cannot read /nonexistent/missing.xml: no such file' });
  });

  it('writers and status put the same writer shape in their result', async () => {
    const root = tempDir();
    const state = join(root, 'state');
    expect((await runCliAsync(['register-writer', '--metadata', writerXml(root), '--state-dir', state])).code).toBe(0);
    const w = envelope(await runCliAsync(['writers', '--state-dir', state, '--json']), 'writers').result;
    const s = envelope(await runCliAsync(['status', '--state-dir', state, '--json']), 'status').result;
    const shape = {
      name: 'Envelope Writer',
      writerId: '5b0f1a3e-1c2d-4e5f-8a9b-0c1d2e3f4a51',
      instanceId: '5b0f1a3e-1c2d-4e5f-8a9b-0c1d2e3f4a52',
      state: 'STABLE',
      stateValue: 1,
      lastError: 0,
      lastErrorName: 'S_OK',
      lastErrorHex: '0x00000000',
    };
    expect(w.writers).toEqual([shape]);
    expect(s.writers).toEqual([shape]);
    expect(w.problems).toEqual([]);
    expect(s).toMatchObject({ stateDir: state, problems: [] });
  });

  it('a report that is a failure has ok false, its exit code and the result', async () => {
    const root = tempDir();
    const state = join(root, 'state');
    expect((await runCliAsync(['register-writer', '--metadata', writerXml(root), '--state-dir', state])).code).toBe(0);
    const set = join(root, 'set');
    const b = await runCliAsync(['backup', '--to', set, '--provider', 'copy', '--state-dir', state, '--json']);
    const be = envelope(b, 'backup');
    expect(be.result).toMatchObject({ dir: set, files: 1, bytes: 3 });
    expect(be.result.volumes[0]).toMatchObject({ provider: 'copy', reason: '--provider copy' });
    expect(envelope(await runCliAsync(['verify', set, '--json']), 'verify').result).toMatchObject({ ok: true, files: 1, bytes: 3, problems: [] });
    writeFileSync(join(set, 'manifest.json'), (await import('node:fs')).readFileSync(join(set, 'manifest.json'), 'utf8').replace(/"size": ?3/, '"size":4'));
    const v = await runCliAsync(['verify', set, '--json']);
    expect(v.code).toBe(1);
    expect(envelope(v, 'verify').result.problems[0]).toMatchObject({ problem: 'size' });
  });

  it('commands without a result of their own still print an envelope', async () => {
    const r = await runCliAsync(['metadata', '--file', EXAMPLE_TOPOLOGY, '--json']);
    expect(r.code).toBe(2); // a JSON topology is not an XML document
    envelope(r, 'metadata');
  });
});
