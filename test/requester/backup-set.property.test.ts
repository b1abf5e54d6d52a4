/**
 * Keeps verify and restore attacked (issue #13 §6): valid backup sets are mutated (paths, links,
 * types, sizes, hashes, documents, the manifest's fields, the target tree, a set file swapped
 * while restore runs, an abort) and, whatever the mutation:
 *  - verify and restore never throw anything but a VssError;
 *  - nothing outside the target changes (the set itself included, unless the test changed it);
 *  - a set changed in a way its manifest does not record never verifies and never restores;
 *  - a restore that succeeds put exactly the manifest's bytes in place, and one that fails left the
 *    target as it was; no temp file remains either way.
 * Sets are tiny and runs few, so that it stays well inside CI's time.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/requester/backup.js';
import { MANIFEST, verifyBackupSet } from '../../src/requester/backup-set.js';
import { restore } from '../../src/requester/restore.js';
import { VssError } from '../../src/vss/errors.js';
import type { InProcessWriter } from '../../src/vss/writer-events.js';
import { fileList } from '../../src/vss/writer-metadata.js';
import { tempDir } from '../support/state.js';

const NUM_RUNS = 150;
const FILES: Record<string, string> = { 'a.db': 'alpha', 'sub/b.log': 'bravo', 'sub/deep/c.bin': '\u0000\u0001charlie' };
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

type SetMutation =
  | { k: 'content'; i: number; sameSize: boolean }
  | { k: 'link-file'; i: number }
  | { k: 'link-dir' }
  | { k: 'fifo'; i: number }
  | { k: 'dir-for-file'; i: number }
  | { k: 'remove'; i: number }
  | { k: 'extra' }
  | { k: 'doc'; which: 'bcd' | 'writer'; how: 'content' | 'link' }
  | { k: 'null-entry'; i: number }
  | { k: 'drop-documents' };
type ManifestEdit = { k: 'field'; i: number; field: 'path' | 'source' | 'size' | 'sha256' | 'mode' | 'uid' | 'writerId'; value: unknown };
type TargetMutation = { k: 'target-link'; i: number; depth: number } | { k: 'target-dir'; i: number } | { k: 'target-existing'; i: number };
type DuringRestore = { k: 'swap-during'; i: number; how: 'link' | 'content' } | { k: 'abort' };
type Mutation = SetMutation | ManifestEdit | TargetMutation | DuringRestore;

const idx = fc.nat({ max: 2 });
const hostileValue = fc.oneof(
  fc.constantFrom('/', '', '.', '..', '../outside/secret', '/etc/passwd', 'files/../manifest.json', 'a//b', 'a/./b', '/a/../b', 'rel/x', '/x\u0000y', 'manifest.json', 'BCDocument.xml', '\\\\server\\share', -1, 1.5, 0o10000, 2 ** 53, '6', 'rwx', null, true, [], {}),
  fc.anything({ maxDepth: 1 }),
);
const setMutation: fc.Arbitrary<SetMutation> = fc.oneof(
  fc.record({ k: fc.constant('content' as const), i: idx, sameSize: fc.boolean() }),
  fc.record({ k: fc.constant('link-file' as const), i: idx }),
  fc.record({ k: fc.constant('link-dir' as const) }),
  fc.record({ k: fc.constant('fifo' as const), i: idx }),
  fc.record({ k: fc.constant('dir-for-file' as const), i: idx }),
  fc.record({ k: fc.constant('remove' as const), i: idx }),
  fc.record({ k: fc.constant('extra' as const) }),
  fc.record({ k: fc.constant('doc' as const), which: fc.constantFrom('bcd' as const, 'writer' as const), how: fc.constantFrom('content' as const, 'link' as const) }),
  fc.record({ k: fc.constant('null-entry' as const), i: idx }),
  fc.record({ k: fc.constant('drop-documents' as const) }),
);
const manifestEdit: fc.Arbitrary<ManifestEdit> = fc.record({ k: fc.constant('field' as const), i: idx, field: fc.constantFrom('path' as const, 'source' as const, 'size' as const, 'sha256' as const, 'mode' as const, 'uid' as const, 'writerId' as const), value: hostileValue });
const targetMutation: fc.Arbitrary<TargetMutation> = fc.oneof(
  fc.record({ k: fc.constant('target-link' as const), i: idx, depth: fc.nat({ max: 8 }) }),
  fc.record({ k: fc.constant('target-dir' as const), i: idx }),
  fc.record({ k: fc.constant('target-existing' as const), i: idx }),
);
const duringRestore: fc.Arbitrary<DuringRestore> = fc.oneof(fc.record({ k: fc.constant('swap-during' as const), i: idx, how: fc.constantFrom('link' as const, 'content' as const) }), fc.record({ k: fc.constant('abort' as const) }));
const mutations = fc.array(fc.oneof({ arbitrary: setMutation, weight: 4 }, { arbitrary: manifestEdit, weight: 3 }, { arbitrary: targetMutation, weight: 2 }, { arbitrary: duringRestore, weight: 1 }), { minLength: 0, maxLength: 3 });

/** Everything under `dir`, links and FIFOs described, never followed or opened. */
function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const full = rel ? join(dir, rel) : dir;
    const st = fs.lstatSync(full, { throwIfNoEntry: false });
    if (!st) return;
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `link ${fs.readlinkSync(full)}`;
    else if (st.isFile()) out[rel] = `file ${mode} ${st.uid} ${sha(fs.readFileSync(full))}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${mode}`;
      for (const name of fs.readdirSync(full)) if (!skip(rel ? `${rel}/${name}` : name)) walk(rel ? `${rel}/${name}` : name);
    } else out[rel] = `other ${st.mode.toString(8)}`;
  };
  walk('');
  return out;
}

function writer(data: string): InProcessWriter {
  return {
    metadata: {
      version: '1.2',
      identity: { writerId: '6f0f7c8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f', instanceId: '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', friendlyName: 'Property Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
      components: [{ type: 'FILEGROUP', logicalPath: 'Data', componentName: 'files', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files: [fileList(data, '*', true)], dependencies: [] }],
      excludeFiles: [],
      excludeFilesFromSnapshot: [],
    },
  };
}

let pristine: string;
let original: { source: string; path: string; sha256: string }[];

beforeAll(async () => {
  const root = tempDir('mbam-prop-');
  const data = join(root, 'data');
  for (const [name, content] of Object.entries(FILES)) {
    fs.mkdirSync(join(data, name, '..'), { recursive: true });
    fs.writeFileSync(join(data, name), content);
  }
  pristine = join(root, 'set');
  await backup({ to: pristine, writers: [writer(data)], provider: 'copy' });
  // The format that hashes the documents, so that every file of the set is covered.
  const m = JSON.parse(fs.readFileSync(join(pristine, MANIFEST), 'utf8'));
  m.format = 2;
  m.documents = [m.backupComponentsDocument, ...m.writers.map((w: { metadataFile: string }) => w.metadataFile)].map((path: string) => {
    const b = fs.readFileSync(join(pristine, path));
    return { path, size: b.length, sha256: sha(b) };
  });
  fs.writeFileSync(join(pristine, MANIFEST), JSON.stringify(m));
  original = m.files.map((f: { source: string; path: string; sha256: string }) => ({ source: f.source, path: f.path, sha256: f.sha256 }));
  expect((await verifyBackupSet(pristine)).problems).toEqual([]);
}, 60_000);

function replaceWith(path: string, how: 'link' | 'fifo' | 'dir' | 'remove', linkTo: string): void {
  fs.rmSync(path, { recursive: true, force: true });
  if (how === 'link') fs.symlinkSync(linkTo, path);
  else if (how === 'fifo') expect(spawnSync('mkfifo', [path]).status).toBe(0);
  else if (how === 'dir') fs.mkdirSync(path);
}

/** Applies a mutation; true when it changed the set in a way its manifest does not record. */
function apply(mu: Mutation, run: { set: string; out: string; outside: string }): boolean {
  const file = (i: number) => original[i % original.length]!;
  const inSet = (i: number) => join(run.set, ...file(i).path.split('/'));
  const editManifest = (edit: (m: any) => void) => {
    const p = join(run.set, MANIFEST);
    const m = JSON.parse(fs.readFileSync(p, 'utf8'));
    edit(m);
    fs.writeFileSync(p, JSON.stringify(m));
  };
  switch (mu.k) {
    case 'content': {
      const p = inSet(mu.i);
      if (fs.lstatSync(p, { throwIfNoEntry: false })?.isFile() !== true) return false;
      const b = fs.readFileSync(p);
      if (mu.sameSize) b[0] = b[0]! ^ 0xff;
      fs.writeFileSync(p, mu.sameSize ? b : Buffer.concat([b, Buffer.from('+')]));
      return true;
    }
    case 'link-file':
      replaceWith(inSet(mu.i), 'link', join(run.outside, 'secret'));
      return true;
    case 'fifo':
      replaceWith(inSet(mu.i), 'fifo', '');
      return true;
    case 'dir-for-file':
      replaceWith(inSet(mu.i), 'dir', '');
      return true;
    case 'remove':
      replaceWith(inSet(mu.i), 'remove', '');
      return true;
    case 'link-dir': {
      const moved = join(run.outside, 'files-moved');
      if (fs.existsSync(moved)) return true;
      fs.renameSync(join(run.set, 'files'), moved);
      fs.symlinkSync(moved, join(run.set, 'files'));
      return true;
    }
    case 'extra':
      fs.mkdirSync(join(run.set, 'files'), { recursive: true });
      if (fs.lstatSync(join(run.set, 'files')).isDirectory()) fs.writeFileSync(join(run.set, 'files', 'intruder'), 'x');
      else fs.writeFileSync(join(run.set, 'intruder'), 'x');
      return true;
    case 'doc': {
      const m = JSON.parse(fs.readFileSync(join(pristine, MANIFEST), 'utf8'));
      const p = join(run.set, mu.which === 'bcd' ? m.backupComponentsDocument : m.writers[0].metadataFile);
      if (mu.how === 'link') replaceWith(p, 'link', join(run.outside, 'secret'));
      else fs.appendFileSync(p, '<!-- -->');
      return true;
    }
    case 'null-entry':
      editManifest((m) => Array.isArray(m.files) && (m.files[mu.i % m.files.length] = null));
      return true;
    case 'drop-documents':
      editManifest((m) => delete m.documents);
      return true;
    case 'field':
      editManifest((m) => {
        const f = Array.isArray(m.files) ? m.files[mu.i % m.files.length] : undefined;
        if (f && typeof f === 'object') f[mu.field] = mu.value;
      });
      // A manifest is the set's own word: a value that is valid is a different (consistent) set.
      return false;
    case 'target-link': {
      const parts = file(mu.i).source.split('/').filter(Boolean);
      const depth = Math.min(mu.depth, parts.length - 1);
      const at = join(run.out, ...parts.slice(0, depth + 1));
      if (fs.existsSync(join(at, '..')) && !fs.lstatSync(join(at, '..')).isDirectory()) return false;
      fs.mkdirSync(join(at, '..'), { recursive: true });
      fs.rmSync(at, { recursive: true, force: true });
      fs.symlinkSync(join(run.outside, 'victim'), at);
      return false;
    }
    case 'target-dir':
    case 'target-existing': {
      const at = join(run.out, file(mu.i).source);
      try {
        fs.mkdirSync(join(at, '..'), { recursive: true });
        fs.rmSync(at, { recursive: true, force: true });
        if (mu.k === 'target-dir') fs.mkdirSync(join(at, 'inside'), { recursive: true });
        else fs.writeFileSync(at, 'old');
      } catch {
        // a link planted on the way by an earlier mutation: the tree stays as it is
      }
      return false;
    }
    case 'swap-during':
    case 'abort':
      return false;
  }
}

describe('verify and restore under mutation (property)', () => {
  it(`never write outside the target, never pass a changed set, never throw but VssError (${NUM_RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(mutations, async (muts) => {
        const root = tempDir('mbam-prop-run-');
        const run = { set: join(root, 'set'), out: join(root, 'out'), outside: join(root, 'outside') };
        try {
          fs.cpSync(pristine, run.set, { recursive: true, verbatimSymlinks: true });
          fs.mkdirSync(join(run.outside, 'victim'), { recursive: true });
          fs.writeFileSync(join(run.outside, 'secret'), 'outside the set');
          fs.writeFileSync(join(run.outside, 'victim', 'keep'), 'outside the target');
          fs.mkdirSync(run.out);
          let changed = false;
          for (const mu of muts) changed = apply(mu, run) || changed;
          const during = muts.filter((m): m is DuringRestore => m.k === 'swap-during' || m.k === 'abort');

          const outsideBefore = snapshot(root, (rel) => rel === 'out' || rel === 'set');
          const setBefore = snapshot(run.set);
          const outBefore = snapshot(run.out);

          // verify
          let verified = false;
          try {
            verified = (await verifyBackupSet(run.set)).problems.length === 0;
          } catch (e) {
            if (!(e instanceof VssError)) throw new Error(`verify threw a non-VssError: ${(e as Error)?.stack ?? e}`);
          }
          if (changed) expect(verified, `verify passed a changed set: ${JSON.stringify(muts)}`).toBe(false);
          expect(snapshot(run.set)).toEqual(setBefore);

          // restore, with what happens during it
          const ac = new AbortController();
          let fired = false;
          let outcome: 'ok' | VssError;
          try {
            await restore({
              from: run.set,
              to: run.out,
              signal: ac.signal,
              onProgress: (e) => {
                if (e.type !== 'file' || fired) return;
                fired = true;
                for (const d of during) {
                  if (d.k === 'abort') ac.abort();
                  else {
                    const p = join(run.set, ...original[d.i % original.length]!.path.split('/'));
                    if (d.how === 'link') replaceWith(p, 'link', join(run.outside, 'secret'));
                    else if (fs.lstatSync(p, { throwIfNoEntry: false })?.isFile()) fs.appendFileSync(p, '+');
                  }
                }
              },
            });
            outcome = 'ok';
          } catch (e) {
            if (!(e instanceof VssError)) throw new Error(`restore threw a non-VssError: ${(e as Error)?.stack ?? e}`);
            outcome = e;
          }

          expect(snapshot(root, (rel) => rel === 'out' || rel === 'set'), 'something outside the target changed').toEqual(outsideBefore);
          if (!during.some((d) => d.k === 'swap-during')) expect(snapshot(run.set), 'restore changed the set').toEqual(setBefore);
          const outAfter = snapshot(run.out);
          expect(Object.keys(outAfter).filter((p) => p.includes('.mbam-vss-')), 'temp files remain').toEqual([]);
          if (outcome === 'ok') {
            expect(changed, `restore succeeded from a changed set: ${JSON.stringify(muts)}`).toBe(false);
            expect(fired || original.length === 0).toBe(true);
            expect(during.some((d) => d.k === 'abort'), 'an abort was ignored').toBe(false);
            // What is in place is what the manifest recorded, byte for byte.
            const m = JSON.parse(fs.readFileSync(join(run.set, MANIFEST), 'utf8'));
            for (const f of m.files) {
              const st = fs.lstatSync(join(run.out, f.source));
              expect(st.isFile()).toBe(true);
              expect(sha(fs.readFileSync(join(run.out, f.source)))).toBe(f.sha256);
              expect(st.mode & 0o7000).toBe(0);
            }
          } else {
            expect(outcome.category, outcome.message).not.toBe('incomplete');
            expect(outAfter, `a failed restore (${outcome.message}) changed the target`).toEqual(outBefore);
          }
        } finally {
          fs.rmSync(root, { recursive: true, force: true });
        }
      }),
      { numRuns: NUM_RUNS, interruptAfterTimeLimit: 90_000 },
    );
  }, 120_000);
});
