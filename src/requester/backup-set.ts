/**
 * The backup set: a directory with manifest.json, each writer's metadata document, a backup
 * components document in VSS's format, writer-provided files (SQL metadata backups, certificates)
 * and the data files. It is built under a temporary name and published by rename, so a failed or
 * killed backup never leaves something that looks complete. Verification recomputes everything;
 * every path read from a set is checked to stay inside it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { throwIfAborted, VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { isGuid, type Guid } from '../vss/guid.js';
import { errnoCode, openDirectory, openRegularFile, safeFs, walkDirs } from '../platform/safe-fs.js';
import { WriterState, type BackupTypeName, type WriterStateName } from '../vss/enums.js';
import { writeBackupComponents } from '../vss/backup-components.js';
import { componentKey, writeWriterMetadata, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import { fsyncDir } from '../platform/state.js';
import { TOOL_VERSION } from '../version.js';

export const MANIFEST = 'manifest.json';
/** The format a backup writes. */
export const MANIFEST_FORMAT = 2;
/**
 * From this format on the manifest hashes the set's documents too (`documents`: the writers'
 * metadata and the backup components document), and verify requires it; format 1 sets name them
 * without a hash and verify checks only that each is a regular file inside the set.
 */
export const MANIFEST_FORMAT_HASHED_DOCUMENTS = 2;
/** A manifest lists files, not data: anything larger is not one this tool wrote. */
export const MANIFEST_MAX_BYTES = 64 << 20;

export interface ManifestFile {
  writerId: Guid;
  /** Component key (`logicalPath\name`). */
  component: string;
  /** Where the file was on the backed-up machine (absolute). */
  source: string;
  /** Where it is in the set (relative, '/'-separated). */
  path: string;
  size: number;
  sha256: string;
  /** Permission bits (st_mode & 07777); restore drops setuid/setgid/sticky unless it also restores the owner. */
  mode: number;
  /** Owner, when recorded; restored only by a restore running as root. */
  uid?: number;
  gid?: number;
}

/** A file of the set that is not data: a writer's metadata document, the backup components document. */
export interface ManifestDocument {
  path: string;
  size: number;
  sha256: string;
}

export interface ManifestWriter {
  writerId: Guid;
  instanceId: Guid;
  name: string;
  metadataFile: string;
  components: string[];
  state: string;
  lastError: number;
}

export interface Manifest {
  format: number;
  tool: string;
  host: string;
  createdAt: string;
  snapshotSetId: Guid;
  backupType: string;
  volumes: { root: string; provider: string; fsType: string }[];
  writers: ManifestWriter[];
  files: ManifestFile[];
  /** Files writers added (SQL metadata backups, certificates), verified like the data files. */
  extras: { writerId: Guid; path: string; size: number; sha256: string }[];
  backupComponentsDocument: string;
  /** Hashes of `backupComponentsDocument` and every writer's `metadataFile` (format 2 on; required there). */
  documents?: ManifestDocument[];
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fs.promises.open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

function hostile(setDir: string, what: string): VssError {
  return new VssError(HR.VSS_E_INVALID_XML_DOCUMENT, { message: `backup set ${setDir}: ${what}`, category: 'input' });
}

/** A relative '/'-separated path that stays inside the set, resolved; anything else is refused. */
export function insideSet(setDir: string, rel: string): string {
  if (typeof rel !== 'string' || rel === '' || isAbsolute(rel) || rel.includes('\\') || rel.includes('\0') || rel.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw hostile(setDir, `path ${JSON.stringify(rel)} is not a plain relative path inside the set`);
  }
  const full = join(setDir, ...rel.split('/'));
  const r = relative(setDir, full);
  if (r.startsWith('..') || isAbsolute(r)) throw hostile(setDir, `path ${JSON.stringify(rel)} leaves the set`);
  return full;
}

/** `target` joined with an absolute source path, refusing anything that would leave `target`. */
export function insideTarget(target: string, source: string): string {
  if (typeof source !== 'string' || !isAbsolute(source) || source.includes('\0') || normalize(source) !== source || source.split(sep).includes('..')) {
    throw new VssError(HR.E_INVALIDARG, { message: `restore: source path ${JSON.stringify(source)} is not a normalised absolute path`, category: 'input' });
  }
  const dest = join(target, source);
  const r = relative(target, dest);
  if (r === '' || r.startsWith('..') || isAbsolute(r)) {
    throw new VssError(HR.E_INVALIDARG, { message: `restore: ${source} would land outside ${target}`, category: 'input' });
  }
  return dest;
}


const read = promisify(fs.read);

/**
 * Hashes what `fd` holds from where it is, in large chunks, checking for an abort between them.
 * Reads one byte past `expectedSize`, so that a file longer than recorded is noticed.
 */
export async function hashDescriptor(fd: number, expectedSize: number, signal: AbortSignal | undefined, what: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(HASH_CHUNK, expectedSize + 1)));
  let pos = 0;
  for (;;) {
    throwIfAborted(signal, what);
    const { bytesRead } = await read(fd, buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return { size: pos, sha256: h.digest('hex') };
}

const HASH_CHUNK = 4 << 20;

// ---------------------------------------------------------------------------------------------
// The manifest, validated field by field: a set is input, and a wrong type must come back as an
// error naming the field, never as a restore that does something else (a mode of "rwx" & 07777 is
// 0000) or as an internal error.

class ManifestShape {
  constructor(
    private readonly setDir: string,
    private readonly format: number,
  ) {}

  fail(field: string, expected: string, got?: unknown): VssError {
    return hostile(this.setDir, `${MANIFEST}: ${field}: expected ${expected}${got === undefined ? '' : ` (got ${shown(got)})`}`);
  }

  object(v: unknown, field: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.fail(field, 'an object', v);
    return v as Record<string, unknown>;
  }

  array(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) throw this.fail(field, 'an array', v);
    return v;
  }

  string(o: Record<string, unknown>, key: string, field: string): string {
    const v = o[key];
    if (typeof v !== 'string') throw this.fail(`${field}.${key}`.replace(/^\./, ''), 'a string', v);
    return v;
  }

  guid(o: Record<string, unknown>, key: string, field: string): Guid {
    const v = this.string(o, key, field);
    if (!isGuid(v)) throw this.fail(`${field}.${key}`.replace(/^\./, ''), 'a GUID', v);
    return v;
  }

  integer(o: Record<string, unknown>, key: string, field: string, max = Number.MAX_SAFE_INTEGER, what = 'a non-negative integer'): number {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw this.fail(`${field}.${key}`.replace(/^\./, ''), what, v);
    return v;
  }

  sha256(o: Record<string, unknown>, key: string, field: string): string {
    const v = o[key];
    if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw this.fail(`${field}.${key}`, '64 lowercase hex digits (SHA-256)', v);
    return v;
  }

  hashed(v: unknown, field: string): { path: string; size: number; sha256: string } {
    const o = this.object(v, field);
    return { path: this.string(o, 'path', field), size: this.integer(o, 'size', field), sha256: this.sha256(o, 'sha256', field) };
  }

  manifest(v: unknown): Manifest {
    const m = this.object(v, '(top level)');
    const list = <T>(key: string, each: (x: unknown, field: string) => T, optional = false): T[] => {
      if (optional && m[key] === undefined) return [];
      return this.array(m[key], key).map((x, i) => each(x, `${key}[${i}]`));
    };
    const volumes = list('volumes', (x, f) => {
      const o = this.object(x, f);
      return { root: this.string(o, 'root', f), provider: this.string(o, 'provider', f), fsType: this.string(o, 'fsType', f) };
    });
    const writers = list('writers', (x, f) => {
      const o = this.object(x, f);
      const components = this.array(o['components'], `${f}.components`).map((c, i) => {
        if (typeof c !== 'string') throw this.fail(`${f}.components[${i}]`, 'a string', c);
        return c;
      });
      const lastError = o['lastError'];
      if (typeof lastError !== 'number' || !Number.isSafeInteger(lastError)) throw this.fail(`${f}.lastError`, 'an integer', lastError);
      return { writerId: this.guid(o, 'writerId', f), instanceId: this.guid(o, 'instanceId', f), name: this.string(o, 'name', f), metadataFile: this.string(o, 'metadataFile', f), components, state: this.string(o, 'state', f), lastError };
    });
    const files = list('files', (x, f): ManifestFile => {
      const o = this.object(x, f);
      const file: ManifestFile = {
        writerId: this.guid(o, 'writerId', f),
        component: this.string(o, 'component', f),
        source: this.string(o, 'source', f),
        path: this.string(o, 'path', f),
        size: this.integer(o, 'size', f),
        sha256: this.sha256(o, 'sha256', f),
        mode: this.integer(o, 'mode', f, 0o7777, 'an integer from 0 to 4095 (permission bits, 07777)'),
      };
      for (const k of ['uid', 'gid'] as const) if (o[k] !== undefined) file[k] = this.integer(o, k, f, 0xfffffffe);
      return file;
    });
    const extras = list('extras', (x, f) => ({ writerId: this.guid(this.object(x, f), 'writerId', f), ...this.hashed(x, f) }), true);
    const hashesDocuments = this.format >= MANIFEST_FORMAT_HASHED_DOCUMENTS;
    const documents = list('documents', (x, f) => this.hashed(x, f), !hashesDocuments);
    const manifest: Manifest = {
      format: this.format,
      tool: this.string(m, 'tool', ''),
      host: this.string(m, 'host', ''),
      createdAt: this.string(m, 'createdAt', ''),
      snapshotSetId: this.guid(m, 'snapshotSetId', ''),
      backupType: this.string(m, 'backupType', ''),
      volumes,
      writers,
      files,
      extras,
      backupComponentsDocument: this.string(m, 'backupComponentsDocument', ''),
      ...(m['documents'] !== undefined || hashesDocuments ? { documents } : {}),
    };

    // One entry per source (two would restore over each other) and per file of the set.
    const sources = new Map<string, number>();
    files.forEach((f, i) => {
      const before = sources.get(f.source);
      if (before !== undefined) throw hostile(this.setDir, `${MANIFEST}: files[${i}].source: ${JSON.stringify(f.source)} is also files[${before}].source`);
      sources.set(f.source, i);
    });
    const inSet = new Map<string, string>([[MANIFEST, 'the manifest']]);
    const claim = (path: string, field: string) => {
      const before = inSet.get(path);
      if (before !== undefined) throw hostile(this.setDir, `${MANIFEST}: ${field}: ${JSON.stringify(path)} is also ${before}`);
      inSet.set(path, field);
    };
    files.forEach((f, i) => claim(f.path, `files[${i}].path`));
    extras.forEach((x, i) => claim(x.path, `extras[${i}].path`));
    documents.forEach((d, i) => claim(d.path, `documents[${i}].path`));
    const named = [{ path: manifest.backupComponentsDocument, field: 'backupComponentsDocument' }, ...writers.map((w, i) => ({ path: w.metadataFile, field: `writers[${i}].metadataFile` }))];
    for (const { path, field } of named) {
      const by = inSet.get(path);
      if (by !== undefined && !by.startsWith('documents[')) throw hostile(this.setDir, `${MANIFEST}: ${field}: ${JSON.stringify(path)} is also ${by}`);
      if (hashesDocuments && by === undefined) {
        throw hostile(this.setDir, `${MANIFEST}: documents: ${JSON.stringify(path)} (${field}) has no entry; a format-${this.format} manifest hashes every document`);
      }
    }
    return manifest;
  }
}

function shown(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** The manifest of the set open at `rootFd`: a regular file reached through no link, of bounded size, validated. */
function readManifestAt(rootFd: number, setDir: string): Manifest {
  const opened = openRegularFile(rootFd, [MANIFEST]);
  if ('missing' in opened) throw hostile(setDir, `${MANIFEST} is missing`);
  if ('notRegular' in opened) throw hostile(setDir, `${MANIFEST}: not a regular file (${opened.notRegular})`);
  let text: string;
  try {
    if (opened.size > MANIFEST_MAX_BYTES) throw hostile(setDir, `${MANIFEST}: ${opened.size} bytes, more than a manifest may hold (${MANIFEST_MAX_BYTES})`);
    const buf = Buffer.allocUnsafe(opened.size + 1);
    let n = 0;
    for (let r; n < buf.length && (r = fs.readSync(opened.fd, buf, n, buf.length - n, n)) > 0; ) n += r;
    if (n > opened.size) throw hostile(setDir, `${MANIFEST}: grew while it was read`);
    text = buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(opened.fd);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw hostile(setDir, `${MANIFEST}: not valid JSON (${(e as Error).message})`);
  }
  const format = (parsed as { format?: unknown } | null)?.format;
  if (format !== 1 && format !== 2) {
    throw new ManifestShape(setDir, 0).fail('format', `1 or 2 (the manifest formats this mbam-vss reads)`, typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? format : parsed);
  }
  return new ManifestShape(setDir, format).manifest(parsed);
}

function openSet(setDir: string): number {
  try {
    return openDirectory(setDir);
  } catch (e) {
    throw hostile(setDir, `cannot open it as a directory (${errnoCode(e) ?? (e as Error).message})`);
  }
}

export function readManifest(setDir: string): Manifest {
  const fd = openSet(setDir);
  try {
    return readManifestAt(fd, setDir);
  } finally {
    fs.closeSync(fd);
  }
}

export interface VerifyProblem {
  path: string;
  problem: 'missing' | 'size' | 'checksum' | 'extra' | 'not-a-regular-file' | 'unsafe-path';
  detail?: string;
}

export interface VerifyOptions {
  /** Each file as it verifies, with its size. */
  onFile?: (path: string, bytes: number) => void;
  /** Stops verification between chunks; it then rejects with a VssError of category 'aborted'. */
  signal?: AbortSignal;
}

/**
 * Opens a file of the set (a plain relative path) below the set's descriptor, component by
 * component and through no link, for reading. A problem instead when it is not such a file.
 */
export function openInSet(rootFd: number, setDir: string, rel: string): { fd: number; size: number } | VerifyProblem {
  try {
    insideSet(setDir, rel);
  } catch (e) {
    return { path: rel, problem: 'unsafe-path', detail: (e as Error).message };
  }
  const r = openRegularFile(rootFd, rel.split('/'));
  if ('missing' in r) return { path: rel, problem: 'missing' };
  if ('notRegular' in r) return { path: rel, problem: 'not-a-regular-file', detail: r.notRegular };
  return r;
}

/**
 * Recomputes every file of the set (data, writer files and, where the format records them, the
 * documents); names each file that differs, is missing or is extra, and each source that restore
 * would refuse. Every file is read through a descriptor reached from the set's directory without
 * following a link, so what is hashed is what is in the set.
 */
export async function verifyBackupSet(setDir: string, options: VerifyOptions | VerifyOptions['onFile'] = {}): Promise<{ manifest: Manifest; problems: VerifyProblem[] }> {
  const o: VerifyOptions = typeof options === 'function' ? { onFile: options } : options;
  const what = `verify of ${setDir}`;
  throwIfAborted(o.signal, what);
  const rootFd = openSet(setDir);
  try {
    const manifest = readManifestAt(rootFd, setDir);
    const problems: VerifyProblem[] = [];
    for (const f of manifest.files) {
      try {
        insideTarget('/', f.source);
      } catch (e) {
        problems.push({ path: f.path, problem: 'unsafe-path', detail: (e as Error).message });
      }
    }
    const expected = new Set<string>([MANIFEST]);
    const check = async (rel: string, hash?: { size: number; sha256: string }) => {
      expected.add(rel);
      const opened = openInSet(rootFd, setDir, rel);
      if ('problem' in opened) return void problems.push(opened);
      try {
        if (!hash) return;
        if (opened.size !== hash.size) return void problems.push({ path: rel, problem: 'size', detail: `${opened.size} bytes, manifest says ${hash.size}` });
        const got = await hashDescriptor(opened.fd, hash.size, o.signal, what);
        if (got.size !== hash.size) return void problems.push({ path: rel, problem: 'size', detail: `${got.size} bytes, manifest says ${hash.size}` });
        if (got.sha256 !== hash.sha256) return void problems.push({ path: rel, problem: 'checksum' });
        o.onFile?.(rel, hash.size);
      } finally {
        fs.closeSync(opened.fd);
      }
    };
    for (const f of manifest.files) await check(f.path, f);
    for (const x of manifest.extras) await check(x.path, x);
    for (const d of manifest.documents ?? []) await check(d.path, d);
    // Format 1 names its documents without hashes: each is still a regular file inside the set.
    for (const rel of [manifest.backupComponentsDocument, ...manifest.writers.map((w) => w.metadataFile)]) if (!expected.has(rel)) await check(rel);
    throwIfAborted(o.signal, what);
    for (const rel of listFiles(rootFd)) if (!expected.has(rel)) problems.push({ path: rel, problem: 'extra' });
    return { manifest, problems };
  } finally {
    fs.closeSync(rootFd);
  }
}

/** Every entry of the set that is not a directory, '/'-separated, through no link. */
function listFiles(rootFd: number): string[] {
  const out: string[] = [];
  const walk = (fd: number, prefix: string) => {
    for (const [name, kind] of safeFs().readDirAt(fd).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const rel = prefix ? `${prefix}/${name}` : name;
      if (kind !== 'dir') {
        out.push(rel);
        continue;
      }
      let sub: number;
      try {
        sub = walkDirs(fd, [name]);
      } catch {
        out.push(rel); // swapped for something else meanwhile: name it
        continue;
      }
      try {
        walk(sub, rel);
      } finally {
        fs.closeSync(sub);
      }
    }
  };
  walk(rootFd, '');
  return out;
}

export interface SetDocumentsInput {
  snapshotSetId: Guid;
  backupType: BackupTypeName;
  volumes: { root: string; provider: string; fsType: string }[];
  writers: { metadata: WriterMetadata; components: WriterComponent[]; state: WriterStateName; lastError: number; writerDir?: string | undefined }[];
  files: ManifestFile[];
}

/**
 * Writes the set's documents into `staging` (the data files are already there): each writer's
 * metadata, the backup components document, and last the manifest, synced, so that a manifest on
 * disk always describes files that are on disk.
 */
/**
 * Writes one of the set's documents (synced: the manifest that names it is written after it) and
 * records its hash, so that verify and restore can tell a tampered document from the one written.
 */
function writeDocument(staging: string, rel: string, content: string, documents: ManifestDocument[]): void {
  const data = Buffer.from(content, 'utf8');
  const fd = fs.openSync(join(staging, ...rel.split('/')), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  documents.push({ path: rel, size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
}

export async function writeSetDocuments(staging: string, input: SetDocumentsInput): Promise<Manifest> {
  const { writers: participants, snapshotSetId, backupType } = input;
  fs.mkdirSync(join(staging, 'writers'), { mode: 0o700 });
  const extras: Manifest['extras'] = [];
  for (const p of participants) {
    const dir = p.writerDir;
    if (!dir || !fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (!fs.lstatSync(full).isFile()) continue;
      extras.push({ writerId: p.metadata.identity.writerId, path: `writer-files/${p.metadata.identity.instanceId}/${name}`, size: fs.statSync(full).size, sha256: await sha256File(full) });
    }
  }
  const documents: ManifestDocument[] = [];
  const bcd = 'BCDocument.xml';
  writeDocument(
    staging,
    bcd,
    writeBackupComponents({
      version: '1.2',
      backupType,
      snapshotSetId,
      selectComponents: true,
      bootableSystemStateBackup: false,
      partialFileSupport: false,
      writers: participants.map((p) => ({
        instanceId: p.metadata.identity.instanceId,
        writerId: p.metadata.identity.writerId,
        ...(p.metadata.identity.instanceName ? { instanceName: p.metadata.identity.instanceName } : {}),
        backupSchema: p.metadata.backupSchema ?? 0,
        components: p.components.map((c) => ({ ...(c.logicalPath ? { logicalPath: c.logicalPath } : {}), componentName: c.componentName, componentType: c.type })),
      })),
    }),
    documents,
  );
  const writers = participants.map((p) => {
    const file = `writers/${p.metadata.identity.instanceId}.xml`;
    writeDocument(staging, file, writeWriterMetadata(p.metadata), documents);
    return { writerId: p.metadata.identity.writerId, instanceId: p.metadata.identity.instanceId, name: p.metadata.identity.friendlyName, metadataFile: file, components: p.components.map(componentKey), state: WriterState.display(p.state), lastError: p.lastError };
  });
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    tool: `mbam-vss ${TOOL_VERSION}`,
    host: hostname(),
    createdAt: new Date().toISOString(),
    snapshotSetId,
    backupType,
    volumes: input.volumes,
    writers,
    files: input.files,
    extras,
    documents,
    backupComponentsDocument: bcd,
  };
  const m = join(staging, MANIFEST);
  fs.writeFileSync(m, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  const fd = fs.openSync(m, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fsyncDir(staging);
  return manifest;
}
