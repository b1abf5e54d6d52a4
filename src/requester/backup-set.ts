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
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import type { Guid } from '../vss/guid.js';
import { WriterState, type BackupTypeName, type WriterStateName } from '../vss/enums.js';
import { writeBackupComponents } from '../vss/backup-components.js';
import { componentKey, writeWriterMetadata, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import { fsyncDir } from '../platform/state.js';
import { TOOL_VERSION } from '../version.js';

export const MANIFEST = 'manifest.json';
export const MANIFEST_FORMAT = 1;

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
  mode: number;
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
  if (typeof rel !== 'string' || rel === '' || isAbsolute(rel) || rel.includes('\\') || rel.includes('\0') || rel.split('/').some((p) => p === '..' || p === '')) {
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

export function readManifest(setDir: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(join(setDir, MANIFEST), 'utf8')) as Manifest;
  } catch (e) {
    throw hostile(setDir, `${MANIFEST} is missing or not valid JSON (${(e as Error).message})`);
  }
  if (m.format !== MANIFEST_FORMAT || !Array.isArray(m.files) || !Array.isArray(m.writers)) throw hostile(setDir, `${MANIFEST} is not a format-${MANIFEST_FORMAT} manifest`);
  return m;
}

export interface VerifyProblem {
  path: string;
  problem: 'missing' | 'size' | 'checksum' | 'extra' | 'not-a-regular-file' | 'unsafe-path';
  detail?: string;
}

/** Recomputes every file of the set; names each file that differs, is missing or is extra. */
export async function verifyBackupSet(setDir: string, onFile?: (path: string, bytes: number) => void): Promise<{ manifest: Manifest; problems: VerifyProblem[] }> {
  const manifest = readManifest(setDir);
  const problems: VerifyProblem[] = [];
  const expected = new Set<string>([MANIFEST, manifest.backupComponentsDocument]);
  const check = async (rel: string, size: number, sha: string) => {
    expected.add(rel);
    let full: string;
    try {
      full = insideSet(setDir, rel);
    } catch (e) {
      problems.push({ path: rel, problem: 'unsafe-path', detail: (e as Error).message });
      return;
    }
    let st: fs.Stats;
    try {
      st = fs.lstatSync(full);
    } catch {
      problems.push({ path: rel, problem: 'missing' });
      return;
    }
    if (!st.isFile()) return void problems.push({ path: rel, problem: 'not-a-regular-file' });
    if (st.size !== size) return void problems.push({ path: rel, problem: 'size', detail: `${st.size} bytes, manifest says ${size}` });
    if ((await sha256File(full)) !== sha) problems.push({ path: rel, problem: 'checksum' });
    onFile?.(rel, size);
  };
  for (const f of manifest.files) await check(f.path, f.size, f.sha256);
  for (const x of manifest.extras ?? []) await check(x.path, x.size, x.sha256);
  for (const w of manifest.writers) {
    expected.add(w.metadataFile);
    try {
      if (!fs.lstatSync(insideSet(setDir, w.metadataFile)).isFile()) problems.push({ path: w.metadataFile, problem: 'not-a-regular-file' });
    } catch (e) {
      problems.push({ path: w.metadataFile, problem: e instanceof VssError ? 'unsafe-path' : 'missing' });
    }
  }
  for (const rel of listFiles(setDir)) if (!expected.has(rel)) problems.push({ path: rel, problem: 'extra' });
  return { manifest, problems };
}

function listFiles(root: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(root, rel));
    else out.push(rel);
  }
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
  const bcd = 'BCDocument.xml';
  fs.writeFileSync(
    join(staging, bcd),
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
    { mode: 0o600 },
  );
  const writers = participants.map((p) => {
    const file = `writers/${p.metadata.identity.instanceId}.xml`;
    fs.writeFileSync(join(staging, ...file.split('/')), writeWriterMetadata(p.metadata), { mode: 0o600 });
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
