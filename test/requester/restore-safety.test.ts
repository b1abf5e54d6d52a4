/**
 * Restore never writes or reads outside its target (issue #13 §1, §3.3, §5): planted links at the
 * temp name, a set file swapped after verify, links hidden behind the manifest's documents,
 * hostile manifests, in-place restores limited to what the writer declares, all or nothing.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backup } from '../../src/requester/backup.js';
import { MANIFEST, readManifest, verifyBackupSet } from '../../src/requester/backup-set.js';
import { restore } from '../../src/requester/restore.js';
import { VssError } from '../../src/vss/errors.js';
import type { InProcessWriter } from '../../src/vss/writer-events.js';
import { fileList, type ComponentFile } from '../../src/vss/writer-metadata.js';
import { CLI } from '../support/paths.js';
import { hasCommand, isRoot, itRequires, prereq } from '../support/prereq.js';
import { tempDir } from '../support/state.js';

const asRoot = prereq(isRoot(), 'needs root (chown to nobody, root-owned victims)');

/** Whether the temp directory's filesystem takes the immutable attribute (ext4, xfs, btrfs; not tmpfs). */
function immutableWorks(): boolean {
  if (!isRoot() || !hasCommand('chattr')) return false;
  const d = tempDir('mbam-rs-chattr-');
  const ok = spawnSync('chattr', ['+i', d]).status === 0;
  if (ok) spawnSync('chattr', ['-i', d]);
  rmSync(d, { recursive: true, force: true });
  return ok;
}
const immutable = prereq(immutableWorks(), 'needs root, chattr and a temp filesystem with the immutable attribute');
const NOBODY = 65534;

function writer(files: ComponentFile[], id = '6f0f7c8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f'): InProcessWriter {
  return {
    metadata: {
      version: '1.2',
      identity: { writerId: id, instanceId: '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', friendlyName: 'Test Data Writer', usage: 'USERDATA', dataSource: 'OTHER', majorVersion: 1, minorVersion: 0 },
      components: [{ type: 'FILEGROUP', logicalPath: 'Data', componentName: 'files', restoreMetadata: false, notifyOnBackupComplete: false, selectable: true, selectableForRestore: true, componentFlags: 0, files, dependencies: [] }],
      excludeFiles: [],
      excludeFilesFromSnapshot: [],
    },
  };
}

async function makeSet(files: Record<string, string> = { 'a.db': 'alpha', 'sub/b.log': 'bravo' }) {
  const root = tempDir('mbam-rs-');
  const data = join(root, 'data');
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(data, name, '..'), { recursive: true });
    writeFileSync(join(data, name), content);
  }
  const set = join(root, 'set');
  const w = writer([fileList(data, '*', true)]);
  await backup({ to: set, writers: [w], provider: 'copy' });
  return { root, data, set, w };
}

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

function editManifest(set: string, edit: (m: any) => void): void {
  const m = JSON.parse(readFileSync(join(set, MANIFEST), 'utf8'));
  edit(m);
  writeFileSync(join(set, MANIFEST), JSON.stringify(m));
}

/** Upgrades a set to the format whose manifest hashes its documents (writers/*.xml, BCDocument.xml). */
function hashDocuments(set: string): void {
  editManifest(set, (m) => {
    m.format = 2;
    m.documents = [m.backupComponentsDocument, ...m.writers.map((w: any) => w.metadataFile)].map((path: string) => {
      const b = readFileSync(join(set, path));
      return { path, size: b.length, sha256: sha(b) };
    });
  });
}

function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: false }).map(String).sort();
}

describe('restore never writes outside its target', () => {
  itRequires(asRoot, 'a link planted at the old predictable temp name is neither followed nor chmodded', async () => {
    const { root, data, set } = await makeSet();
    const out = join(root, 'out');
    const victim = join(root, 'victim');
    writeFileSync(victim, 'root secret');
    chmodSync(victim, 0o600);
    mkdirSync(join(out, data), { recursive: true });
    symlinkSync(victim, join(out, data, `a.db.mbam-vss-restore-${process.pid}`));
    await restore({ from: set, to: out });
    expect(readFileSync(victim, 'utf8')).toBe('root secret');
    expect(statSync(victim).mode & 0o7777).toBe(0o600);
    expect(readFileSync(join(out, data, 'a.db'), 'utf8')).toBe('alpha');
  });

  itRequires(asRoot, 'in place, into a directory a less privileged user owns, a planted link is not followed', async () => {
    const { root, data, set, w } = await makeSet();
    const victim = join(root, 'victim');
    writeFileSync(victim, 'root secret');
    chmodSync(victim, 0o600);
    chmodSync(root, 0o755);
    chownSync(data, NOBODY, NOBODY);
    chownSync(join(data, 'sub'), NOBODY, NOBODY);
    writeFileSync(join(data, 'a.db'), 'changed');
    symlinkSync(victim, join(data, `a.db.mbam-vss-restore-${process.pid}`));
    symlinkSync(victim, join(data, 'sub', `b.log.mbam-vss-restore-${process.pid}`));
    await restore({ from: set, writers: [w] });
    expect(readFileSync(victim, 'utf8')).toBe('root secret');
    expect(statSync(victim).mode & 0o7777).toBe(0o600);
    expect(readFileSync(join(data, 'a.db'), 'utf8')).toBe('alpha');
    expect(tree(data).filter((p) => p.includes('mbam-vss-') && !p.includes('restore-'))).toEqual([]);
  });

  it('a set file swapped for a link after verify is not restored', async () => {
    const { root, data, set } = await makeSet();
    const secret = join(root, 'secret');
    writeFileSync(secret, 'not in the set');
    const m = readManifest(set);
    const out = join(root, 'out');
    const err = await restore({
      from: set,
      to: out,
      onProgress: (e) => {
        if (e.type !== 'file' || !e.path.endsWith('a.db')) return;
        rmSync(join(set, m.files[1]!.path));
        symlinkSync(secret, join(set, m.files[1]!.path));
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(existsSync(join(out, data, 'sub', 'b.log'))).toBe(false);
    // all or nothing: the file already restored is taken back, and no temp file remains
    expect(tree(join(out, data)).filter((p) => !['sub'].includes(p))).toEqual([]);
  });

  it('a set file rewritten after verify (same size) is refused before it replaces anything', async () => {
    const { root, data, set } = await makeSet();
    const out = join(root, 'out');
    mkdirSync(join(out, data, 'sub'), { recursive: true });
    writeFileSync(join(out, data, 'a.db'), 'original a');
    writeFileSync(join(out, data, 'sub', 'b.log'), 'original b');
    const m = readManifest(set);
    const err = await restore({
      from: set,
      to: out,
      onProgress: (e) => {
        if (e.type === 'file' && e.path.endsWith('a.db')) writeFileSync(join(set, m.files[1]!.path), 'BRAVO');
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.message).toMatch(/sub\/b\.log/);
    expect(readFileSync(join(out, data, 'a.db'), 'utf8')).toBe('original a');
    expect(readFileSync(join(out, data, 'sub', 'b.log'), 'utf8')).toBe('original b');
    expect(tree(join(out, data))).toEqual(['a.db', 'sub', 'sub/b.log']);
  });

  itRequires(immutable, 'a rollback that cannot complete says exactly what was left (category incomplete)', async () => {
    const { root, data, set } = await makeSet();
    const out = join(root, 'out');
    mkdirSync(join(out, data, 'sub'), { recursive: true });
    writeFileSync(join(out, data, 'a.db'), 'original a');
    const m = readManifest(set);
    const locked = join(out, data);
    try {
      const err = await restore({
        from: set,
        to: out,
        onProgress: (e) => {
          if (e.type !== 'file' || !e.path.endsWith('a.db')) return;
          writeFileSync(join(set, m.files[1]!.path), 'BRAVO'); // file 2 fails its hash ...
          expect(spawnSync('chattr', ['+i', locked]).status).toBe(0); // ... and file 1 cannot be put back
        },
      }).catch((e) => e);
      expect(err).toBeInstanceOf(VssError);
      expect(err.category).toBe('incomplete');
      const saved = /the original is (\S+) /.exec(err.message)?.[1];
      expect(err.message).toContain(`${join(out, data, 'a.db')}: restored; the original is ${join(out, data)}/.mbam-vss-`);
      expect(readFileSync(saved!, 'utf8')).toBe('original a');
      expect(err.details.left).toHaveLength(1);
    } finally {
      spawnSync('chattr', ['-i', locked]);
    }
    // file 2's temp file (in sub/, not locked) is gone
    expect(readdirSync(join(out, data, 'sub'))).toEqual([]);
  });

  it('a directory where a file goes is refused before anything is written', async () => {
    const { root, data, set } = await makeSet();
    const out = join(root, 'out');
    mkdirSync(join(out, data, 'sub', 'b.log'), { recursive: true });
    writeFileSync(join(out, data, 'a.db'), 'original a');
    const err = await restore({ from: set, to: out }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.category).toBe('input');
    expect(err.message).toMatch(/b\.log is a directory/);
    expect(readFileSync(join(out, data, 'a.db'), 'utf8')).toBe('original a');
    expect(tree(join(out, data))).toEqual(['a.db', 'sub', 'sub/b.log']);
  });

  it('an abort stops the restore, puts back what was replaced and rejects as aborted', async () => {
    const { root, data, set } = await makeSet();
    const out = join(root, 'out');
    mkdirSync(join(out, data), { recursive: true });
    writeFileSync(join(out, data, 'a.db'), 'original a');
    const ac = new AbortController();
    const err = await restore({ from: set, to: out, signal: ac.signal, onProgress: (e) => e.type === 'file' && ac.abort() }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.category).toBe('aborted');
    expect(readFileSync(join(out, data, 'a.db'), 'utf8')).toBe('original a');
    expect(tree(join(out, data))).toEqual(['a.db']);
  });

  it('an aborted verify rejects as aborted', async () => {
    const { set } = await makeSet();
    const ac = new AbortController();
    ac.abort();
    const err = await verifyBackupSet(set, { signal: ac.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.category).toBe('aborted');
  });

  it('in place, only what the writer declares (path, filespec, recursion) is restored', async () => {
    const { data, set } = await makeSet();
    writeFileSync(join(data, 'a.db'), 'changed');
    // This machine's writer declares only *.db directly in the data directory.
    const narrow = writer([fileList(data, '*.db', false)]);
    const err = await restore({ from: set, writers: [narrow] }).catch((e) => e);
    expect(err).toBeInstanceOf(VssError);
    expect(err.message).toMatch(/sub\/b\.log is not a location that a writer on this machine declares/);
    expect(readFileSync(join(data, 'a.db'), 'utf8')).toBe('changed');
  });

  it('mode bits are masked: no setuid, setgid or sticky from a set', async () => {
    const { root, data, set } = await makeSet();
    editManifest(set, (m) => {
      m.files[0].mode = 0o6755;
      m.files[1].mode = 0o1640;
    });
    const out = join(root, 'out');
    await restore({ from: set, to: out });
    expect(statSync(join(out, data, 'a.db')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(out, data, 'sub', 'b.log')).mode & 0o7777).toBe(0o640);
  });

  itRequires(asRoot, 'ownership is restored as root when the set recorded it', async () => {
    const { root, data, set } = await makeSet();
    editManifest(set, (m) => {
      m.files[0].uid = NOBODY;
      m.files[0].gid = NOBODY;
    });
    const out = join(root, 'out');
    await restore({ from: set, to: out });
    expect(statSync(join(out, data, 'a.db'))).toMatchObject({ uid: NOBODY, gid: NOBODY });
    expect(statSync(join(out, data, 'sub', 'b.log'))).toMatchObject({ uid: 0 });
  });
});

describe('verify checks every file of the set, documents included', () => {
  it('a backup components document behind a link is refused', async () => {
    const { root, set } = await makeSet();
    const m = readManifest(set);
    const outside = join(root, 'outside');
    mkdirSync(outside);
    renameSync(join(set, m.backupComponentsDocument), join(outside, 'BCDocument.xml'));
    symlinkSync(join(outside, 'BCDocument.xml'), join(set, m.backupComponentsDocument));
    expect((await verifyBackupSet(set)).problems).toContainEqual(expect.objectContaining({ path: m.backupComponentsDocument, problem: 'not-a-regular-file' }));
    // ... and the same through a linked directory named by the manifest
    symlinkSync(outside, join(set, 'docs'));
    editManifest(set, (x) => {
      const doc = x.documents?.find((d: { path: string }) => d.path === x.backupComponentsDocument);
      if (doc) doc.path = 'docs/BCDocument.xml';
      x.backupComponentsDocument = 'docs/BCDocument.xml';
    });
    expect((await verifyBackupSet(set)).problems).toContainEqual(expect.objectContaining({ path: 'docs/BCDocument.xml', problem: 'not-a-regular-file' }));
  });

  it('a data file reached through a linked directory is refused', async () => {
    const { root, set } = await makeSet();
    const moved = join(root, 'moved');
    renameSync(join(set, 'files'), moved);
    symlinkSync(moved, join(set, 'files'));
    const m = readManifest(set);
    const { problems } = await verifyBackupSet(set);
    expect(problems.filter((p) => p.problem === 'not-a-regular-file').map((p) => p.path)).toEqual(m.files.map((f) => f.path));
  });

  it('hashes writers/*.xml and BCDocument.xml when the format records them', async () => {
    const { set } = await makeSet();
    hashDocuments(set);
    expect((await verifyBackupSet(set)).problems).toEqual([]);
    const m = readManifest(set);
    const doc = join(set, m.writers[0]!.metadataFile);
    writeFileSync(doc, readFileSync(doc, 'utf8').replace('Test Data Writer', 'Evil Data Writer'));
    expect((await verifyBackupSet(set)).problems).toEqual([{ path: m.writers[0]!.metadataFile, problem: 'checksum' }]);
  });

  it.each(['files/./x', './manifest.json', 'files//x', '../x'])('a set path %j that is not plain is refused, never opened', async (path) => {
    const { set } = await makeSet();
    editManifest(set, (m) => (m.files[0].path = path));
    expect((await verifyBackupSet(set)).problems).toContainEqual(expect.objectContaining({ path, problem: 'unsafe-path' }));
  });

  it('a format-2 manifest without document hashes is refused', async () => {
    const { set } = await makeSet();
    hashDocuments(set);
    editManifest(set, (m) => (m.documents = m.documents.slice(1)));
    expect(() => readManifest(set)).toThrow(/documents: .*BCDocument\.xml/);
  });

  it.each([
    ['/', /not a normalised absolute path|outside/],
    ['/data/a\0b', /not a normalised absolute path/],
    ['relative/a.db', /not a normalised absolute path/],
  ])('refuses what restore would refuse: source %j', async (source, why) => {
    const { set } = await makeSet();
    editManifest(set, (m) => (m.files[0].source = source));
    const { problems } = await verifyBackupSet(set);
    expect(problems).toEqual([expect.objectContaining({ problem: 'unsafe-path', detail: expect.stringMatching(why) })]);
  });
});

describe('hostile manifests get clear input errors', () => {
  it.each([
    ['files: [null]', (m: any) => (m.files = [null]), /files\[0\]: expected an object/],
    ['a size as a string', (m: any) => (m.files[1].size = '6'), /files\[1\]\.size: expected a non-negative integer/],
    ['a mode as a string', (m: any) => (m.files[0].mode = 'rwx'), /files\[0\]\.mode: expected an integer/],
    ['a hash that is not hex', (m: any) => (m.files[0].sha256 = 'x'), /files\[0\]\.sha256: expected 64 lowercase hex digits/],
    ['writers not an array', (m: any) => (m.writers = {}), /writers: expected an array/],
    ['a document path not a string', (m: any) => (m.backupComponentsDocument = 7), /backupComponentsDocument: expected a string/],
    ['two entries for one source', (m: any) => (m.files[1].source = m.files[0].source), /files\[1\]\.source: .*also files\[0\]/],
  ])('%s', async (_name, edit, why) => {
    const { root, set } = await makeSet();
    editManifest(set, edit);
    for (const run of [() => verifyBackupSet(set), () => restore({ from: set, to: join(root, 'out') })]) {
      const err = await run().catch((e) => e);
      expect(err).toBeInstanceOf(VssError);
      expect(err.category).toBe('input');
      expect(err.message).toMatch(/manifest\.json: /);
      expect(err.message).toMatch(why);
    }
    expect(existsSync(join(root, 'out'))).toBe(false);
  });

  it('not JSON, an array, too deep are input errors', async () => {
    const { set } = await makeSet();
    for (const text of ['{', '[]', 'null', '"x"']) {
      writeFileSync(join(set, MANIFEST), text);
      const err = await verifyBackupSet(set).catch((e) => e);
      expect(err).toBeInstanceOf(VssError);
      expect(err.category).toBe('input');
    }
  });

  it('a manifest that is a link is refused', async () => {
    const { root, set } = await makeSet();
    renameSync(join(set, MANIFEST), join(root, 'm.json'));
    symlinkSync(join(root, 'm.json'), join(set, MANIFEST));
    await expect(verifyBackupSet(set)).rejects.toThrow(/manifest\.json: .*(link|not a regular file)/);
  });

  it('a FIFO as manifest.json fails at once with exit 2 (it used to hang)', async () => {
    const { set } = await makeSet();
    rmSync(join(set, MANIFEST));
    expect(spawnSync('mkfifo', [join(set, MANIFEST)]).status).toBe(0);
    const r = spawnSync(process.execPath, [CLI, 'verify', set], { encoding: 'utf8', timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/manifest\.json: .*not a regular file/);
  }, 30_000);
});
