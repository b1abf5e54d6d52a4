import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliAsync } from '../support/cli.js';
import { CAPTURES } from '../support/paths.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'mbam-cli-'));

describe('mbam-vss CLI', () => {
  it('--help describes the commands and the exit codes', async () => {
    const r = await runCliAsync(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['writers', 'metadata', 'install', 'uninstall', 'status', 'register-writer', 'unregister-writer', 'demo']) expect(r.stdout).toContain(c);
    expect(r.stdout).toMatch(/Exit codes:\n  0  done\n  1  the operation failed and was rolled back cleanly\n  2  bad usage/);
    expect((await runCliAsync(['metadata', '--help'])).stdout).toMatch(/--file <wmd.xml>/);
  });

  it('bad usage exits 2', async () => {
    expect((await runCliAsync(['no-such-command'])).code).toBe(2);
    expect((await runCliAsync(['writers', '--no-such-option'])).code).toBe(2);
    const both = await runCliAsync(['metadata', 'x', '--file', 'y']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/metadata: expected either a writer id\/name or --file/);
  });

  it('metadata --file reads any captured document, as text, JSON or XML', async () => {
    const file = join(CAPTURES, 'with_sql', 'WM4.xml');
    const text = await runCliAsync(['metadata', '--file', file]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("Writer: 'SqlServerWriter'");
    expect(text.stdout).toContain('FILEGROUP WIN2012-SQL17-2\\local1');
    expect(text.stdout).toContain('Excludes: F:\\MSSQL14.MSSQLSERVER\\MSSQL\\DATA\\NonNimbleDatabase.mdf');
    const json = (await runCliAsync(['metadata', '--file', file, '--json'])).json();
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
    expect((await runCliAsync(['writers', '--json'], { MBAM_VSS_STATE_DIR: tmp() })).json()).toEqual({ writers: [], problems: [] });
  });

  it('metadata for an unknown writer exits 1 with VSS_E_OBJECT_NOT_FOUND', async () => {
    const r = await runCliAsync(['metadata', 'nope', '--state-dir', tmp()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/VSS_E_OBJECT_NOT_FOUND/);
  });
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
    const j = (await runCliAsync(['demo', '--json'])).json();
    expect(j.events.map((e: { step: string }) => e.step)).toEqual(['install', 'install', 'forced-failure', 'uninstall', 'uninstall', 'backup', 'verify', 'restore']);
    expect(j.events.slice(-2)).toEqual([{ step: 'verify', problems: 0 }, { step: 'restore', identical: true }]);
    expect(j.events[2]).toMatchObject({ rolledBack: true });
  });
});
