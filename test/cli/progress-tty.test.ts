/**
 * Every progress display on a real pseudo-terminal (util-linux `script`), where stderr.isTTY is
 * true and the bar is drawn: backup, verify and restore of an empty set (a component with no
 * files), a set of one zero-byte
 * file, and a set of one file. A display that throws there turns a good set into exit 1.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileList, writeWriterMetadata } from '../../src/vss/writer-metadata.js';
import { bar, Progress } from '../../src/cli/progress.js';
import { CLI } from '../support/paths.js';
import { hasCommand, itRequires, prereq } from '../support/prereq.js';
import { tempDir } from '../support/state.js';

const SCRIPT = prereq(hasCommand('script'), 'util-linux script (a pseudo-terminal) is not installed');

/** Runs the CLI with stdout and stderr on a pseudo-terminal; returns what the terminal showed. */
function onTerminal(args: string[]): Promise<{ code: number; screen: string }> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, COLUMNS: '100' };
    for (const k of Object.keys(env)) if (k.startsWith('MBAM_VSS_')) delete env[k];
    const p = spawn('script', ['-qfec', quoted, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let screen = '';
    p.stdout.on('data', (d) => (screen += d));
    p.stderr.on('data', (d) => (screen += d));
    p.on('close', (code) => resolve({ code: code ?? -1, screen }));
  });
}

function writerWith(root: string, files: Record<string, Buffer>, n: number): string {
  const data = join(root, 'data');
  mkdirSync(data, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(data, name), content);
  const wmd = join(root, 'writer.xml');
  const id = (last: number) => `0e6f3a6c-8d6e-4b0f-9d2a-7c1b5e4f3a${n}${last}`;
  writeFileSync(
    wmd,
    writeWriterMetadata({
      version: '1.2',
      identity: { writerId: id(1), instanceId: id(2), friendlyName: `TTY Writer ${n}`, usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
      restoreMethod: { method: 'RESTORE_IF_CAN_REPLACE', writerRestore: 'NEVER', rebootRequired: false },
      components: [{ type: 'FILEGROUP', componentName: 'data', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: Object.keys(files).length ? [fileList(data, '*.bin')] : [], dependencies: [] }],
      excludeFiles: [],
      excludeFilesFromSnapshot: [],
    }),
  );
  return wmd;
}

const CASES: [string, Record<string, Buffer>, number][] = [
  // A component that declares no files of its own (as SQL Server's master does here); one that
  // declares files and matches none fails the backup instead (test/requester/backup-failures).
  ['an empty set (a component with no files)', {}, 0],
  ['a set of one zero-byte file', { 'zero.bin': Buffer.alloc(0) }, 0],
  ['a set of one file', { 'one.bin': Buffer.alloc(3 << 20, 5) }, 3 << 20],
];

describe('progress on a terminal', () => {
  CASES.forEach(([name, files, bytes], i) => {
    itRequires(SCRIPT, `backup, verify and restore of ${name} draw and exit 0`, async () => {
      const root = tempDir('mbam-tty-');
      const state = join(root, 'state');
      const wmd = writerWith(root, files, i + 1);
      expect((await onTerminal(['register-writer', '--metadata', wmd, '--state-dir', state])).code).toBe(0);
      const set = join(root, 'set');
      const b = await onTerminal(['backup', '--to', set, '--provider', 'copy', '--state-dir', state]);
      expect(b.code, b.screen).toBe(0);
      if (Object.keys(files).length) expect(b.screen).toMatch(/provider copy for \S+ \(\w+\): --provider copy/);
      const v = await onTerminal(['verify', set]);
      expect(v.screen).not.toMatch(/internal error|RangeError/);
      expect(v.code, v.screen).toBe(0);
      expect(v.screen).toContain(`verifies: ${Object.keys(files).length} files, ${bytes} bytes`);
      if (Object.keys(files).length) expect(v.screen).toMatch(/\[#{30}\] 100% /);
      if (bytes) expect(v.screen).toMatch(/\[#{30}\] 100% 3.0 MiB\/3.0 MiB [\d.]+ [KMG]?i?B\/s ETA 00:00/);
      const r = await onTerminal(['restore', '--from', set, '--to', join(root, 'out'), '--state-dir', state]);
      expect(r.screen).not.toMatch(/internal error|RangeError/);
      expect(r.code, r.screen).toBe(0);
    }, 60_000);
  });
});

describe('progress off a terminal (a log, a pipe)', () => {
  const sink = (isTTY: boolean) => {
    const lines: string[] = [];
    return { lines, sink: { isTTY, columns: 80, write: (t: string) => void lines.push(t) } };
  };

  it('prints at most one byte-progress line every 5 s, then one summary', () => {
    let t = 0;
    const { lines, sink: s } = sink(false);
    const p = new Progress({}, s, () => t);
    const total = 1000 * 1024;
    for (let i = 1; i <= 1000; i++) {
      t += 20; // 20 s in all
      p.bytes(i * 1024, total, `/data/f${i}`);
    }
    p.finish();
    const docs = lines.map((l) => JSON.parse(l).progress);
    const progress = docs.filter((d) => d.type === 'bytes');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.length).toBeLessThanOrEqual(4);
    for (let i = 1; i < progress.length; i++) expect(progress[i].elapsedMs - progress[i - 1].elapsedMs).toBeGreaterThanOrEqual(5000);
    expect(docs.at(-1)).toMatchObject({ type: 'summary', doneBytes: total, totalBytes: total, elapsedMs: 20_000, bytesPerSecond: Math.round(total / 20) });
  });

  it('short work prints only the summary; routine writer events are left out, failures kept', () => {
    let t = 0;
    const { lines, sink: s } = sink(false);
    const p = new Progress({}, s, () => t);
    p.event({ type: 'event', event: 'Freeze', writer: 'W', state: 'WAITING_FOR_THAW' });
    p.event({ type: 'file', path: '/a', doneBytes: 10, totalBytes: 10 });
    p.event({ type: 'event', event: 'Thaw', writer: 'W', state: 'FAILED_AT_THAW', failure: 'VSS_E_WRITERERROR_TIMEOUT' });
    t = 100;
    p.finish();
    expect(lines.map((l) => JSON.parse(l).progress.type)).toEqual(['event', 'summary']);
  });

  it('--quiet prints no progress at all', () => {
    const { lines, sink: s } = sink(true);
    const p = new Progress({ quiet: true }, s);
    p.bytes(5, 10);
    p.finish();
    expect(lines).toEqual([]);
  });
});

describe('the bar never throws', () => {
  it.each([
    [0, 0],
    [5, 0],
    [10, 5],
    [-3, 10],
    [Number.NaN, 10],
    [1, Number.POSITIVE_INFINITY],
  ])('done %s of total %s', (done, total) => {
    const out: string[] = [];
    const p = new Progress({}, { isTTY: true, columns: 20, write: (t) => void out.push(t) });
    expect(() => {
      p.bytes(done, total, '/a/very/long/path/name/that/does/not/fit/the/terminal');
      p.finish();
    }).not.toThrow();
    expect(bar(done, total).bar).toHaveLength(32);
  });
});
