/**
 * A hostile or damaged state directory, as `status`, `install` and `uninstall` meet it: journal
 * lines that are not records, `transaction` that is a file, a truncated `record.json`, and a state
 * directory this user may not write (read-only, or owned by someone else). Each gets a clear error
 * (exit 2 for bad state, exit 3 naming the privilege and the directory), never an internal error;
 * the message names the file, what is wrong with it and what to do; and nothing is changed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MBAM_WRITER_ID } from '../../src/mbam/writer-definition.js';
import { runCliAsync, type CliResult } from '../support/cli.js';
import { CLI, EXAMPLE_TOPOLOGY } from '../support/paths.js';
import { isRoot, itRequires, prereq } from '../support/prereq.js';

const INSTALL = ['install', '--topology', EXAMPLE_TOPOLOGY, '--server', 'MBAM-REC01', '--skip-sql-checks', '--json'];
const cli = (state: string, args: string[]) => runCliAsync(['--state-dir', state, ...args, ...(args.includes('--json') ? [] : ['--json'])]);

/** Every file under `dir` with its content (a directory as '<dir>'), to show nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (name === 'lock') continue; // the flock file: created by any locked command, holds nothing
      if (statSync(p).isDirectory()) {
        out[p] = '<dir>';
        walk(p);
      } else out[p] = readFileSync(p, 'latin1');
    }
  };
  walk(dir);
  return out;
}

function expectClear(r: CliResult, exit: number, message: RegExp) {
  const e = r.envelope().error;
  expect(e, r.stdout).toBeDefined();
  expect(e.name, `${e.message}\n${r.stderr}`).not.toBe('internal');
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.code, e.message).toBe(exit);
  expect(e.message).toMatch(message);
  return e as { message: string; hint?: string; category: string };
}

async function installed(): Promise<string> {
  const state = mkdtempSync(join(tmpdir(), 'hostile-state-'));
  const r = await cli(state, INSTALL);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return state;
}

const BEGIN = JSON.stringify({ t: 'begin', op: 'install', txid: 't', at: '2026-01-01T00:00:00.000Z', tool: 'test', pid: 1, args: {} });
const INTENT = JSON.stringify({ t: 'intent', step: 'register', data: { writerId: MBAM_WRITER_ID, fingerprint: 'x', willRegister: true } });

describe('a journal that is not a journal', () => {
  it.each([
    ['lines that are JSON but not records', '42\nnull\n"x"\n[1,2]\n', 1, 'not a journal record'],
    ['a first record that is not the begin record', `${INTENT}\n${BEGIN}\n`, 1, "the first record is not 'begin'"],
    ['a begin record without its fields', '{"t":"begin"}\n', 1, 'not a journal record'],
    ['garbage between records', `${BEGIN}\nGARBAGE\n${INTENT}\n`, 2, 'not JSON'],
    ['a record of an unknown kind', `${BEGIN}\n{"t":"explode","step":"register"}\n`, 2, 'not a journal record'],
    ['a step record without its step', `${BEGIN}\n{"t":"intent"}\n`, 2, 'not a journal record'],
  ])('%s: status, install and uninstall say which line, keep the journal and change nothing', async (_what, journal, line, what) => {
    const state = await installed();
    mkdirSync(join(state, 'transaction'));
    const path = join(state, 'transaction', 'journal.log');
    writeFileSync(path, journal);
    const before = snapshot(state);
    for (const args of [['status'], INSTALL, ['uninstall']]) {
      const e = expectClear(await cli(state, args), 2, new RegExp(`${path.replace(/[.]/g, '\\.')} line ${line}: .*${what.replace(/[()[\]]/g, '\\$&')}`));
      expect(e.hint).toMatch(/kept for an operator/);
      expect(e.hint).toContain(join(state, 'transaction'));
    }
    expect(snapshot(state)).toEqual(before);
  });

  it('a torn last line (a crash mid-append) is recovered from, and is cut off before recovery appends', async () => {
    const state = mkdtempSync(join(tmpdir(), 'hostile-state-'));
    mkdirSync(join(state, 'transaction'));
    const path = join(state, 'transaction', 'journal.log');
    writeFileSync(path, `${BEGIN}\n${INTENT}\n{"t":"done","st`);
    const r = await cli(state, INSTALL);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.result().recovered).toMatchObject({ op: 'install', complete: true });
    expect(existsSync(join(state, 'transaction'))).toBe(false);
  });

  it.each([
    ['a torn record', '{"t":"done","st'],
    ['a whole record whose newline was lost', JSON.stringify({ t: 'done', step: 'mystery' })],
  ])('%s at the end stays readable after a recovery that could not complete appends to it', async (_what, tail) => {
    const state = mkdtempSync(join(tmpdir(), 'hostile-state-'));
    mkdirSync(join(state, 'transaction'));
    const path = join(state, 'transaction', 'journal.log');
    // A step no operation declares: its undo is unknown, so the rollback stays incomplete and the
    // journal (with what recovery appended) is read again by status.
    writeFileSync(path, `${BEGIN}\n${JSON.stringify({ t: 'intent', step: 'mystery' })}\n${tail}`);
    const r = await cli(state, INSTALL);
    expect(r.code, r.stdout + r.stderr).toBe(4);
    const s = await cli(state, ['status']);
    expect(s.code, s.stdout).toBe(4);
    expect(s.result().unfinished).toMatchObject({ op: 'install', rollbackIncomplete: true, steps: [{ step: 'mystery' }] });
    expect(readFileSync(path, 'utf8').endsWith('\n')).toBe(true);
  });
});

describe('transaction that is a file', () => {
  it('status, install and uninstall name it and leave it alone', async () => {
    const state = await installed();
    writeFileSync(join(state, 'transaction'), 'not mine\n');
    const before = snapshot(state);
    for (const args of [['status'], INSTALL, ['uninstall']]) {
      const e = expectClear(await cli(state, args), 2, new RegExp(`${join(state, 'transaction')} is a file, not the journal's directory`));
      expect(e.hint).toMatch(/move it aside/i);
    }
    expect(snapshot(state)).toEqual(before);
  });
});

describe('a truncated record.json', () => {
  it.each([
    ['truncated', (t: string) => t.slice(0, 100), /record\.json is not valid JSON/],
    ['null', () => 'null\n', /record\.json is not a registration record/],
    ['an empty object', () => '{}\n', /record\.json is not a registration record/],
  ])('%s: install and uninstall say which file and how to recover, and change nothing', async (_what, damage, message) => {
    const state = await installed();
    const entry = join(state, 'writers', MBAM_WRITER_ID);
    writeFileSync(join(entry, 'record.json'), damage(readFileSync(join(entry, 'record.json'), 'utf8')));
    const before = snapshot(state);
    for (const args of [INSTALL, ['uninstall']]) {
      const e = expectClear(await cli(state, args), 2, message);
      expect(e.message).toContain(join(entry, 'record.json'));
      expect(e.hint).toContain(`mbam-vss unregister-writer ${MBAM_WRITER_ID}`);
    }
    expect(snapshot(state)).toEqual(before);
    // status lists it as a problem (exit 1), without an internal error
    const s = await cli(state, ['status']);
    expect(s.code).toBe(1);
    expect(s.result().problems).toEqual([{ path: entry, problem: expect.stringMatching(message) }]);
    // and the recovery the hint names works
    expect((await cli(state, ['unregister-writer', MBAM_WRITER_ID])).code).toBe(0);
    expect((await cli(state, INSTALL)).code).toBe(0);
  });
});

/** The CLI as another user (nobody), for a state directory that user does not own. */
function runAs(uid: number, gid: number, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: "/nonexistent" };
    for (const k of Object.keys(env)) if (k.startsWith('MBAM_VSS_')) delete env[k];
    const p = spawn(process.execPath, [CLI, ...args], { uid, gid, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) =>
      resolve({ code: code ?? -1, stdout, stderr, json: () => JSON.parse(stdout), envelope: () => JSON.parse(stdout), result: () => JSON.parse(stdout).result }),
    );
  });
}

const NOBODY = 65534;
const asRoot = prereq(isRoot(), 'needs root (to own files as another user and mount read-only)');

describe('a state directory this user may not write', () => {
  itRequires(asRoot, "another user's state directory: exit 3 naming the owner and the directory", async () => {
    const state = await installed();
    const before = snapshot(state);
    chownSync(state, NOBODY, NOBODY);
    try {
      const e = expectClear(await cli(state, INSTALL), 3, new RegExp(`state directory ${state} is owned by uid ${NOBODY}, not by this user \\(uid 0\\)`));
      expect(e.hint).toMatch(/--state-dir/);
      expectClear(await cli(state, ['uninstall']), 3, /is owned by uid 65534/);
      expect(snapshot(state)).toEqual(before);
    } finally {
      chownSync(state, 0, 0);
    }
  });

  itRequires(asRoot, "root's state directory used by another user: exit 3 naming root and the directory", async () => {
    const parent = mkdtempSync(join(tmpdir(), 'hostile-state-'));
    chmodSync(parent, 0o755);
    const state = join(parent, 'state');
    mkdirSync(state, { mode: 0o755 });
    const r = await cli(state, INSTALL);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    chmodSync(state, 0o755);
    const before = snapshot(state);
    for (const args of [INSTALL, ['uninstall']]) {
      const e = expectClear(await runAs(NOBODY, NOBODY, ['--state-dir', state, ...args, '--json']), 3, new RegExp(`needs root: the state directory ${state} is owned by root`));
      expect(e.category).toBe('precondition');
    }
    // A directory that does not exist yet, under one this user may not write.
    const e = expectClear(await runAs(NOBODY, NOBODY, ['--state-dir', join(state, 'sub'), ...INSTALL]), 3, new RegExp(`cannot create the state directory ${join(state, 'sub')}`));
    expect(e.message).toMatch(/needs root/);
    expect(snapshot(state)).toEqual(before);
  });

  itRequires(asRoot, 'a read-only state directory: exit 3 naming it', async () => {
    const state = await installed();
    const before = snapshot(state);
    execFileSync('mount', ['--bind', state, state]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', state]);
      for (const args of [INSTALL, ['uninstall']]) {
        const e = expectClear(await cli(state, args), 3, new RegExp(`state directory ${state} is on a read-only file system`));
        expect(e.category).toBe('precondition');
      }
      // status only reads: it still reports
      expect((await cli(state, ['status'])).code).toBe(0);
    } finally {
      execFileSync('umount', [state]);
    }
    expect(snapshot(state)).toEqual(before);
    rmSync(state, { recursive: true, force: true });
  });
});
