import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliAsync } from '../support/cli.js';
import { CAPTURES, CLI, EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { hasCommand, isRoot, itRequires, prereq } from '../support/prereq.js';
import { fileList, writeWriterMetadata } from '../../src/vss/writer-metadata.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'mbam-cli-'));

/** A small express writer's metadata document in `dir`. */
function writerDocument(dir: string): string {
  const wmd = join(dir, 'writer.xml');
  writeFileSync(
    wmd,
    writeWriterMetadata({
      version: '1.2',
      identity: { writerId: '7d3c2b1a-0f9e-4d8c-b7a6-958473625140', instanceId: '7d3c2b1a-0f9e-4d8c-b7a6-958473625141', friendlyName: 'CLI Duplicate Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
      restoreMethod: { method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'NEVER', rebootRequired: false },
      components: [{ type: 'FILEGROUP', componentName: 'data', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(dir, '*.bin')], dependencies: [] }],
      excludeFiles: [],
      excludeFilesFromSnapshot: [],
    }),
  );
  chmodSync(wmd, 0o644);
  return wmd;
}

const NOBODY = prereq(isRoot() && hasCommand('setpriv'), 'needs root and setpriv to run the CLI as the unprivileged user nobody');

/** Runs the CLI as nobody (uid 65534) with a private HOME, as an unprivileged operator would. */
function asNobody(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const home = mkdtempSync(join(tmpdir(), 'mbam-nobody-'));
  chownSync(home, 65534, 65534);
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-i', `PATH=${process.env['PATH']}`, `HOME=${home}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('mbam-vss CLI', () => {
  it('--help describes the commands and the exit codes', async () => {
    const r = await runCliAsync(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['writers', 'metadata', 'install', 'uninstall', 'status', 'register-writer', 'unregister-writer', 'demo']) expect(r.stdout).toContain(c);
    expect(r.stdout).toMatch(/Exit codes:\n  0  done\n  1  the operation failed and was rolled back cleanly\n  2  bad usage/);
    expect((await runCliAsync(['metadata', '--help'])).stdout).toMatch(/--file <file.xml>/);
  });

  it('bad usage exits 2', async () => {
    expect((await runCliAsync(['no-such-command'])).code).toBe(2);
    expect((await runCliAsync(['writers', '--no-such-option'])).code).toBe(2);
    const both = await runCliAsync(['metadata', 'x', '--file', 'y']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/metadata: expected either a writer id\/name or --file <file.xml>, not both/);
    const neither = await runCliAsync(['metadata']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/metadata: expected a writer id\/name, or --file <file.xml>\n/);
    expect(neither.stderr).not.toMatch(/not both/);
  });

  it('a bad timeout option exits 2 naming it, and a refused backup leaves no history entry', async () => {
    const state = tmp();
    const b = await runCliAsync(['--state-dir', state, 'backup', '--to', join(state, 'set'), '--freeze-timeout', '3600001']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--freeze-timeout: expected milliseconds from 1 to 3600000 \(got "3600001"\)/);
    expect(existsSync(join(state, 'history.jsonl'))).toBe(false);
    const s = await runCliAsync(['--state-dir', state, 'serve', '--topology', EXAMPLE_TOPOLOGY, '--command-timeout', 'soon']);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/--command-timeout: expected a positive number of milliseconds \(got "soon"\)/);
  });

  it('a missing --file is bad input (exit 2) naming the option and path, not an internal error', async () => {
    const r = await runCliAsync(['metadata', '--file', '/nonexistent/missing.xml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('mbam-vss: --file: cannot read /nonexistent/missing.xml: no such file\n  (E_INVALIDARG (0x80070057))\n');
    const m = await runCliAsync(['register-writer', '--metadata', '/nonexistent/w.xml', '--state-dir', tmp()]);
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/--metadata: cannot read \/nonexistent\/w.xml: no such file/);
  });

  it('a reader that stops early (help | head) does not crash the CLI with EPIPE', async () => {
    for (let i = 0; i < 3; i++) {
      const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" help backup | head -1`], { encoding: 'utf8' });
      expect(r.stdout).toBe('Usage: mbam-vss backup [options]\n');
      expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    }
  });

  it('--help marks required options', async () => {
    expect((await runCliAsync(['install', '--help'])).stdout).toMatch(/--topology <file> +the MBAM topology file \(JSON\) \(required\)/);
    const b = (await runCliAsync(['backup', '--help'])).stdout;
    expect(b).toMatch(/--to <dir> +the backup set to create \(must not exist\) \(required\)/);
    expect(b).toMatch(/--provider <provider>[\s\S]*\(choices: "auto",\s+"btrfs",\s+"external",\s+"copy",\s+default:\s+"auto"\)/);
  });

  it('metadata --file reads a Backup Components Document and a DiskShadow Manifest.xml', async () => {
    const bcd = await runCliAsync(['metadata', '--file', join(CAPTURES, 'with_sql', 'BCDocument.xml')]);
    expect(bcd.code, bcd.stderr).toBe(0);
    expect(bcd.stdout).toMatch(/^Backup Components Document \(version 1.2\)\n  Backup type: FULL   Snapshot set: \{4ad2e8b1-faf2-4aca-a010-2c3f939cef62\}/);
    expect(bcd.stdout).toContain('FILEGROUP WIN2012-SQL17-2\\local1  stamp CAAAAMQv3+t4udUB');
    expect((await runCliAsync(['metadata', '--file', join(CAPTURES, 'with_sql', 'BCDocument.xml'), '--json'])).result()).toMatchObject({ document: 'backup-components', backupType: 'FULL' });
    const xml = await runCliAsync(['metadata', '--file', join(CAPTURES, 'with_sql', 'BCDocument.xml'), '--xml']);
    expect(xml.stdout).toMatch(/^<BACKUP_COMPONENTS /);
    const man = await runCliAsync(['metadata', '--file', join(CAPTURES, 'with_sql', 'Manifest.xml'), '--json']);
    expect(man.result()).toMatchObject({ document: 'diskshadow-manifest', snapshotSetId: '4ad2e8b1-faf2-4aca-a010-2c3f939cef62', machineName: 'WIN2012-SQL17-2', backupComponentsFile: 'BCDocument.xml' });
    expect(man.result().writers).toHaveLength(11);
  });

  it('a refused duplicate register-writer changes nothing and says so, without "undone" lines', async () => {
    const state = tmp();
    const wmd = writerDocument(state);
    const first = await runCliAsync(['register-writer', '--metadata', wmd, '--state-dir', state]);
    expect(first.code, first.stderr).toBe(0);
    const again = await runCliAsync(['register-writer', '--metadata', wmd, '--state-dir', state]);
    expect(again.code).toBe(1);
    expect(again.stdout).not.toMatch(/undone/);
    expect(again.stderr).toMatch(/is already registered .*; nothing was changed\n  \(VSS_E_OBJECT_ALREADY_EXISTS/);
  });

  it('unregister-writer of a non-GUID registry entry that status lists names it and how to remove it', async () => {
    const state = tmp();
    mkdirSync(join(state, 'writers', 'junk'), { recursive: true });
    expect((await runCliAsync(['status', '--state-dir', state])).stdout).toMatch(/UNREADABLE registry entry .*writers\/junk/);
    const r = await runCliAsync(['unregister-writer', 'junk', '--state-dir', state]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/'junk' is an unreadable registry entry \(.*writers\/junk: .*\), not a writer id/);
    expect(r.stderr).toMatch(/rm -rf -- '.*writers\/junk'/);
    expect((await runCliAsync(['unregister-writer', 'other-junk', '--state-dir', state])).stderr).toMatch(/writer-id: expected/);
  });

  it('metadata --file reads any captured document, as text, JSON or XML', async () => {
    const file = join(CAPTURES, 'with_sql', 'WM4.xml');
    const text = await runCliAsync(['metadata', '--file', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("Writer: 'SqlServerWriter'");
    expect(text.stdout).toContain('FILEGROUP WIN2012-SQL17-2\\local1');
    expect(text.stdout).toContain('Excludes: F:\\MSSQL14.MSSQLSERVER\\MSSQL\\DATA\\NonNimbleDatabase.mdf');
    const json = (await runCliAsync(['metadata', '--file', file, '--json'])).result();
    expect(json.document).toBe('writer-metadata');
    expect(json.components).toHaveLength(5);
    const xml = await runCliAsync(['metadata', '--file', file, '--xml']);
    expect(xml.stdout).toMatch(/^<WRITER_METADATA xmlns="x-schema:#VssWriterMetadataInfo" version="1.2" backupSchema="881">/);
  });

  it('a broken document exits 2 naming the problem', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'evil.xml'), '<!DOCTYPE x [<!ENTITY a "b">]><WRITER_METADATA/>');
    const r = await runCliAsync(['metadata', '--file', join(dir, 'evil.xml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/evil\.xml: document type declarations and entities are not allowed/);
    expect(r.stderr).toMatch(/VSS_E_CORRUPT_XML_DOCUMENT \(0x80042310\)/);
    const j = await runCliAsync(['metadata', '--file', join(dir, 'evil.xml'), '--json']);
    expect(j.json()).toMatchObject({ ok: false, exitCode: 2, error: { name: 'VSS_E_CORRUPT_XML_DOCUMENT' } });
  });

  it('writers on an empty state directory', async () => {
    const r = await runCliAsync(['writers', '--state-dir', tmp()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No writers are registered.');
    expect((await runCliAsync(['writers', '--json'], { MBAM_VSS_STATE_DIR: tmp() })).envelope()).toEqual({ ok: true, exitCode: 0, command: 'writers', result: { writers: [], problems: [] } });
  });

  it('metadata for an unknown writer exits 1 with VSS_E_OBJECT_NOT_FOUND', async () => {
    const r = await runCliAsync(['metadata', 'nope', '--state-dir', tmp()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/VSS_E_OBJECT_NOT_FOUND/);
  });
});

describe('privileges', () => {
  itRequires(NOBODY, 'install, uninstall and (un)register-writer without root exit 3 naming root, unless the state directory is explicit', async () => {
    const dir = tmp();
    chmodSync(dir, 0o755);
    const wmd = writerDocument(dir);
    for (const args of [['register-writer', '--metadata', wmd], ['install', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-REC01', '--skip-sql-checks'], ['uninstall'], ['unregister-writer', '7d3c2b1a-0f9e-4d8c-b7a6-958473625140']]) {
      const r = asNobody(args);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`^mbam-vss: ${args[0]} needs root: registering the MBAM writer system-wide needs root`));
      expect(r.stderr).toMatch(/--state-dir DIR \(or MBAM_VSS_STATE_DIR=DIR\)/);
    }
    const json = asNobody(['uninstall', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, exitCode: 3, command: 'uninstall', error: { name: 'E_ACCESSDENIED', category: 'precondition' } });
    // explicit: the operator said where to register
    const state = join(mkdtempSync(join(tmpdir(), 'mbam-nobody-state-')), 'state');
    chownSync(dirname(state), 65534, 65534);
    const ok = asNobody(['register-writer', '--metadata', wmd, '--state-dir', state]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(asNobody(['unregister-writer', '7d3c2b1a-0f9e-4d8c-b7a6-958473625140'], { MBAM_VSS_STATE_DIR: state }).code).toBe(0);
  }, 60_000);
});

describe('mbam-vss demo', () => {
  it('installs both servers, shows a rolled-back failure, uninstalls, and says SQL checks were skipped', async () => {
    const r = await runCliAsync(['demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SQL checks are SKIPPED/);
    expect(r.stdout).toMatch(/== install on MBAM-REC01/);
    expect(r.stdout).toMatch(/Writer name: 'Microsoft BitLocker Administration and Management Writer'\n   Writer Id: \{aaf1bbf5-9b9f-4d72-b82d-5ccddc74336d\}/);
    expect(r.stdout).toMatch(/undone: register\n\s+undone: unregister-previous/);
    expect(r.stdout).toMatch(/no journal left; the registered writer still has component 'MBAM Recovery and Hardware'/);
    const j = (await runCliAsync(['demo', '--json'])).result();
    expect(j.events.map((e: { step: string }) => e.step)).toEqual(['install', 'install', 'forced-failure', 'uninstall', 'uninstall', 'backup', 'verify', 'restore']);
    expect(j.events.slice(-2)).toEqual([{ step: 'verify', problems: 0 }, { step: 'restore', identical: true }]);
    expect(j.events[2]).toMatchObject({ rolledBack: true });
  });
});
